"""``/admin/impersonate-user`` and ``/admin/stop-impersonating``.

Impersonating opens a session for the target marked ``impersonatedBy`` (the admin's id) that lasts
``TENANTRY_IMPERSONATION_DURATION`` seconds (an hour by default) and is never extended; the
admin's own session token is kept in the signed ``admin_session`` cookie, as Better Auth does, and
stop-impersonating ends the impersonation session and restores it. Admins cannot be impersonated
(Better Auth's admin role lacks ``impersonate-admins``), and an impersonation session can never
reach the admin endpoints or change the target's credentials (see ``AdminPlugin.install``).

Both sides are audited: ``impersonation_start``/``impersonation_stop`` name the admin and no
organization; ``user_impersonated``/``user_impersonation_ended`` carry the target's active
organization, so the target's organization sees who acted as one of its members.
"""

from __future__ import annotations

from typing import Any

from tenantry.auth.crypto import sign_value, unsign_value
from tenantry.auth.errors import AuthError, auth_error
from tenantry.auth.plugins.admin.access import is_admin
from tenantry.auth.plugins.admin.common import (
    admin_user_json,
    platform_role,
    require_admin,
    target_user,
    user_id,
)
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.service import AuthContext, ClientInfo
from tenantry.db import Connection


def admin_cookie_name(ctx: AuthContext) -> str:
    """``better-auth.admin_session`` (``__Secure-``-prefixed on https, like the session cookie)."""
    return ctx.cookies.names.session_token.removesuffix("session_token") + "admin_session"


def _cookie(ctx: AuthContext, value: str, max_age: int) -> str:
    # The session cookie's attributes, in better-call's order.
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


def make_impersonate(duration: int) -> Any:
    """The impersonate-user handler with the configured session lifetime."""

    async def impersonate_user(req: AuthRequest) -> Reply:
        ctx = req.ctx
        current = await require_admin(req, "user", "impersonate", "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS")
        target = await target_user(ctx, user_id(req.body))
        if is_admin(platform_role(ctx, target)):
            raise auth_error(403, "YOU_CANNOT_IMPERSONATE_ADMINS")
        admin = current.user
        async with ctx.db.transaction() as conn:
            # Session guards run here too: a banned user cannot be impersonated (403 BANNED_USER).
            session = await ctx.create_session(
                conn,
                target.id,
                req.client,
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
                req.client,
                ("impersonation_start", "user_impersonated"),
                admin.id,
                target.id,
                session.get("active_organization_id"),
                details,
            )
        keep = f"{current.session['token']}:{'true' if current.dont_remember else ''}"
        cookie = _cookie(ctx, sign_value(ctx.secret, keep), ctx.auth.expires_in)
        return Reply(
            {"session": ctx.shapes.session_json(session), "user": admin_user_json(ctx, target)},
            set_session=(session["token"], True),
            headers={"set-cookie": cookie},
        )

    return impersonate_user


async def stop_impersonating(req: AuthRequest) -> Reply:
    ctx = req.ctx
    current = await req.session()
    admin_id = current.session.get("impersonated_by")
    if not admin_id:
        raise AuthError(400, None, "You are not impersonating anyone")
    kept = read_admin_cookie(ctx, dict(req.request.cookies))
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
            req.client,
            ("impersonation_stop", "user_impersonation_ended"),
            admin.id,
            target.id,
            current.session.get("active_organization_id"),
            details,
        )
    return Reply(
        {"session": ctx.shapes.session_json(admin_session), "user": ctx.shapes.user_json(admin)},
        set_session=(admin_session["token"], kept[1]),
        headers={"set-cookie": _cookie(ctx, "", 0)},
    )


def endpoints(duration: int) -> tuple[Endpoint, ...]:
    """The two impersonation endpoints."""
    return (
        Endpoint("POST", "/admin/impersonate-user", make_impersonate(duration)),
        Endpoint("POST", "/admin/stop-impersonating", stop_impersonating),
    )
