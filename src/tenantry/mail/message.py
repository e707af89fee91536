"""The two shapes of a message: what a caller enqueues, and what a backend is asked to send."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tenantry.mail.settings import check_address

MAX_DEDUPE_KEY = 255


@dataclass(frozen=True, slots=True)
class MailMessage:
    """A message to enqueue.

    ``dedupe_key`` names the action that caused it (``verify-email:<user id>:<token id>``): enqueueing
    the same key again is a no-op, so one action never yields two messages.
    """

    dedupe_key: str
    to: str
    sender: str
    subject: str
    text: str
    html: str
    url: str | None = None
    template: str | None = None

    def __post_init__(self) -> None:
        if not self.dedupe_key or len(self.dedupe_key) > MAX_DEDUPE_KEY:
            raise ValueError(f"dedupe_key must be 1-{MAX_DEDUPE_KEY} characters")
        check_address(self.to, "to")
        check_address(self.sender, "sender")
        if "\r" in self.subject or "\n" in self.subject:
            raise ValueError("subject must not contain line breaks")
        if not self.text and not self.html:
            raise ValueError("a message needs a text or an HTML body")
        if self.url is not None and not self.url.startswith(("https://", "http://")):
            # The URL becomes a link in the dev outbox page: no javascript: or data: URLs.
            raise ValueError(f"url must be an http(s) URL, not {self.url!r}")


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """A claimed outbox row, handed to a backend. ``id`` is stable across retries."""

    id: str
    to: str
    sender: str
    subject: str
    text: str
    html: str
    url: str | None
    template: str | None
    attempt: int
    created_at: dt.datetime
