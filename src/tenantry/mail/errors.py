"""Mail errors: what a backend raises decides whether the outbox retries.

They are the outbox's delivery errors (``tenantry.events``): a ``TransientMailError`` is retried
with backoff, a ``PermanentMailError`` marks the message failed at once, and both are logged
without a traceback (they are expected).
"""

from __future__ import annotations

from tenantry.events import DeliveryError, PermanentDeliveryError


class MailError(DeliveryError):
    """Any failure to render or deliver a message."""


class TransientMailError(MailError):
    """The provider may accept the message later (timeouts, 5xx, rate limits): retry with backoff."""


class PermanentMailError(MailError, PermanentDeliveryError):
    """The provider will never accept this message as it is (invalid or inactive recipient, bad token)."""


class MailTemplateError(MailError):
    """A template is unknown or its context is missing something it needs."""
