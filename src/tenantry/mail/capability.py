"""The mail capability: the outbox table, its dispatcher, the mailer other capabilities queue with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from tenantry.core import App, Capabilities, Capability, Worker
from tenantry.mail.backends import backend_from_settings
from tenantry.mail.dispatcher import MailDispatcher
from tenantry.mail.routes import mail_routes
from tenantry.mail.service import OutboxMailer
from tenantry.mail.settings import MailSettings
from tenantry.mail.tables import mail_tables

if TYPE_CHECKING:
    from tenantry.db.tables import TableSet
    from tenantry.schema import Schema


class Mail(Capability):
    """Mail of one app: ``mailer`` queues a message in the caller's transaction, the dispatcher sends it.

    In development it also serves the dev outbox (``/dev/mail``), which shows sign-in links and so
    is never served elsewhere.
    """

    name = "mail"
    settings_model = MailSettings

    dispatcher: MailDispatcher
    mailer: OutboxMailer

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self._routes: list[BaseRoute] = []

    def contribute(self, ts: TableSet, schema: Schema, capabilities: Capabilities) -> None:
        mail_tables(ts, schema)

    def install(self, app: App) -> None:
        self.dispatcher = MailDispatcher(app.db, app.tables, self.settings, backend_from_settings(self.settings))
        self.mailer = OutboxMailer(app.tables, self.settings, self.dispatcher)
        if app.settings.is_development:
            self._routes = mail_routes(app.db, app.tables, self.settings)

    def routes(self) -> Sequence[BaseRoute]:
        return self._routes

    def workers(self) -> Sequence[Worker]:
        return [self.dispatcher]
