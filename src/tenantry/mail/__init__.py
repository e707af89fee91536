"""Email that is never lost and never sent twice.

A message is rendered from a template (``compose``/``render``), written to the ``mail_outbox``
table inside the transaction of the action that caused it (``enqueue``), and delivered after the
commit by a ``MailDispatcher`` through one backend (dev outbox, JSON-lines file, SMTP, Postmark),
with retries and backoff when the provider fails. ``mail_routes`` serves the dev outbox pages.
"""

from tenantry.mail.backends import DevOutboxBackend, JsonLinesBackend, MailBackend, backend_from_settings
from tenantry.mail.capability import Mail
from tenantry.mail.dispatcher import DeliveryReport, MailDispatcher
from tenantry.mail.errors import MailError, MailTemplateError, PermanentMailError, TransientMailError
from tenantry.mail.message import MailMessage, OutgoingMail
from tenantry.mail.outbox import OutboxRecord
from tenantry.mail.postmark import PostmarkBackend
from tenantry.mail.retry import RetryPolicy
from tenantry.mail.routes import mail_routes
from tenantry.mail.service import OutboxMailer, compose, enqueue, get_outbox_message, list_outbox
from tenantry.mail.settings import MailSettings
from tenantry.mail.smtp import SmtpBackend
from tenantry.mail.tables import FAILED, OUTBOX_TABLE, PENDING, SENDING, SENT, mail_tables
from tenantry.mail.templates import TEMPLATES, Rendered, render

__all__ = [
    "FAILED",
    "OUTBOX_TABLE",
    "PENDING",
    "SENDING",
    "SENT",
    "TEMPLATES",
    "DeliveryReport",
    "DevOutboxBackend",
    "JsonLinesBackend",
    "Mail",
    "MailBackend",
    "MailDispatcher",
    "MailError",
    "MailMessage",
    "MailSettings",
    "MailTemplateError",
    "OutboxMailer",
    "OutboxRecord",
    "OutgoingMail",
    "PermanentMailError",
    "PostmarkBackend",
    "Rendered",
    "RetryPolicy",
    "SmtpBackend",
    "TransientMailError",
    "backend_from_settings",
    "compose",
    "enqueue",
    "get_outbox_message",
    "list_outbox",
    "mail_routes",
    "mail_tables",
    "render",
]
