"""What a superuser does, for the ``/admin/*`` endpoints and the admin pages alike.

Every function checks the caller's platform role first (``check_admin``: 403 with Better Auth's
code; an impersonation session never passes) and audits each change in its transaction. A ban
revokes every session of the user at once and refuses new ones (``bans.session_guard``).

Impersonating opens a session for the target marked ``impersonatedBy`` (the admin's id) that lasts
``duration`` seconds and is never extended; the admin's own session token is kept in the signed
``admin_session`` cookie, as Better Auth does, and stopping ends the impersonation session and
restores it. Admins cannot be impersonated. Both sides are audited: ``impersonation_start``/
``impersonation_stop`` name the admin and no organization; ``user_impersonated``/
``user_impersonation_ended`` carry the target's active organization, so the target's organization
sees who acted as one of its members.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tenantry.auth.cookies import CookieChanges
from tenantry.auth.crypto import sign_value, unsign_value
from tenantry.auth.errors import AuthError, auth_error
from tenantry.auth.plugins.admin.access import ROLES, is_admin, parse_role
from tenantry.auth.plugins.admin.common import admin_user_json, check_admin, platform_role, target_user
from tenantry.auth.plugins.admin.fields import role_name
from tenantry.auth.plugins.admin.queries import AdminQueries, BadQuery, UserQuery
from tenantry.auth.service import AuthContext, ClientInfo, Current
from tenantry.auth.store import iso
from tenantry.db import Connection

LIST_USERS = "/admin/list-users"
GET_USER = "/admin/get-user"
SET_ROLE = "/admin/set-role"
BAN_USER = "/admin/ban-user"
UNBAN_USER = "/admin/unban-user"
LIST_USER_SESSIONS = "/admin/list-user-sessions"
REVOKE_USER_SESSION = "/admin/revoke-user-session"
REVOKE_USER_SESSIONS = "/admin/revoke-user-sessions"
IMPERSONATE_USER = "/admin/impersonate-user"
STOP_IMPERSONATING = "/admin/stop-impersonating"
LIST_ORGANIZATIONS = "/admin/list-organizations"

# Better Auth's default ``bannedUserMessage``.
BANNED_MESSAGE = "You have been banned from this application. Please contact support if you believe this is an error."
DEFAULT_REASON = "No reason"
LIFTED: dict[str, Any] = {"banned": False, "banReason": None, "banExpires": None}


def role_value(value: Any) -> str:
    """A platform role as given (a name, or a list of names), checked against the roles there are."""
    role = parse_role(value)
    if role is None:
        raise auth_error(400, "INVALID_ROLE_TYPE")
    # Tenantry's roles are Better Auth's defaults, so a role outside them is refused as with custom roles.
    if any(r not in ROLES for r in role.split(",")):
        raise auth_error(400, "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE")
    return role


# -- users ------------------------------------------------------------------------------------


@dataclass
class UserPage:
    """One page of ``list-users``: the users as the admin plugin shows them, and how many match
    (none when the query names a field or value the database cannot use: not ``runnable``)."""

    users: list[dict[str, Any]]
    total: int
    runnable: bool = True


async def list_users(ctx: AuthContext, current: Current, query: UserQuery) -> UserPage:
    """Users matching ``query``; a query the database cannot run finds nobody (as Better Auth answers)."""
    check_admin(ctx, current, "user", "list", "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS")
    try:
        users, total = await AdminQueries(ctx).list_users(query)
    except BadQuery:
        return UserPage([], 0, runnable=False)
    return UserPage([admin_user_json(ctx, u) for u in users], total)


async def get_user(ctx: AuthContext, current: Current, user_id: str) -> dict[str, Any]:
    """The user ``user_id`` as the admin plugin shows it (404 USER_NOT_FOUND)."""
    check_admin(ctx, current, "user", "get", "YOU_ARE_NOT_ALLOWED_TO_GET_USER")
    return admin_user_json(ctx, await target_user(ctx, user_id))


async def set_role(ctx: AuthContext, client: ClientInfo, current: Current, user_id: str, role: Any) -> dict[str, Any]:
    """Give the user ``user_id`` the platform ``role``; the user as now shown."""
    check_admin(ctx, current, "user", "set-role", "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE")
    value = role_value(role)
    user = await target_user(ctx, user_id)
    async with ctx.db.transaction() as conn:
        updated = await ctx.store.update_user(conn, user.id, {role_name(ctx.tables): value})
        if updated is None:
            raise auth_error(404, "USER_NOT_FOUND")
        await ctx.audit(
            conn,
            "admin_set_role",
            client,
            session=current.session,
            resource_id=user.id,
            old={"role": platform_role(ctx, user)},
            new={"role": value},
        )
    return admin_user_json(ctx, updated)


# -- bans ---------------------------------------------------------------------------------------


async def ban_user(
    ctx: AuthContext,
    client: ClientInfo,
    current: Current,
    user_id: str,
    *,
    reason: str | None = None,
    expires_in: float | None = None,
) -> dict[str, Any]:
    """Ban the user (until lifted, or for ``expires_in`` seconds): every session of theirs ends now."""
    check_admin(ctx, current, "user", "ban", "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS")
    user = await target_user(ctx, user_id)
    if str(user.id) == str(current.user.id):
        raise auth_error(400, "YOU_CANNOT_BAN_YOURSELF")
    now = dt.datetime.now(dt.UTC)
    expires = now + dt.timedelta(seconds=expires_in) if expires_in else None
    changes = {"banned": True, "banReason": reason or DEFAULT_REASON, "banExpires": expires, "updatedAt": now}
    async with ctx.db.transaction() as conn:
        updated = await ctx.store.update_user(conn, user.id, changes)
        if updated is None:
            raise auth_error(404, "USER_NOT_FOUND")
        revoked = await ctx.store.delete_sessions_of(conn, user.id)
        ban = {"reason": changes["banReason"], "expires_at": expires.isoformat() if expires else None}
        await ctx.audit(
            conn, "user_ban", client, session=current.session, resource_id=user.id, new={**ban, "sessions": revoked}
        )
    return admin_user_json(ctx, updated)


async def unban_user(ctx: AuthContext, client: ClientInfo, current: Current, user_id: str) -> dict[str, Any]:
    """Lift the user's ban; the user as now shown."""
    check_admin(ctx, current, "user", "ban", "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS")
    user = await target_user(ctx, user_id)
    async with ctx.db.transaction() as conn:
        updated = await ctx.store.update_user(conn, user.id, {**LIFTED, "updatedAt": dt.datetime.now(dt.UTC)})
        if updated is None:
            raise auth_error(404, "USER_NOT_FOUND")
        was = {"reason": user.plugin.get("banReason"), "banned": bool(user.plugin.get("banned"))}
        await ctx.audit(conn, "user_unban", client, session=current.session, resource_id=user.id, old=was)
    return admin_user_json(ctx, updated)


