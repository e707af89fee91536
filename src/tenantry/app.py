"""The composition root: settings → the list of capabilities → one loop.

``create_app(schema, settings)`` builds each capability from its part of the settings, lets each
contribute its tables, installs each into a ``Tenantry`` (the concrete ``tenantry.core.App``), and
serves what they offer (routes, middleware, workers) in the order their constraints give. A new
capability is one folder and one entry in ``CAPABILITIES``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantry.analytics import Analytics
from tenantry.api import Api, build_openapi
from tenantry.audit import Audit
from tenantry.auth import Authentication
from tenantry.auth.plugins import plugin_classes
from tenantry.billing import Billing, billing_config
from tenantry.config import Settings
from tenantry.context import ANONYMOUS, DEVELOPER, Principal, RequestContext
from tenantry.core import Authenticator, Capabilities, Capability, PrincipalListener, Worker
from tenantry.core.faults import (
    AnsweringStarlette,
    client_disconnected_handler,
    database_unavailable_handler,
    unexpected_error_handler,
)
from tenantry.core.http import api_error_handler, client_ip, data_rejected_handler, request_id
from tenantry.core.security_headers import SecurityHeaders, hsts_value
from tenantry.db import Database, TableContributor, TableSet, build_metadata, create_database
from tenantry.db.actor import NOBODY, SYSTEM, DbActor, current_actor, user_actor
from tenantry.db.codecs import utc_now
from tenantry.db.errors import DatabaseUnavailable, DataRejected
from tenantry.db.postgres import PostgresDatabase
from tenantry.db.tables import DialectName
from tenantry.errors import ApiError
from tenantry.events import Events, Outbox, events_tables
from tenantry.events.wakeups import Bell
from tenantry.health import Health
from tenantry.hooks import Hooks, load_hooks_file
from tenantry.idempotency import Idempotency
from tenantry.logs import Logs
from tenantry.mail import Mail
from tenantry.metrics import Metrics
from tenantry.pipeline import NoScope, OpenPolicy, Pipeline
from tenantry.realtime import Realtime
from tenantry.schema import Schema, SchemaError, load_schema
from tenantry.sentry import ErrorTracking
from tenantry.tenancy import Tenancy
from tenantry.tracing import Tracing
from tenantry.web import WebApp
from tenantry.webhooks import Webhooks

log = logging.getLogger("tenantry")

C = TypeVar("C")

# Every capability an app may have. Each says when it applies (``enabled``) and what it must follow
# (``after``); the position here only breaks ties. Authentication's optional plugins are added from
# ``TENANTRY_AUTH_PLUGINS`` (see ``capability_classes``). The outbox and its events are the core's.
# Error tracking comes first: it starts before, and stops after, every other capability.
CAPABILITIES: tuple[type[Capability], ...] = (
    ErrorTracking,
    Logs,  # its request-id middleware is the outermost
    Metrics,  # its middleware times every request, whoever answers it
    Tracing,  # only with an OTLP endpoint; its server span inside the request id
    Health,
    Mail,
    Authentication,
    Tenancy,
    Audit,
    Realtime,
    Idempotency,
    Billing,
    Analytics,
    Webhooks,
    Api,
    WebApp,
)


def capability_classes(settings: Settings) -> list[type[Capability]]:
    """The capability classes of an app configured by ``settings``, authentication's plugins included."""
    return [*CAPABILITIES, *plugin_classes(settings.auth.plugins)]


def build_capability(kind: type[Capability], settings: Settings) -> Capability:
    """``kind`` built from its part of ``settings`` (named after it: ``magic-link`` is ``settings.magic_link``)."""
    part = settings.part(kind.name.replace("-", "_"), kind.settings_model) if kind.settings_model else None
    return kind.from_settings(part)


def default_capabilities(settings: Settings) -> list[Capability]:
    """Every capability of an app configured by ``settings`` (before each decides whether the schema needs it)."""
    return [build_capability(kind, settings) for kind in capability_classes(settings)]


def build_tables(schema: Schema, dialect: DialectName, capabilities: Capabilities) -> TableSet:
    """The schema's entities, the outbox's tables, then every capability's tables and columns, in
    capability order."""

    def contributor(capability: Capability) -> TableContributor:
        return lambda ts, schema: capability.contribute(ts, schema, capabilities)

    return build_metadata(schema, dialect, [events_tables, *(contributor(c) for c in capabilities)])


