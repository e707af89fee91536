"""Fixtures for the mail tests: a database with the outbox, a fake clock, recording backends,
a Postmark emulator on a real socket and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tenantry.db import Database, TableSet, build_metadata, create_database
from tenantry.db.codecs import utc_now
from tenantry.emulators.postmark import PostmarkEmulator
from tenantry.emulators.server import run_in_thread
from tenantry.events import DeliveryWorker, Outbox, OutboxStore, events_tables
from tenantry.mail import (
    DevOutboxBackend,
    MailBackend,
    MailMessage,
    MailSettings,
    OutgoingMail,
    TransientMailError,
    enqueue,
    mail_subscriber,
)
from tenantry.schema import load_schema_text
from tests.conftest import PrepareDatabase

SCHEMA = """
projects:
  - name: string (required)
  - created_at: timestamp (auto)
"""
POSTMARK_TOKEN = "server-token-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MailEnv:
    url: str
    db: Database
    tables: TableSet
    settings: MailSettings
    outbox: Outbox  # with the mail subscriber registered, so enqueued messages get their delivery

    async def open_another(self) -> Database:
        """A second pool on the same database: what a second app process would have."""
        other = create_database(self.url)
        await other.open()
        return other

    def dispatcher(
        self,
        backend: MailBackend,
        *,
        db: Database | None = None,
        settings: MailSettings | None = None,
        clock: Any = utc_now,
        poll_interval: float = 1.0,
        **options: Any,
    ) -> DeliveryWorker:
        """The mail subscriber's worker sending through ``backend``, on ``db`` (another process's pool) or ours.

        ``options`` are ``mail_subscriber``'s (``retry``, ``send_timeout``, ``lease``, ``batch_size``).
        """
        store = self.outbox.store if db is None else OutboxStore(db, self.outbox.sql)
        subscriber = mail_subscriber(settings or self.settings, backend, **options)
        return DeliveryWorker(store, subscriber, clock=clock, poll_interval=poll_interval)


@pytest.fixture
async def mail_env(prepare_database: PrepareDatabase) -> AsyncIterator[MailEnv]:
    tables = build_metadata(load_schema_text(SCHEMA, "mail.yaml"), prepare_database.dialect, [events_tables])
    database_url = await asyncio.to_thread(prepare_database, tables)
    db = create_database(database_url)
    await db.open()
    settings = MailSettings(_env_file=None)
    outbox = Outbox(db, tables)
    outbox.register(mail_subscriber(settings, DevOutboxBackend()))
    try:
        yield MailEnv(database_url, db, tables, settings, outbox)
    finally:
        await db.close()


def message(key: str = "verify-email:u1:t1", to: str = "ada@example.com", **extra: Any) -> MailMessage:
    values: dict[str, Any] = {
        "dedupe_key": key,
        "to": to,
        "sender": "Acme <no-reply@acme.test>",
        "subject": f"Hello {key}",
        "text": "Open https://app.example.com/verify?token=abc",
        "html": "<p>Open <a href='https://app.example.com/verify?token=abc'>this link</a></p>",
        "url": "https://app.example.com/verify?token=abc",
        "template": "verify_email",
    }
    values.update(extra)
    return MailMessage(**values)


async def enqueue_committed(env: MailEnv, *messages: MailMessage) -> list[bool]:
    async with env.db.transaction() as conn:
        return [await enqueue(conn, env.outbox, m) for m in messages]


@dataclass
class RecordingBackend:
    """Accepts every message (after ``delay`` seconds), or raises the queued ``failures`` first."""

    name: str = "recording"
    sent: list[OutgoingMail] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)
    delay: float = 0.0
    closed: int = 0

    async def send(self, message: OutgoingMail) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return f"{self.name}-{message.id}"

    async def close(self) -> None:
        self.closed += 1


@dataclass
class BlockingBackend:
    """Holds every send until ``release`` is set: a worker caught mid-send."""

    name: str = "blocking"
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    sent: list[OutgoingMail] = field(default_factory=list)

    async def send(self, message: OutgoingMail) -> str:
        self.entered.set()
        await self.release.wait()
        self.sent.append(message)
        return f"{self.name}-{message.id}"

    async def close(self) -> None:
        return None


def always_failing() -> list[Exception]:
    return [TransientMailError("provider down") for _ in range(100)]


# -- Postmark emulator on a real socket ----------------------------------------------------------


@dataclass
class RunningPostmark:
    emulator: PostmarkEmulator
    url: str


@pytest.fixture(scope="session")
def _postmark_server() -> Iterator[RunningPostmark]:
    emulator = PostmarkEmulator(POSTMARK_TOKEN)
    with run_in_thread(emulator.app) as server:
        yield RunningPostmark(emulator, server.base_url)


@pytest.fixture
def postmark(_postmark_server: RunningPostmark) -> RunningPostmark:
    _postmark_server.emulator.reset()
    _postmark_server.emulator.inactive_recipients.clear()
    return _postmark_server


# -- SMTP server --------------------------------------------------------------------------------------


@dataclass
class SmtpRecorder:
    """An aiosmtpd handler that keeps what it receives and refuses chosen recipients."""

    envelopes: list[Envelope] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 2.0.0 Message accepted"


@dataclass
class RunningSmtp:
    recorder: SmtpRecorder
    host: str
    port: int


@pytest.fixture
def smtp_server() -> Iterator[RunningSmtp]:
    recorder = SmtpRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield RunningSmtp(recorder, "127.0.0.1", controller.port)
    finally:
        controller.stop()
