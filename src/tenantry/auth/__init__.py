"""Better-Auth-compatible authentication under ``/api/auth``: sessions, passwords, verification, OAuth.

Its public face: ``auth_tables`` (the table contributor), ``Authentication`` (installs the
endpoints and the request authenticator into an app), ``AuthSettings``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from tenantry.auth.endpoints import email_password, sessions, social, user
from tenantry.auth.errors import register_error_codes
from tenantry.auth.origin import SAFE_METHODS
from tenantry.auth.plugin import AuthPlugin
from tenantry.auth.router import AuthRouter
from tenantry.auth.service import AuthContext, Current, Mailer, build_context
from tenantry.auth.settings import AuthSettings
from tenantry.auth.store import Memberships
from tenantry.auth.sweeper import ExpirySweeper
from tenantry.auth.tables import AuthTables, auth_tables
from tenantry.context import Principal
from tenantry.errors import ApiError

if TYPE_CHECKING:
    from tenantry.app import Tenantry

__all__ = ["AuthContext", "AuthSettings", "AuthTables", "Authentication", "Mailer", "auth_tables"]


class Authentication:
    """Authentication of one app: the ``/api/auth`` router and the principal resolver for other routes."""

    def __init__(self, runtime: Tenantry, settings: AuthSettings, mailer: Mailer | None) -> None:
        tables: AuthTables = runtime.tables.extensions["auth"]
        tenancy = runtime.tables.extensions.get("tenancy")
        memberships = (
            Memberships(tenancy.members, tenancy.org_id_type, tenancy.organizations) if tenancy is not None else None
        )
        self.ctx = build_context(
            runtime.settings, settings, runtime.db, tables, runtime.pipeline.sql, mailer, memberships
        )
        self.runtime: Tenantry = runtime
        self.router = AuthRouter(self.ctx)
        self.router.add(*sessions.ENDPOINTS, *email_password.ENDPOINTS, *user.ENDPOINTS, *social.ENDPOINTS)
        self.sweeper = ExpirySweeper(runtime.db, self.ctx.store)
        self.plugins: tuple[AuthPlugin, ...] = tables.plugins
        for plugin in self.plugins:
            register_error_codes(plugin.error_codes)
            self.router.add(*plugin.endpoints(self))
            if self.ctx.limiter is not None:
                self.ctx.limiter.extra_rules += plugin.rate_limits
            plugin.install(self)

    def plugin(self, plugin_id: str) -> AuthPlugin | None:
        """The enabled plugin ``plugin_id`` (``two-factor``, ``magic-link``, ``passkey``, ``api-key``, ``admin``)."""
        return next((p for p in self.plugins if p.id == plugin_id), None)

    async def authenticate(self, request: Request) -> Principal | None:
        """The signed-in user of a request to any route (cookie or ``Authorization: Bearer``), or
        the principal of another credential a plugin accepts (``x-api-key``).

        Requests authenticated by cookie that change state must come from a trusted origin, as on
        ``/api/auth``: a cookie alone never authorises a cross-site write.
        """
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

    def principal(self, request: Request, current: Current | None) -> Principal | None:
        """The principal of a session already looked up for ``request`` (the web pages look it up
        themselves, refreshing it as get-session does); the same origin rule as ``authenticate``."""
        if current is None:
            return None
        if current.via_cookie and request.method not in SAFE_METHODS:
            origin = request.headers.get("origin") or request.headers.get("referer")
            if not self.ctx.origins.is_trusted(origin):
                raise ApiError(403, "INVALID_ORIGIN", "Cookie-authenticated writes must come from a trusted origin")
        role = current.session.get("role")
        return Principal(
            kind="user",
            user_id=str(current.user.id),
            # Without a membership in it, the session's active organization grants nothing.
            org_id=current.session.get("active_organization_id") if role else None,
            role=role,
            session_id=current.session["id"],
            attributes={"email": current.user.email, "email_verified": current.user.email_verified},
        )