def applicable(schema: Schema, capabilities: Iterable[Capability]) -> Capabilities:
    """The capabilities that apply to ``schema``, in the order their constraints give."""
    return Capabilities(c for c in capabilities if c.enabled(schema))


def app_tables(
    schema: Schema,
    settings: Settings,
    dialect: DialectName | None = None,
    capabilities: Iterable[Capability] | None = None,
) -> TableSet:
    """All tables of an app (what migrations manage): the schema's entities and every capability's own.

    ``dialect`` defaults to that of ``settings.database_url``; ``capabilities`` to the default list.
    """
    found = default_capabilities(settings) if capabilities is None else capabilities
    return build_tables(schema, dialect or settings.dialect, applicable(schema, found))


def openapi_document(schema: Schema, settings: Settings) -> dict[str, Any]:
    """The OpenAPI document an app configured by ``settings`` serves, without starting it."""
    capabilities = applicable(schema, default_capabilities(settings))
    tables = build_tables(schema, settings.dialect, capabilities)
    return build_openapi(schema, parts=[p for c in capabilities if (p := c.openapi(schema, tables)) is not None])


class Tenantry:
    """The running application (the concrete ``tenantry.core.App``): schema, database, pipeline, capabilities."""

    def __init__(
        self,
        schema: Schema,
        settings: Settings,
        capabilities: Iterable[Capability] | None = None,
        *,
        hooks: Hooks | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.schema = schema
        self.settings = settings
        # One clock for the outbox and every capability, so tests can move time for all of them.
        self._clock = clock
        found = default_capabilities(settings) if capabilities is None else capabilities
        self.capabilities = applicable(schema, found)
        self.db: Database = create_database(settings.database_url, pool_size=settings.db_pool_size)
        self.tables = build_tables(schema, settings.dialect, self.capabilities)
        self.pipeline = Pipeline(
            schema=schema,
            db=self.db,
            tables=self.tables,
            policy=OpenPolicy(),
            scope=NoScope(),
            hooks=hooks or Hooks(),
            max_limit=int(schema.options.get("max_limit", settings.max_limit)),
        )
        # One durable outbox: every change's event, written in its transaction, and each named
        # subscriber's deliveries (mail, realtime, billing's seat sync, the project's own).
        self.outbox = Outbox(self.db, self.tables, settings=settings.outbox, clock=clock)
        self.events = Events(self.outbox, self.pipeline, schema)
        self.authenticators: list[Authenticator] = []
        self.draining = False
        self.principal_listeners: list[PrincipalListener] = []
        for capability in self.capabilities:
            capability.install(self)
        for capability in self.capabilities:
            for subscriber in capability.subscribers():
                self.outbox.register(subscriber)
        self.workers: list[Worker] = [w for c in self.capabilities for w in c.workers()]

    # -- the App interface ---------------------------------------------------------------------

    def clock(self) -> dt.datetime:
        return self._clock()

    def get(self, kind: type[C]) -> C:
        return self.capabilities.get(kind)

    def find(self, kind: type[C]) -> C | None:
        return self.capabilities.find(kind)

    async def context(self, request: Request, principal: Principal | None = None) -> RequestContext:
        """Who is asking (first step of the pipeline), with the facts the audit log records.

        ``principal``: already resolved by the caller (a page that looked its session up itself),
        so the authenticators are not asked again.
        """
        if principal is None:
            for authenticate in self.authenticators:
                principal = await authenticate(request)
                if principal is not None:
                    break
        if principal is None:
            principal = DEVELOPER if self.settings.api_is_open else ANONYMOUS
        # From here on, the database's row-level security acts for this principal (PostgreSQL).
        current_actor.set(database_actor(principal))
        for listener in self.principal_listeners:
            listener(request, principal)
        return RequestContext(
            principal=principal,
            ip_address=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            request_id=request_id(request),
        )

    # -- what the capabilities offer -------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [route for c in self.capabilities for route in c.routes()]

    def middleware(self) -> list[Middleware]:
        # Security headers outermost (every answer gets them, the capabilities' own included), then
        # the capabilities'; every request then starts as nobody to row-level security.
        s = self.settings
        hsts = hsts_value(s.env, s.base_url, s.hsts_max_age, s.hsts_include_subdomains)
        return [
            Middleware(SecurityHeaders, hsts=hsts),
            *(m for c in self.capabilities for m in c.middleware()),
            Middleware(ActorPerRequest, db=self.db),
        ]

    # -- lifespan --------------------------------------------------------------------------------

    async def startup(self) -> None:
        if self.settings.auto_migrate and self.settings.dialect == "sqlite":
            await asyncio.to_thread(self._sync_development_schema)
        await self.db.open()
        for capability in self.capabilities:
            await capability.startup()
        # On PostgreSQL, processes that run no background work wake those that do (``NOTIFY``).
        dsn = self.db.dsn if isinstance(self.db, PostgresDatabase) else None
        if self.settings.background:
            self.outbox.start(listen=dsn)
            for worker in self.workers:
                worker.start()
        elif dsn is not None:
            self.outbox.ring_elsewhere(Bell(dsn))

    def _sync_development_schema(self) -> None:
        """Bring a development SQLite database in line with the schema (``tenantry dev`` reloads)."""
        from tenantry.db.migrations import sync_schema

        result = sync_schema(self.settings.database_url, self.tables, allow_destructive=self.settings.allow_destructive)
        for line in result.applied:
            log.warning("schema change applied: %s", line)
        for line in result.skipped:
            log.warning("schema change skipped (use --allow-destructive): %s", line)

    async def drain(self) -> None:
        """The server stops taking work: readiness answers 503, capabilities close long-lived connections."""
        if self.draining:
            return
        self.draining = True
        for capability in self.capabilities:
            try:
                await capability.drain()
            except Exception:
                log.exception("draining %s failed", capability.name)

    async def shutdown(self) -> None:
        # Deliveries in flight finish (realtime's pushes included) and the rest is handed back first.
        await self.outbox.stop()
        for worker in reversed(self.workers):
            await worker.stop()
        for capability in reversed(self.capabilities):
            await capability.shutdown()
        await self.db.close()


class ActorPerRequest:
    """Each request starts as nobody to row-level security and leaves no actor behind.

    ``Tenantry.context`` names the actor once it knows the principal; until then (sign-in,
    sign-up …) the request's connections see no tenant rows. Resetting afterwards matters where
    requests share a task (in-process test clients): one request's user never carries over.
    The database keeps what it may for an HTTP request (``Database.begin_request``: on
    PostgreSQL, the connection that authenticated it serves its next statement, already acting for
    its user) until the answer starts (``hand_back``): serializing the body and the outer
    middleware's work hold no connection. Written as a plain coroutine (no context managers) as it
    wraps every request.
    """

    def __init__(self, app: ASGIApp, db: Database) -> None:
        self.app = app
        self.db = db

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            # Background work started here (mail and event delivery) acts as the system.
            await self.app(scope, receive, send)
            return
        token = current_actor.set(NOBODY)
        db = self.db
        slot = db.begin_request() if kind == "http" else None
        try:
            if slot is None:
                await self.app(scope, receive, send)
                return

            async def answering(message: Message) -> None:
                if message["type"] == "http.response.start":
                    await db.hand_back()
                await send(message)

            await self.app(scope, receive, answering)
        finally:
            if slot is not None:
                await db.end_request(slot)
            current_actor.reset(token)


def database_actor(principal: Principal) -> DbActor:
    """Whom row-level security lets a request see: a user's organizations, everything, or nothing."""
    if principal.user_id is not None:
        return user_actor(principal.user_id)
    if principal.kind in ("developer", "system"):
        return SYSTEM
    return NOBODY


def create_app(
    schema: Schema,
    settings: Settings,
    *,
    hooks: Hooks | None = None,
    capabilities: Sequence[Capability] | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
) -> Starlette:
    """An ASGI app serving ``schema`` with ``settings``.

    ``capabilities`` replaces the default list (``default_capabilities(settings)``), for an app with
    capabilities of its own; ``clock`` replaces the wall clock (tests that move time).
    """
    runtime = Tenantry(schema, settings, capabilities, hooks=hooks, clock=clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.startup()
        try:
            yield
        finally:
            await runtime.shutdown()

    app = AnsweringStarlette(
        routes=runtime.routes(),
        lifespan=lifespan,
        middleware=runtime.middleware(),
        exception_handlers={
            ApiError: api_error_handler,
            DataRejected: data_rejected_handler,
            # Faults of the environment, answered where they are raised (see ``tenantry.core.faults``).
            DatabaseUnavailable: database_unavailable_handler,
            ClientDisconnect: client_disconnected_handler,
            Exception: unexpected_error_handler,
        },
    )
    app.state.tenantry = runtime
    return app


def app_from_env() -> Starlette:
    """The app described by the environment (``TENANTRY_SCHEMA``, ``DATABASE_URL`` …), for servers.

    Used as a factory by ``tenantry dev`` so each worker builds its own app.
    """
    settings = Settings()
    try:
        schema = load_schema(settings.schema_path)
        billing_config(schema)  # the plans in settings.billing, checked with the rest
    except SchemaError as exc:
        # Printed plainly (not as a traceback) so `tenantry dev` shows the mistakes until they are fixed.
        from tenantry.server.schema_error import problem_lines, schema_error_app

        problems = [str(p) for p in exc.problems]
        sys.stderr.write("\n".join(problem_lines(problems)) + "\n")
        if settings.is_development:
            # The browser shows them too, and reloads once the file is fixed (the server restarts then).
            return schema_error_app(problems)
        raise SystemExit(1) from None
    if settings.is_development and settings.dev_clients:
        # ``tenantry dev --client``: each reload after a schema change writes the clients again.
        from tenantry.clients import write_dev_clients

        write_dev_clients(schema, settings.dev_clients)
    hooks_path = Path(settings.hooks_path) if settings.hooks_path else Path(settings.schema_path).parent / "hooks.py"
    try:
        hooks = load_hooks_file(hooks_path)
    except Exception as exc:
        if not settings.is_development:
            raise
        # A typo in hooks.py while `tenantry dev` runs: shown in the browser too, until it is saved fixed.
        from tenantry.server.schema_error import hooks_error_app

        lines = _traceback_end(exc, hooks_path)
        sys.stderr.write("\n".join(lines) + "\n")
        return hooks_error_app(str(hooks_path), lines)
    return create_app(schema, settings, hooks=hooks)


def _traceback_end(exc: BaseException, path: Path) -> list[str]:
    """``FILE:LINE: Error: message`` for ``exc``: the last frame in ``path``, or where a syntax error is."""
    import traceback

    where = ""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{exc.filename}:{exc.lineno}: "
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path.resolve()]
        if frames:
            where = f"{frames[-1].filename}:{frames[-1].lineno}: "
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return [f"{where}{type(exc).__name__}: {message}"]


# The collector's thresholds in a serving process: young objects collected every 50,000 allocations
# (not 700), which keeps a request's garbage out of most collections and full scans rare.
SERVING_GC_THRESHOLDS = (50_000, 20, 100)


def served_app() -> Starlette:
    """``app_from_env`` as ``tenantry serve`` runs it, in a process tuned for serving.

    Everything built so far (schema, compiled models, routes) lives as long as the process: keep
    it out of the collector's scans, and collect young objects less eagerly, which keeps request
    latency tails short under load. Process-wide, so only the server command does it.

    Frozen without a collection first: of the ~190,000 objects the app's modules and build leave,
    a collection finds ~1,300 unreachable (about 430 KB by their own sizes, kept for good once
    frozen), and takes 80-90 ms, a tenth of a cold start.
    """
    app = app_from_env()
    gc.freeze()
    gc.set_threshold(*SERVING_GC_THRESHOLDS)
    return app


async def run_worker(app: Starlette | None = None) -> None:
    """Run the background work of ``app`` (default: ``served_app()``) until SIGTERM or SIGINT, serving no HTTP.

    What ``tenantry worker`` runs: the app's start-up and shut-down (its lifespan) with nothing in
    between but the outbox's workers, the pruner and the capabilities' sweeps.
    """
    import signal

    app = app or served_app()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        async with app.router.lifespan_context(app):
            log.info("worker started")
            await stopping.wait()
            log.info("worker stopping")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
