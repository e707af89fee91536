"""Better-Auth-compatible authentication under ``/api/auth``: sessions, passwords, verification, OAuth.

Its public face: ``auth_tables`` (the table contributor), ``Authentication`` (installs the
endpoints and the request authenticator into an app), ``AuthSettings``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from tenantry.auth.endpoints import email_password, sessions, social, user
from tenantry.auth.origin import SAFE_METHODS
from tenantry.auth.router import AuthRouter
from tenantry.auth.service import AuthContext, Current, Mailer, build_context
from tenantry.auth.settings import AuthSettings
from tenantry.auth.store import Memberships
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
        self.router = AuthRouter(self.ctx)
        self.router.add(*sessions.ENDPOINTS, *email_password.ENDPOINTS, *user.ENDPOINTS, *social.ENDPOINTS)

    async def authenticate(self, request: Request) -> Principal | None:
        """The signed-in user of a request to any route (cookie or ``Authorization: Bearer``).

        Requests authenticated by cookie that change state must come from a trusted origin, as on
        ``/api/auth``: a cookie alone never authorises a cross-site write.
        """
        lookup = await self.ctx.lookup(request, refresh=False)
        return self.principal(request, lookup.current)

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
