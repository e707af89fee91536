"""The composition root: ``create_app(schema, settings)`` wires every capability into one ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from tenantry.api import api_routes
from tenantry.api.http import api_error_handler, client_ip, data_rejected_handler, unexpected_error_handler
from tenantry.api.openapi import OpenApiPart
from tenantry.audit import Audit, audit_tables
from tenantry.auth import Authentication, AuthSettings, auth_tables
from tenantry.auth.plugins import enabled_plugins
from tenantry.auth.tables import auth_plugin_tables
from tenantry.billing import Billing, billing_routes, billing_tables, install_billing
from tenantry.billing.openapi import billing_openapi
from tenantry.config import Settings
from tenantry.context import ANONYMOUS, DEVELOPER, Principal, RequestContext
from tenantry.db import Database, TableContributor, TableSet, build_metadata, create_database
from tenantry.db.actor import NOBODY, SYSTEM, DbActor, current_actor, user_actor
from tenantry.db.errors import DataRejected
from tenantry.db.tables import DialectName
from tenantry.errors import ApiError
from tenantry.events import Events, Outbox, events_tables
from tenantry.hooks import Hooks, load_hooks_file
from tenantry.mail import MailSettings, OutboxMailer, backend_from_settings, mail_routes, mail_subscriber
from tenantry.pipeline import NoScope, OpenPolicy, Pipeline
from tenantry.realtime import Realtime, RealtimeMiddleware, realtime_tables
from tenantry.schema import Schema, SchemaError, load_schema
from tenantry.tenancy import Tenancy, tenancy_tables
from tenantry.web import web_routes

log = logging.getLogger("tenantry")

Authenticator = Callable[[Request], Awaitable[Principal | None]]


class Tenantry:
    """The running application: schema, database, pipeline and the request-context resolver."""

    def __init__(
        self,
        schema: Schema,
        settings: Settings,
        *,
        hooks: Hooks | None = None,
        auth_settings: AuthSettings | None = None,
        mail_settings: MailSettings | None = None,
    ) -> None:
        self.schema = schema
        self.settings = settings
        self.auth_settings = auth_settings or AuthSettings()
        self.mail_settings = mail_settings or MailSettings()
        if settings.env == "production" and self.mail_settings.backend == "dev":
            raise ValueError("TENANTRY_MAIL_BACKEND=dev delivers no mail; set smtp, postmark or file in production")
        self.db: Database = create_database(settings.database_url, pool_size=settings.db_pool_size)
        self.tables: TableSet = app_tables(schema, settings.dialect, self.auth_settings)
        max_limit = int(schema.options.get("max_limit", settings.max_limit))
        self.pipeline = Pipeline(
            schema=schema,
            db=self.db,
            tables=self.tables,
            policy=OpenPolicy(),
            scope=NoScope(),
            hooks=hooks or Hooks(),
            max_limit=max_limit,
        )
        # One durable outbox for domain events and mail: each subscriber (mail, realtime, billing's
        # seat sync, the project's) has its own deliveries and its own worker in every process.
        self.outbox = Outbox(self.db, self.tables)
        self.outbox.register(mail_subscriber(self.mail_settings, backend_from_settings(self.mail_settings)))
        self.auth = Authentication(self, self.auth_settings, OutboxMailer(self.outbox, self.mail_settings))
        # With an organizations entity, the app is multi-tenant: role policy and tenant scope.
        self.tenancy = Tenancy(self) if "tenancy" in self.tables.extensions else None
        # The audit row and the domain event of every write, in its transaction (after tenancy, whose
        # policy the audit log's append-only rule wraps); security events come through the auth hook.
        self.audit = Audit(self)
        self.auth.ctx.audit_hook = self.audit.record
        self.events = Events(self)
        if self.tenancy is not None:
            # Organization, membership and invitation changes of the organization plugin, in their transaction.
            self.tenancy.organizations.observers.extend(
                [self.audit.organization_change, self.events.organization_change]
            )
        # Socket.IO at /socket.io, fed by the outbox; stored notifications.
        self.realtime = Realtime(self)
        # Resolvers tried in order; the first to name a principal wins.
        self.authenticators: list[Authenticator] = [self.auth.authenticate]
        # Stripe billing, when the schema has organizations with subscriptions (after audit and events).
        self.billing: Billing | None = install_billing(self)
        # Paths of capabilities other than the CRUD API, for /api/openapi.json.
        self.openapi_parts: list[OpenApiPart] = [billing_openapi()] if self.billing is not None else []
        self.openapi_parts += [part for plugin in self.auth.plugins if (part := plugin.openapi()) is not None]

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
        return RequestContext(
            principal=principal,
            ip_address=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            request_id=request.headers.get("x-request-id"),
        )

    async def startup(self) -> None:
        if self.settings.auto_migrate and self.settings.dialect == "sqlite":
            await asyncio.to_thread(self._sync_development_schema)
        await self.db.open()
        if self.billing is not None:
            # Stripe events stored but not applied when the last process stopped.
            await self.billing.webhooks.apply_pending()
        self.outbox.start()
        self.realtime.start()
        self.auth.sweeper.start()
        # Everything built so far (schema, compiled models, routes) lives as long as the process:
        # keep it out of the collector's scans, and collect young objects less eagerly, which keeps
        # request latency tails short under load.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)

    def _sync_development_schema(self) -> None:
        """Bring a development SQLite database in line with the schema (``tenantry dev`` reloads)."""
        from tenantry.db.migrations import sync_schema

        result = sync_schema(self.settings.database_url, self.tables, allow_destructive=self.settings.allow_destructive)
        for line in result.applied:
            log.warning("schema change applied: %s", line)
        for line in result.skipped:
            log.warning("schema change skipped (use --allow-destructive): %s", line)

    async def shutdown(self) -> None:
        # Deliveries in flight finish (realtime's included) and the rest is handed back first.
        await self.outbox.stop()
        await self.realtime.stop()
        await self.auth.sweeper.stop()
        await self.db.close()


class ActorPerRequest:
    """Each request starts as nobody to row-level security and leaves no actor behind.

    ``Tenantry.context`` names the actor once it knows the principal; until then (sign-in,
    sign-up …) the request's connections see no tenant rows. Resetting afterwards matters where
    requests share a task (in-process test clients): one request's user never carries over.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # Background work started here (mail and event delivery) acts as the system.
            await self.app(scope, receive, send)
            return
        token = current_actor.set(NOBODY)
        try:
            await self.app(scope, receive, send)
        finally:
            current_actor.reset(token)


