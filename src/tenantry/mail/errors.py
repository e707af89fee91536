"""Mail errors: what a backend raises decides whether the dispatcher retries."""

from __future__ import annotations


class MailError(Exception):
    """Any failure to render or deliver a message."""


class TransientMailError(MailError):
    """The provider may accept the message later (timeouts, 5xx, rate limits): retry with backoff."""


class PermanentMailError(MailError):
    """The provider will never accept this message as it is (invalid or inactive recipient, bad token)."""


class MailTemplateError(MailError):
    """A template is unknown or its context is missing something it needs."""
