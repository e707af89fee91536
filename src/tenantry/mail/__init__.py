"""Email that is never lost and never sent twice.

A message is rendered from a template (``compose``/``render``) and published to the app's outbox
inside the transaction of the action that caused it (``enqueue``; a ``$mail.requested`` event with
the action's dedupe key, so one action mails once). After the commit the ``mail`` subscriber
(``mail_subscriber``) sends it through one backend (dev outbox, JSON-lines file, SMTP, Postmark),
with retries and backoff when the provider fails. ``mail_routes`` serves the dev outbox pages.
The mail capability knows nothing of who asks it to send (authentication, invitations …).
"""

from tenantry.events import RetryPolicy
from tenantry.mail.backends import DevOutboxBackend, JsonLinesBackend, MailBackend, backend_from_settings
from tenantry.mail.capability import Mail
from tenantry.mail.errors import MailError, MailTemplateError, PermanentMailError, TransientMailError
from tenantry.mail.message import MailMessage, OutgoingMail
from tenantry.mail.outbox import (
    FAILED,
    MAIL_SUBSCRIBER,
    MAIL_TOPIC,
    PENDING,
    SENDING,
    SENT,
    OutboxRecord,
)
from tenantry.mail.postmark import PostmarkBackend
from tenantry.mail.routes import mail_routes
from tenantry.mail.service import OutboxMailer, compose, enqueue, get_outbox_message, list_outbox
from tenantry.mail.settings import MailSettings
from tenantry.mail.smtp import SmtpBackend
from tenantry.mail.subscriber import mail_subscriber
from tenantry.mail.templates import TEMPLATES, Rendered, render

__all__ = [
    "FAILED",
    "MAIL_SUBSCRIBER",
    "MAIL_TOPIC",
    "PENDING",
    "SENDING",
    "SENT",
    "TEMPLATES",
    "DevOutboxBackend",
    "JsonLinesBackend",
    "Mail",
    "MailBackend",
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
    "mail_subscriber",
    "render",
]