def database_actor(principal: Principal) -> DbActor:
    """Whom row-level security lets a request see: a user's organizations, everything, or nothing."""
    if principal.user_id is not None:
        return user_actor(principal.user_id)
    if principal.kind in ("developer", "system"):
        return SYSTEM
    return NOBODY


def table_contributors(auth_settings: AuthSettings) -> list[TableContributor]:
    """Every capability's tables, in the order they depend on each other."""
    return [
        auth_tables(auth_settings.table_names, enabled_plugins(auth_settings.plugins)),
        tenancy_tables(auth_settings.table_names),
        auth_plugin_tables,
        audit_tables,
        events_tables,
        billing_tables,
        realtime_tables,
    ]


def app_tables(schema: Schema, dialect: DialectName, auth_settings: AuthSettings | None = None) -> TableSet:
    """All tables of an app: the schema's entities and every capability's own (what migrations manage)."""
    return build_metadata(schema, dialect, table_contributors(auth_settings or AuthSettings()))


def create_app(
    schema: Schema,
    settings: Settings | None = None,
    *,
    hooks: Hooks | None = None,
    auth_settings: AuthSettings | None = None,
) -> Starlette:
    """An ASGI app serving ``schema`` with ``settings`` (read from the environment when omitted)."""
    settings = settings or Settings()
    runtime = Tenantry(schema, settings, hooks=hooks, auth_settings=auth_settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.startup()
        try:
            yield
        finally:
            await runtime.shutdown()

    routes: list[BaseRoute] = [
        runtime.auth.router.route(),
        *runtime.audit.routes(),  # /api/audit_logs/export, before the CRUD routes that would shadow it
        *(billing_routes(runtime.billing) if runtime.billing is not None else []),  # /api/billing/*
        *runtime.realtime.routes(),  # /api/notifications
        *api_routes(runtime),
        *web_routes(runtime),
    ]
    if settings.is_development:
        # The dev outbox shows sign-in links: never served outside development.
        routes.extend(mail_routes(runtime.db, runtime.tables, runtime.mail_settings))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(RealtimeMiddleware, realtime=runtime.realtime), Middleware(ActorPerRequest)],
        exception_handlers={
            ApiError: api_error_handler,
            DataRejected: data_rejected_handler,
            Exception: unexpected_error_handler,
        },
    )
    app.state.tenantry = runtime
    return app


def app_from_env() -> Starlette:
    """The app described by the environment (``TENANTRY_SCHEMA``, ``DATABASE_URL`` …), for servers.

    Used as a factory by ``tenantry serve`` and ``tenantry dev`` so each worker builds its own app.
    """
    settings = Settings()
    try:
        schema = load_schema(settings.schema_path)
    except SchemaError as exc:
        # Printed plainly (not as a traceback) so `tenantry dev` shows the mistakes until they are fixed.
        sys.stderr.write(f"{exc}\n{len(exc.problems)} problem(s) in the schema; fix them and save.\n")
        raise SystemExit(1) from None
    hooks_path = Path(settings.hooks_path) if settings.hooks_path else Path(settings.schema_path).parent / "hooks.py"
    return create_app(schema, settings, hooks=load_hooks_file(hooks_path))