# -- sessions -----------------------------------------------------------------------------------


async def list_user_sessions(ctx: AuthContext, current: Current, user_id: str) -> list[dict[str, Any]]:
    """The user's sessions as Better Auth shows them (tokens included: admins revoke by token)."""
    check_admin(ctx, current, "session", "list", "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS")
    try:
        sessions = await ctx.store.sessions_of(user_id)
    except ValueError:  # not an id of this app: nobody's sessions
        sessions = []
    return [ctx.shapes.session_json(s) for s in sessions]


async def revoke_user_session(ctx: AuthContext, client: ClientInfo, current: Current, token: str) -> None:
    """End the session ``token``, whoever's it is."""
    check_admin(ctx, current, "session", "revoke", "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS")
    found = await ctx.store.session_with_user(token)
    async with ctx.db.transaction() as conn:
        if await ctx.store.delete_session(conn, token) and found is not None:
            session, owner = found
            await ctx.audit(
                conn,
                "admin_session_revoke",
                client,
                session=current.session,
                resource_type="session",
                resource_id=session["id"],
                old={"user_id": str(owner.id), "email": owner.email},
            )


async def revoke_user_sessions(ctx: AuthContext, client: ClientInfo, current: Current, user_id: str) -> None:
    """End every session of the user (an unknown user has none to end)."""
    check_admin(ctx, current, "session", "revoke", "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS")
    try:
        user = await target_user(ctx, user_id)
    except AuthError:  # Better Auth answers success for an unknown user too: nothing to revoke
        return
    async with ctx.db.transaction() as conn:
        count = await ctx.store.delete_sessions_of(conn, user.id)
        await ctx.audit(
            conn,
            "admin_session_revoke",
            client,
            session=current.session,
            resource_id=user.id,
            new={"sessions": "all", "count": count},
        )


# -- impersonation ------------------------------------------------------------------------------


def admin_cookie_name(ctx: AuthContext) -> str:
    """``better-auth.admin_session`` (``__Secure-``-prefixed on https, like the session cookie)."""
    return ctx.cookies.names.session_token.removesuffix("session_token") + "admin_session"


def admin_cookie(ctx: AuthContext, value: str, max_age: int) -> str:
    """The ``admin_session`` cookie: the session cookie's attributes, in better-call's order."""
    secure = "; Secure" if ctx.cookies.names.secure else ""
    return f"{admin_cookie_name(ctx)}={value}; Max-Age={max_age}; Path=/; HttpOnly{secure}; SameSite=Lax"


def read_admin_cookie(ctx: AuthContext, cookies: dict[str, str]) -> tuple[str, bool] | None:
    """The admin's session token kept while impersonating, and whether it was a don't-remember session."""
    raw = cookies.get(admin_cookie_name(ctx))
    value = unsign_value(ctx.secret, raw) if raw else None
    if not value or ":" not in value:
        return None
    token, _, dont_remember = value.partition(":")
    return token, bool(dont_remember)


