"""The mail capability: the mailer other capabilities queue with, and the outbox subscriber that sends."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute

from tenantry.core import App, Capability
from tenantry.events import Subscriber
from tenantry.mail.backends import backend_from_settings
from tenantry.mail.routes import mail_routes
from tenantry.mail.service import OutboxMailer
from tenantry.mail.settings import MailSettings, branded
from tenantry.mail.subscriber import mail_subscriber


class Mail(Capability):
    """Mail of one app: ``mailer`` publishes a message in the caller's transaction; the ``mail``
    subscriber of the outbox sends it through the configured backend once that commits.

    In development it also serves the dev outbox (``/dev/mail``), which shows sign-in links and so
    is never served elsewhere.
    """

    name = "mail"
    settings_model = MailSettings

    mailer: OutboxMailer

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self._routes: list[BaseRoute] = []

    def install(self, app: App) -> None:
        self.settings = branded(self.settings, app.schema.app_name, app.schema.app.color)
        self.mailer = OutboxMailer(app.outbox, self.settings)
        if app.settings.is_development:
            self._routes = mail_routes(app.db, app.tables, self.settings)

    def routes(self) -> Sequence[BaseRoute]:
        return self._routes

    def subscribers(self) -> Sequence[Subscriber]:
        return [mail_subscriber(self.settings, backend_from_settings(self.settings))]
