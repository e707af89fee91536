"""Outbound webhooks on the Standard Webhooks specification.

An organization's admins register endpoints (``/api/webhooks/endpoints``); every change of the
organization's data whose type an endpoint wants (the catalogue: ``<entity>.created|updated|deleted``
for each tenant entity, ``members.*``, ``invitations.*``) is posted to it, signed with its secret
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature``), at least once and in order.

Two outbox subscribers carry it, so nothing is lost between a change and its delivery:

- ``webhooks.fanout`` (every catalogue event, in order per organization): one message per
  endpoint that wants the event, queued as a ``$webhooks.message`` event (``fanout``);
- ``webhooks.delivery`` (those, in order per endpoint, several endpoints at once): one HTTP attempt
  per call, retried on Standard Webhooks' schedule, kept with its outcome (``dispatch``).

Addresses are checked against SSRF at registration and before each connection (``addresses``);
messages and attempts are kept 30 days (``retention``). In development ``/dev/webhooks`` is a
receiver to try endpoints against (``devinbox``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from starlette.routing import BaseRoute

from tenantry.audit import Audit
from tenantry.core import App, Capabilities, Capability, Worker
from tenantry.core.openapi import OpenApiPart
from tenantry.events import Subscriber
from tenantry.mail import Mail
from tenantry.tenancy import Tenancy
from tenantry.webhooks.catalogue import Catalogue, EventType
from tenantry.webhooks.devinbox import DevInbox
from tenantry.webhooks.dispatch import Dispatcher
from tenantry.webhooks.fanout import MESSAGE_TOPIC, FanOut
from tenantry.webhooks.notices import DisabledNotice
from tenantry.webhooks.openapi import webhooks_openapi
from tenantry.webhooks.resend import Resender
from tenantry.webhooks.retention import Pruner
from tenantry.webhooks.routes import WebhookRoutes
from tenantry.webhooks.schedule import SCHEDULE
from tenantry.webhooks.sender import Sender
from tenantry.webhooks.service import EndpointService
from tenantry.webhooks.settings import WebhookSettings
from tenantry.webhooks.signing import new_secret, signed_headers
from tenantry.webhooks.store import WebhookStore
from tenantry.webhooks.tables import WebhookTables, webhook_tables

if TYPE_CHECKING:
    from tenantry.db.tables import TableSet
    from tenantry.schema import Schema

__all__ = [
    "DELIVERY_SUBSCRIBER",
    "FANOUT_SUBSCRIBER",
    "Catalogue",
    "EventType",
    "WebhookSettings",
    "Webhooks",
    "new_secret",
    "signed_headers",
]

FANOUT_SUBSCRIBER: Final = "webhooks.fanout"
DELIVERY_SUBSCRIBER: Final = "webhooks.delivery"


class Webhooks(Capability):
    """Outbound webhooks of one app: endpoints and their API, the catalogue, fan-out and delivery."""

    name = "webhooks"
    after = ("tenancy", "audit", "mail")
    requires = ("tenancy",)
    settings_model = WebhookSettings

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings

    def enabled(self, schema: Schema) -> bool:
        return schema.system_entity("organizations") is not None

    def contribute(self, ts: TableSet, schema: Schema, capabilities: Capabilities) -> None:
        webhook_tables(ts, schema)

    def install(self, app: App) -> None:
        tables: WebhookTables = app.tables.extensions["webhooks"]
        self.app = app
        self.catalogue = Catalogue(app.schema)
        self.store = WebhookStore(app.db, tables, app.pipeline.sql)
        self.service = EndpointService(app, self.store, self.catalogue, self.settings, app.find(Audit))
        self.sender = Sender(
            timeout=self.settings.timeout,
            allow_private=self.settings.allow_private,
            https_only=self.service.https_only,
        )
        notice = DisabledNotice(app, app.find(Mail), app.get(Tenancy), self.settings.disable_after_days)
        self.fanout = FanOut(app, self.store, self.catalogue)
        self.dispatcher = Dispatcher(
            app,
            self.store,
            self.sender,
            disable_after=dt.timedelta(days=self.settings.disable_after_days),
            notice=notice,
        )
        self.pruner = Pruner(app.db, self.store, app.clock, self.settings.retention_days)
        self.resender = Resender(self.service)
        self._routes = WebhookRoutes(self.service, self.resender)
        # A receiver to try endpoints against, in development only (it shows every payload).
        self.dev_inbox = DevInbox(self.store) if app.settings.is_development else None

    def subscribers(self) -> Sequence[Subscriber]:
        """The fan-out (in order per organization) and the delivery (in order per endpoint)."""
        timeout = self.settings.timeout
        # Resolving the address (up to 5 s) and recording the outcome come on top of the request.
        handler_timeout = timeout + 10
        return [
            Subscriber(
                name=FANOUT_SUBSCRIBER,
                patterns=self.catalogue.names,
                handler=self.fanout,
                key=lambda event: f"org:{event.org_id}",
                handler_timeout=30.0,
                lease=120.0,
                batch_size=100,
            ),
            Subscriber(
                name=DELIVERY_SUBSCRIBER,
                patterns=(MESSAGE_TOPIC,),
                handler=self.dispatcher,
                retry=SCHEDULE,
                handler_timeout=handler_timeout,
                lease=max(120.0, handler_timeout * 4),
                batch_size=self.settings.concurrency,
                concurrency=self.settings.concurrency,
                pipelined=True,
                close=self.sender.close,
            ),
        ]

    def routes(self) -> Sequence[BaseRoute]:
        """``/api/webhooks/...``; before the CRUD routes, which would take ``webhooks`` for an entity."""
        dev = self.dev_inbox.routes() if self.dev_inbox is not None else []
        return [*self._routes.routes("/api/webhooks"), *dev]

    def openapi(self, schema: Schema, tables: TableSet) -> OpenApiPart | None:
        return webhooks_openapi("/api/webhooks")

    def workers(self) -> Sequence[Worker]:
        return [self.pruner]
