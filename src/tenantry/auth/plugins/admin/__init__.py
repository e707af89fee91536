"""The admin plugin: Better Auth's ``admin()`` protocol for platform superusers.

Superusers (platform role ``admin``; ``tenantry admin create-superuser`` makes the first) list,
create, update, ban and remove users, revoke their sessions, set their role and password, and
impersonate them; ``/admin/list-organizations`` (a Tenantry extension) lists every organization.
Columns: the user's platform role (see ``fields``), ``banned``/``banReason``/``banExpires``; the
session's ``impersonatedBy``. ``TENANTRY_IMPERSONATION_DURATION`` sets how long an impersonation
lasts (seconds, default 3600, Better Auth's ``impersonationSessionDuration``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from tenantry.auth.errors import AuthError
from tenantry.auth.plugin import AuthPlugin, PluginField, SessionSource
from tenantry.auth.plugins.admin import bans, impersonation, organizations, sessions, users
from tenantry.auth.plugins.admin.common import is_impersonation
from tenantry.auth.plugins.admin.fields import IMPERSONATED_BY, user_fields
from tenantry.auth.plugins.admin.openapi import admin_part
from tenantry.auth.plugins.admin.pages import routes as page_routes
from tenantry.auth.plugins.admin.settings import AdminSettings
from tenantry.auth.router import AuthRequest, Endpoint, Handler, Reply
from tenantry.web.provider import PageProvider

if TYPE_CHECKING:
    import typer

    from tenantry.auth import Authentication
    from tenantry.core import App, CommandHost, OpenApiPart
    from tenantry.db.tables import TableSet
    from tenantry.schema import Schema
    from tenantry.web import Web

# Better Auth's ADMIN_ERROR_CODES (1.7.25).
ADMIN_ERROR_CODES = {
    "FAILED_TO_CREATE_USER": "Failed to create user",
    "USER_ALREADY_EXISTS": "User already exists.",
    "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL": "User already exists. Use another email.",
    "YOU_CANNOT_BAN_YOURSELF": "You cannot ban yourself",
    "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE": "You are not allowed to change users role",
    "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS": "You are not allowed to create users",
    "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS": "You are not allowed to list users",
    "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS": "You are not allowed to list users sessions",
    "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS": "You are not allowed to ban users",
    "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS": "You are not allowed to impersonate users",
    "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS": "You are not allowed to revoke users sessions",
    "YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS": "You are not allowed to delete users",
    "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD": "You are not allowed to set users password",
    "BANNED_USER": "You have been banned from this application",
    "YOU_ARE_NOT_ALLOWED_TO_GET_USER": "You are not allowed to get user",
    "NO_DATA_TO_UPDATE": "No data to update",
    "YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS": "You are not allowed to update users",
    "YOU_CANNOT_REMOVE_YOURSELF": "You cannot remove yourself",
    "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE": "You are not allowed to set a non-existent role value",
    "YOU_CANNOT_IMPERSONATE_ADMINS": "You cannot impersonate admins",
    "INVALID_ROLE_TYPE": "Invalid role type",
    "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_EMAIL": "You are not allowed to update users email",
    "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PHONE_NUMBER": "You are not allowed to update users phone number",
    "PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER": (
        "Password cannot be updated through update-user. Use the set-user-password endpoint instead"
    ),
    "USER_ID_CANNOT_BE_UPDATED": "User id cannot be updated",
    # Tenantry's own.
    "NOT_ALLOWED_WHILE_IMPERSONATING": "This action is not allowed while impersonating a user",
}

# What an impersonation session may not do to the account it borrows (its credentials and its
# existence) nor to the organizations it belongs to (deleting one), through the API or a page; the
# admin endpoints refuse it on their own.
OFF_LIMITS_WHILE_IMPERSONATING = frozenset(
    {
        ("POST", "/change-password"),
        ("POST", "/set-password"),
        ("POST", "/change-email"),
        ("POST", "/delete-user"),
        ("GET", "/delete-user/callback"),
        ("POST", "/link-social"),
        ("POST", "/unlink-account"),
        ("POST", "/two-factor/enable"),
        ("POST", "/two-factor/disable"),
        ("POST", "/two-factor/generate-backup-codes"),
        ("POST", "/api-key/create"),
        ("POST", "/api-key/update"),
        ("POST", "/api-key/delete"),
        ("GET", "/passkey/generate-register-options"),
        ("POST", "/passkey/verify-registration"),
        ("POST", "/passkey/delete-passkey"),
        ("POST", "/passkey/update-passkey"),
        ("POST", "/organization/delete"),
    }
)


HERE = Path(__file__).parent


class AdminPlugin(AuthPlugin, PageProvider):
    """Platform superusers: users, bans, sessions, impersonation (Better Auth's ``admin()``)."""

    name = "admin"
    templates = HERE / "templates"
    # Its action check refuses other plugins' actions by path while impersonating: no order needed.
    after = ("auth", "tenancy")
    settings_model = AdminSettings
    error_codes = ADMIN_ERROR_CODES
    session_fields = (IMPERSONATED_BY,)

    def __init__(self, settings: AdminSettings) -> None:
        self.settings = settings

    def user_fields_for(self, declared: frozenset[str]) -> tuple[PluginField, ...]:
        return user_fields(declared)

    @classmethod
    def commands(cls, host: CommandHost) -> typer.Typer:
        """``tenantry admin create-superuser | list | demote``."""
        from tenantry.auth.plugins.admin.cli import admin_commands  # the command line's own imports

        return admin_commands(host)

    def openapi(self, schema: Schema, tables: TableSet) -> OpenApiPart:
        """Its ``/api/auth`` endpoints in the OpenAPI document."""
        return admin_part()

    def endpoints(self, app: App, auth: Authentication) -> Sequence[Endpoint]:
        return (
            *users.ENDPOINTS,
            *bans.ENDPOINTS,
            *sessions.ENDPOINTS,
            *impersonation.endpoints(self.settings.impersonation_duration),
            *organizations.ENDPOINTS,
        )

    def hook(self, app: App, auth: Authentication) -> None:
        ctx = auth.ctx
        # Refuses sessions of banned users; credentials without a session (API keys) run the
        # same guards before they admit a request (see CredentialResolver).
        ctx.hooks.session_guards.append(bans.session_guard(ctx))
        ctx.hooks.action_checks.append(_refuse_impersonation)
        router = auth.router
        listed = router.resolve("GET", "/list-sessions")
        if listed is not None:
            router.add(Endpoint("GET", "/list-sessions", _hide_impersonations(listed[0])))

    def pages(self, web: Web) -> Sequence[BaseRoute]:
        """Its pages in the web app (``pages.py``)."""
        return page_routes(web, self)


async def _refuse_impersonation(method: str, action: str, session: SessionSource) -> None:
    """The action check: an impersonation session may not run the actions off limits to it."""
    if (method, action) not in OFF_LIMITS_WHILE_IMPERSONATING:
        return
    current = await session()
    if current is not None and is_impersonation(current):
        raise AuthError(403, "NOT_ALLOWED_WHILE_IMPERSONATING", ADMIN_ERROR_CODES["NOT_ALLOWED_WHILE_IMPERSONATING"])


def _hide_impersonations(handler: Handler) -> Handler:
    # Better Auth's after-hook: a user's own session list leaves out the sessions admins opened as them.
    async def filtered(req: AuthRequest) -> Reply:
        reply = await handler(req)
        if isinstance(reply.body, list):
            reply.body = [s for s in reply.body if not (isinstance(s, dict) and s.get("impersonatedBy"))]
        return reply

    return filtered


__all__ = ["ADMIN_ERROR_CODES", "AdminPlugin", "AdminSettings"]
