"""The authentication capability: Better Auth's core endpoints, sessions on every request, plugins."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import BaseRoute

from tenantry.auth.endpoints import email_password, sessions, social, user
from tenantry.auth.errors import register_error_codes
from tenantry.auth.events import UserCreatedEvents
from tenantry.auth.openapi import core_part
from tenantry.auth.origin import SAFE_METHODS
from tenantry.auth.plugin import AuthPlugin
from tenantry.auth.router import AuthRouter
from tenantry.auth.service import AuthContext, Current, build_context
from tenantry.auth.settings import AuthSettings
from tenantry.auth.store import REQUIRE_TWO_FACTOR, TWO_FACTOR_ATTRIBUTE, Memberships, SessionPrincipal
from tenantry.auth.sweeper import ExpirySweeper
from tenantry.auth.tables import PLATFORM_ROLE_FIELDS, AuthTables, auth_tables
from tenantry.context import PLATFORM_ROLE_ATTRIBUTE, Principal
from tenantry.core import App, Capabilities, Capability, OpenApiPart, Worker
from tenantry.errors import ApiError
from tenantry.mail import Mail

if TYPE_CHECKING:
    from tenantry.db.tables import TableSet
    from tenantry.schema import Schema


class Authentication(Capability):
    """Authentication of one app: the ``/api/auth`` router and the principal resolver for other routes.

    Its plugins (``AuthPlugin`` capabilities) add columns to its tables when they are contributed
    and register their endpoints and hooks when they are installed, after it.
    """

    name = "auth"
    after = ("mail",)
    settings_model = AuthSettings

    ctx: AuthContext
    router: AuthRouter
    sweeper: ExpirySweeper
    plugins: tuple[AuthPlugin, ...]

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings

    def contribute(self, ts: TableSet, schema: Schema, capabilities: Capabilities) -> None:
        """The user, session, account and verification tables, with every plugin's columns."""
        auth_tables(self.settings.table_names, capabilities.of(AuthPlugin))(ts, schema)

    def install(self, app: App) -> None:
        tables: AuthTables = app.tables.extensions["auth"]
        tenancy = app.tables.extensions.get("tenancy")
        memberships = (
            Memberships(tenancy.members, tenancy.org_id_type, tenancy.organizations) if tenancy is not None else None
        )
        mail = app.find(Mail)
        self.ctx = build_context(
            app.settings, self.settings, app.db, tables, app.pipeline.sql, mail.mailer if mail else None, memberships
        )
        # A new user is a domain event like a CRUD create (``users.created``): analytics counts
        # sign-ups from it, a project's subscriber may welcome them. No secret is in the user's JSON.
        self.ctx.store.user_created.append(UserCreatedEvents(app, self.ctx.shapes))
        self.router = AuthRouter(self.ctx)
        self.router.add(*sessions.ENDPOINTS, *email_password.ENDPOINTS, *user.ENDPOINTS, *social.ENDPOINTS)
        self.sweeper = ExpirySweeper(app.db, self.ctx.store)
        self.plugins = tables.plugins
        app.authenticators.append(self.authenticate)

    def register(self, plugin: AuthPlugin, app: App) -> None:
        """Add a plugin's error codes, endpoints and rate-limit rules, then let it hook in."""
        register_error_codes(plugin.error_codes)
        self.router.add(*plugin.endpoints(app, self))
        if self.ctx.limiter is not None:
            self.ctx.limiter.extra_rules += plugin.rate_limits
        plugin.hook(app, self)

    def routes(self) -> Sequence[BaseRoute]:
        return [self.router.route()]

    def openapi(self, schema: Schema, tables: TableSet) -> OpenApiPart:
        """Better Auth's core endpoints and the user, session and error shapes its plugins share."""
        return core_part(tables)

    def workers(self) -> Sequence[Worker]:
        return [self.sweeper]

    def plugin(self, plugin_id: str) -> AuthPlugin | None:
        """The enabled plugin ``plugin_id`` (``two-factor``, ``magic-link``, ``passkey``, ``api-key``, ``admin``)."""
        return next((p for p in self.plugins if p.id == plugin_id), None)

    async def authenticate(self, request: Request) -> Principal | None:
        """The signed-in user of a request to any route (cookie or ``Authorization: Bearer``), or
        the principal of another credential a plugin accepts (``x-api-key``).

        Requests authenticated by cookie that change state must come from a trusted origin, as on
        ``/api/auth``: a cookie alone never authorises a cross-site write.
        """
        token, via_cookie = self.ctx.request_token(request)
        if token:
            # The usual case, read with only what a principal needs; anything else (no such session,
            # an expired one, which the full lookup deletes) takes the full lookup below.
            read = await self.ctx.store.session_principal(token)
            if read is not None and read.expires_at >= dt.datetime.now(dt.UTC):
                self._check_origin(request, via_cookie)
                return await self.checked(request, principal_of(read))
        lookup = await self.ctx.lookup(request, refresh=False)
        if lookup.current is None:
            for resolve in self.ctx.hooks.credentials:
                found = await resolve(request)
                if found is not None:
                    # Another credential (an API key) answers to the same checks as a session.
                    return await self.checked(request, found)
        return await self.resolve(request, lookup.current)

    async def resolve(self, request: Request, current: Current | None) -> Principal | None:
        """``principal`` followed by the plugins' checks (an organization that requires two-factor)."""
        principal = self.principal(request, current)
        return await self.checked(request, principal) if principal is not None else None

    async def checked(self, request: Request, principal: Principal) -> Principal:
        """The plugins' ``principal_checks`` on a principal: each may refuse it (403) or adjust it."""
        for check in self.ctx.hooks.principal_checks:
            principal = await check(request, principal)
        return principal

    def _check_origin(self, request: Request, via_cookie: bool) -> None:
        """A cookie alone never authorises a write from an untrusted origin."""
        if via_cookie and request.method not in SAFE_METHODS:
            origin = request.headers.get("origin") or request.headers.get("referer")
            if not self.ctx.origins.is_trusted(origin):
                raise ApiError(403, "INVALID_ORIGIN", "Cookie-authenticated writes must come from a trusted origin")

    def principal(self, request: Request, current: Current | None) -> Principal | None:
        """The principal of a session already looked up for ``request`` (the web pages look it up
        themselves, refreshing it as get-session does); the same origin rule as ``authenticate``."""
        if current is None:
            return None
        self._check_origin(request, current.via_cookie)
        role = current.session.get("role")
        attributes: dict[str, Any] = {"email": current.user.email, "email_verified": current.user.email_verified}
        platform_role = next((current.user.plugin[n] for n in PLATFORM_ROLE_FIELDS if n in current.user.plugin), None)
        if platform_role:
            # Read with the session's user, so a new role or its removal counts from the next request.
            attributes[PLATFORM_ROLE_ATTRIBUTE] = str(platform_role)
        if REQUIRE_TWO_FACTOR in current.session:
            # Read with the session: the two-factor plugin's check on every request needs no query.
            attributes[TWO_FACTOR_ATTRIBUTE] = (
                current.session[REQUIRE_TWO_FACTOR],
                bool(current.user.plugin.get("twoFactorEnabled")),
            )
        return Principal(
            kind="user",
            user_id=str(current.user.id),
            # Without a membership in it, the session's active organization grants nothing.
            org_id=current.session.get("active_organization_id") if role else None,
            role=role,
            session_id=current.session["id"],
            attributes=attributes,
        )


def principal_of(found: SessionPrincipal) -> Principal:
    """The principal of a session read by ``AuthStore.session_principal``: what ``Authentication.principal``
    makes of the same session and user read whole."""
    attributes: dict[str, Any] = {"email": found.email, "email_verified": found.email_verified}
    if found.platform_role:
        attributes[PLATFORM_ROLE_ATTRIBUTE] = found.platform_role
    if found.two_factor is not None:
        attributes[TWO_FACTOR_ATTRIBUTE] = found.two_factor
    return Principal(
        kind="user",
        user_id=found.user_id,
        org_id=found.organization_id,
        role=found.role,
        session_id=found.session_id,
        attributes=attributes,
    )
