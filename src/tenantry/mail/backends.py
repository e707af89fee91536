"""How a message leaves: the backend protocol, the two local backends and the factory.

A backend's ``send`` returns the provider's id for the message, or raises ``TransientMailError``
(try again later) or ``PermanentMailError`` (never going to work). Anything else it raises is
treated as transient by the outbox (retried, and logged with its traceback).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import orjson

from tenantry.db.codecs import format_timestamp, utc_now
from tenantry.mail.errors import TransientMailError
from tenantry.mail.message import OutgoingMail
from tenantry.mail.settings import MailSettings

try:  # POSIX only; elsewhere O_APPEND alone keeps a single process's lines whole
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


@runtime_checkable
class MailBackend(Protocol):
    """Something that delivers one message at a time."""

    name: str

    async def send(self, message: OutgoingMail) -> str:
        """Deliver ``message``; returns the provider's message id."""
        ...

    async def close(self) -> None:
        """Release connections; safe to call more than once."""
        ...


class DevOutboxBackend:
    """Development: nothing leaves the machine; the stored outbox row is the mail (see ``/dev/mail``)."""

    name = "dev"

    async def send(self, message: OutgoingMail) -> str:
        return f"dev-{message.id}"

    async def close(self) -> None:
        return None


class JsonLinesBackend:
    """Appends each message as one JSON object per line to a file (for tools, tests and CI logs).

    Lines carry ``to, from, subject, text, html, url, template, id, sent_at``. Each line is written
    with one ``write`` on an ``O_APPEND`` descriptor under an exclusive ``flock`` and then fsynced,
    so concurrent writers (threads or processes) never interleave and an accepted line survives a
    crash. A message retried after a crash may appear twice; readers dedupe by ``id``.
    """

    name = "file"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _append(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # 0o600: the lines hold sign-in and reset links, which are as good as passwords.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)  # also releases the lock

    async def send(self, message: OutgoingMail) -> str:
        record = {
            "to": message.to,
            "from": message.sender,
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
            "url": message.url,
            "template": message.template,
            "id": message.id,
            "sent_at": format_timestamp(utc_now()),
        }
        try:
            await asyncio.to_thread(self._append, orjson.dumps(record) + b"\n")
        except OSError as exc:
            raise TransientMailError(f"cannot append to {self.path}: {exc}") from exc
        return message.id

    async def close(self) -> None:
        return None


def backend_from_settings(settings: MailSettings) -> MailBackend:
    """The backend named by ``TENANTRY_MAIL_BACKEND``, configured from the same settings."""
    if settings.backend == "file":
        return JsonLinesBackend(settings.file_path)
    if settings.backend == "smtp":
        from tenantry.mail.smtp import SmtpBackend

        return SmtpBackend.from_settings(settings)
    if settings.backend == "postmark":
        from tenantry.mail.postmark import PostmarkBackend

        return PostmarkBackend.from_settings(settings)
    return DevOutboxBackend()
