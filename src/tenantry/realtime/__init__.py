"""Realtime: a Socket.IO server in the app, pushes driven by the event outbox, stored notifications.

Public face:

- ``realtime_tables`` (the table contributor: ``notifications``);
- ``Realtime`` (installs the Socket.IO server at ``/socket.io``, its outbox subscriber, the
  ``/api/notifications`` routes and the notify API into an app);
- ``notify_user`` / ``notify_org`` for project hooks: they act on the app serving the current
  request (server code holding the runtime calls ``runtime.realtime.notify_user`` directly).

See ``server`` for who may connect and which rooms a socket is in, ``service`` for how a
notification is stored and announced.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from tenantry.auth import Authentication
from tenantry.core import App, Capabilities, Capability, OpenApiPart, Worker
from tenantry.core.http import ROUTE_SCOPE_KEY
from tenantry.events import DomainEvent, RetryPolicy, Subscriber
from tenantry.realtime.openapi import notifications_openapi
from tenantry.realtime.routes import NotificationRoutes
from tenantry.realtime.server import SocketServer, notification_payload, rooms_for
from tenantry.realtime.service import NOTIFICATION_TOPIC, NotificationPage, NotificationStore, Notifier
from tenantry.realtime.settings import RealtimeSettings
from tenantry.realtime.tables import NOTIFICATIONS_TABLE, realtime_tables
from tenantry.tenancy import Tenancy

if TYPE_CHECKING:
    from tenantry.db.tables import TableSet
    from tenantry.schema import Schema

__all__ = [
    "NOTIFICATIONS_TABLE",
    "NOTIFICATION_TOPIC",
    "NotificationPage",
    "NotificationStore",
    "Notifier",
    "Realtime",
    "RealtimeMiddleware",
    "RealtimeSettings",
    "SocketServer",
    "notification_payload",
    "notify_org",
    "notify_user",
    "realtime_tables",
    "rooms_for",
]

SOCKET_PATH = "/socket.io/"

# The outbox subscriber pushing every event to sockets, in the order the events were written.
REALTIME_SUBSCRIBER = "realtime"
# A push is worth little once later ones had to wait long behind it: a few quick retries, then the
# stream moves on. A Redis outage is no failure: its pushes are deferred, uncounted, until it is
# back (``tenantry.realtime.fanout``).
REALTIME_RETRY = RetryPolicy(delays=(1, 5, 30), max_attempts=4)

# The app serving the current request (or delivering the current event), for hooks' notify calls.
current_realtime: ContextVar[Realtime | None] = ContextVar("tenantry_realtime", default=None)


class Realtime(Capability):
    """Realtime of one app: the Socket.IO server, its outbox subscriber, notifications and their routes."""

    name = "realtime"
    after = ("auth", "tenancy")
    requires = ("auth",)
    settings_model = RealtimeSettings

    def __init__(self, settings: RealtimeSettings) -> None:
        self.settings = settings

    def contribute(self, ts: TableSet, schema: Schema, capabilities: Capabilities) -> None:
        realtime_tables(ts, schema)

    def install(self, app: App) -> None:
        tenancy = app.find(Tenancy)
        self.store = NotificationStore(app.db, app.tables, app.pipeline.sql)
        self.notifier = Notifier(app.db, self.store, app.events.writer, tenancy.members if tenancy else None)
        self.server = SocketServer(app, app.get(Authentication).ctx, self.settings, self.store)
        self._routes = NotificationRoutes(app, self.store)

    def subscribers(self) -> Sequence[Subscriber]:
        """Every committed event, in order, from whichever process's worker claims it."""
        return [
            Subscriber(
                name=REALTIME_SUBSCRIBER,
                patterns=("*",),
                handler=self._deliver,
                ordering="global",
                retry=REALTIME_RETRY,
                handler_timeout=10.0,
                lease=60.0,
                batch_size=100,
            )
        ]

    async def notify_user(self, user_id: Any, **notification: Any) -> dict[str, Any] | None:
        """Store and push a notification to one user (see ``Notifier.notify_user`` for the arguments)."""
        return await self.notifier.notify_user(user_id, **notification)

    async def notify_org(self, org_id: Any, **notification: Any) -> list[dict[str, Any]]:
        """Store and push a notification to every member of an organization (``Notifier.notify_org``)."""
        return await self.notifier.notify_org(org_id, **notification)

    async def _deliver(self, event: DomainEvent) -> None:
        current_realtime.set(self)
        await self.server.on_event(event)

    def openapi(self, schema: Schema, tables: TableSet) -> OpenApiPart:
        """``/api/notifications`` and its actions."""
        return notifications_openapi()

    def routes(self) -> Sequence[BaseRoute]:
        """``/api/notifications`` and its actions; they come before the CRUD routes."""
        return self._routes.routes("/api")

    def middleware(self) -> Sequence[Middleware]:
        """``/socket.io/``, and this app's realtime as the current one for hooks' ``notify_user``."""
        return [Middleware(RealtimeMiddleware, realtime=self)]

    async def drain(self) -> None:
        """The server is stopping: close every socket, so its client reconnects (to another node)."""
        await self.server.close_sockets()

    def workers(self) -> Sequence[Worker]:
        """The socket server's session sweeper and fan-out."""
        return [self.server]


class RealtimeMiddleware:
    """Serves ``/socket.io/`` with the Socket.IO server and everything else with the app.

    It also tells the socket server to re-check sessions after any authentication or organization
    request that may have revoked a session or switched its organization, and makes the app's
    realtime the current one for the request (``notify_user`` in hooks).
    """

    def __init__(self, app: ASGIApp, realtime: Realtime) -> None:
        self.app = app
        self.realtime = realtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path.startswith(SOCKET_PATH):
            # Routing never sees it: named here for the access line, metrics and traces.
            scope[ROUTE_SCOPE_KEY] = SOCKET_PATH
            await self.realtime.server.asgi(scope, receive, send)
            return
        token = current_realtime.set(self.realtime)
        try:
            await self.app(scope, receive, send)
        finally:
            current_realtime.reset(token)
            if scope.get("method") == "POST" and path.startswith("/api/auth/") and "/sign-in" not in path:
                self.realtime.server.poke()


def _current() -> Realtime:
    realtime = current_realtime.get()
    if realtime is None:
        raise RuntimeError("notify_user/notify_org run inside a request or event delivery of a Tenantry app")
    return realtime


async def notify_user(user_id: Any, **notification: Any) -> dict[str, Any] | None:
    """Notify one user of the app serving this request: ``type``, ``title``, ``message``, optional ``data``,
    ``org_id``, ``dedupe_key``. Stored (read/unread) and pushed to ``user:<id>`` once committed."""
    return await _current().notify_user(user_id, **notification)


async def notify_org(org_id: Any, **notification: Any) -> list[dict[str, Any]]:
    """Notify every member of an organization of the app serving this request (see ``notify_user``)."""
    return await _current().notify_org(org_id, **notification)