@dataclass
class Switched:
    """An impersonation started or stopped: the session now in use (as Better Auth shows it, and
    its token), its user, and the ``admin_session`` cookie set or expired."""

    session: dict[str, Any]
    user: dict[str, Any]
    token: str
    dont_remember: bool
    admin_cookie: str

    @property
    def cookies(self) -> CookieChanges:
        """The session cookie, then the admin's."""
        return CookieChanges.new_session(self.token, self.dont_remember, [self.admin_cookie])


async def _audit_both(
    ctx: AuthContext,
    conn: Connection,
    client: ClientInfo,
    actions: tuple[str, str],
    admin: Any,
    target: Any,
    target_org: Any,
    details: dict[str, Any],
) -> None:
    admin_side, target_side = actions
    await ctx.audit(conn, admin_side, client, user_id=admin, resource_id=target, new=details)
    await ctx.audit(conn, target_side, client, user_id=admin, org_id=target_org, resource_id=target, new=details)


async def impersonate(ctx: AuthContext, client: ClientInfo, current: Current, user_id: str, duration: int) -> Switched:
    """Open a ``duration``-second session as the user (never an admin; never a banned user)."""
    check_admin(ctx, current, "user", "impersonate", "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS")
    target = await target_user(ctx, user_id)
    if is_admin(platform_role(ctx, target)):
        raise auth_error(403, "YOU_CANNOT_IMPERSONATE_ADMINS")
    admin = current.user
    async with ctx.db.transaction() as conn:
        # Session guards run here too: a banned user cannot be impersonated (403 BANNED_USER).
        session = await ctx.create_session(
            conn,
            target.id,
            client,
            dont_remember=True,
            lifetime=duration,
            plugin_values={"impersonated_by": str(admin.id)},
        )
        details = {
            "impersonated_by": str(admin.id),
            "admin_email": admin.email,
            "user_email": target.email,
            "session_id": session["id"],
            "expires_at": session["expires_at"].isoformat(),
        }
        await _audit_both(
            ctx,
            conn,
            client,
            ("impersonation_start", "user_impersonated"),
            admin.id,
            target.id,
            session.get("active_organization_id"),
            details,
        )
    keep = f"{current.session['token']}:{'true' if current.dont_remember else ''}"
    cookie = admin_cookie(ctx, sign_value(ctx.secret, keep), ctx.auth.expires_in)
    return Switched(ctx.shapes.session_json(session), admin_user_json(ctx, target), session["token"], True, cookie)


async def stop_impersonating(ctx: AuthContext, client: ClientInfo, current: Current) -> Switched:
    """End the impersonation session ``current`` and go back to the admin's session kept in the cookie."""
    admin_id = current.session.get("impersonated_by")
    if not admin_id:
        raise AuthError(400, None, "You are not impersonating anyone")
    kept = read_admin_cookie(ctx, dict(client.cookies))
    found = await ctx.store.session_with_user(kept[0]) if kept is not None else None
    if kept is None or found is None or str(found[1].id) != str(admin_id):
        # Better Auth answers 500 here; the admin's session is gone or was never kept (a bearer client).
        raise AuthError(400, "ADMIN_SESSION_NOT_FOUND", "Failed to find admin session")
    admin_session, admin = found
    target = current.user
    async with ctx.db.transaction() as conn:
        await ctx.store.delete_session(conn, current.session["token"])
        details = {
            "impersonated_by": str(admin.id),
            "admin_email": admin.email,
            "user_email": target.email,
            "session_id": current.session["id"],
        }
        await _audit_both(
            ctx,
            conn,
            client,
            ("impersonation_stop", "user_impersonation_ended"),
            admin.id,
            target.id,
            current.session.get("active_organization_id"),
            details,
        )
    return Switched(
        ctx.shapes.session_json(admin_session),
        ctx.shapes.user_json(admin),
        admin_session["token"],
        kept[1],
        admin_cookie(ctx, "", 0),
    )


# -- organizations ------------------------------------------------------------------------------


@dataclass
class OrganizationPage:
    """One page of ``list-organizations``: ``{id, name, slug, createdAt, members}`` each, and the total."""

    organizations: list[dict[str, Any]]
    total: int


async def list_organizations(
    ctx: AuthContext, current: Current, search: str | None, limit: int, offset: int
) -> OrganizationPage:
    """Every organization of the platform by name or slug (404 ORGANIZATIONS_NOT_ENABLED without them)."""
    check_admin(ctx, current, "user", "list", "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS")
    found = await AdminQueries(ctx).list_organizations(search, limit, offset)
    if found is None:
        raise AuthError(404, "ORGANIZATIONS_NOT_ENABLED", "This app has no organizations")
    organizations, total = found
    for org in organizations:
        org["createdAt"] = iso(org["createdAt"])
    return OrganizationPage(organizations, total)
