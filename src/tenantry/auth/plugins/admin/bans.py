"""Bans: ``/admin/ban-user`` and ``/admin/unban-user``, and the guard refusing banned users a session.

A ban revokes every session of the user at once (in the ban's transaction) and refuses new ones
(password, social, magic link, passkey: every path goes through ``ctx.create_session`` or the
sign-in guard) with Better Auth's 403 ``BANNED_USER``. A ban with an expiry lifts itself the next
time the user signs in after it, as Better Auth's session hook does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tenantry.auth.errors import AuthError, auth_error, validation_error
from tenantry.auth.plugins.admin.common import admin_user_json, require_admin, target_user, user_id
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.service import AuthContext
from tenantry.auth.store import UserRecord
from tenantry.auth.validate import js_type, string
from tenantry.db import Connection

# Better Auth's default ``bannedUserMessage``.
BANNED_MESSAGE = "You have been banned from this application. Please contact support if you believe this is an error."
DEFAULT_REASON = "No reason"
LIFTED: dict[str, Any] = {"banned": False, "banReason": None, "banExpires": None}


def ban_is_over(user: UserRecord, now: dt.datetime) -> bool:
    expires = user.plugin.get("banExpires")
    return expires is not None and expires < now


def session_guard(ctx: AuthContext) -> Any:
    """The ``session_guards`` hook: 403 BANNED_USER for a banned user; an expired ban is lifted."""

    async def guard(conn: Connection | None, user: UserRecord) -> None:
        if not user.plugin.get("banned"):
            return
        now = dt.datetime.now(dt.UTC)
        if ban_is_over(user, now):
            changes = {**LIFTED, "updatedAt": now}
            if conn is not None:
                await ctx.store.update_user(conn, user.id, changes)
            else:
                async with ctx.db.transaction() as own:
                    await ctx.store.update_user(own, user.id, changes)
            return
        raise AuthError(403, "BANNED_USER", BANNED_MESSAGE)

    return guard


async def ban_user(req: AuthRequest) -> Reply:
    ctx, body = req.ctx, req.body
    current = await require_admin(req, "user", "ban", "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS")
    target_id = user_id(body)
    reason = string(body, "banReason", required=False)
    expires_in = body.get("banExpiresIn")
    if expires_in is not None and (isinstance(expires_in, bool) or not isinstance(expires_in, (int, float))):
        raise validation_error("body.banExpiresIn", f"Invalid input: expected number, received {js_type(expires_in)}")
    user = await target_user(ctx, target_id)
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
            conn, "user_ban", req.client, session=current.session, resource_id=user.id, new={**ban, "sessions": revoked}
        )
    return Reply({"user": admin_user_json(ctx, updated)})


async def unban_user(req: AuthRequest) -> Reply:
    ctx = req.ctx
    current = await require_admin(req, "user", "ban", "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS")
    user = await target_user(ctx, user_id(req.body))
    async with ctx.db.transaction() as conn:
        updated = await ctx.store.update_user(conn, user.id, {**LIFTED, "updatedAt": dt.datetime.now(dt.UTC)})
        if updated is None:
            raise auth_error(404, "USER_NOT_FOUND")
        was = {"reason": user.plugin.get("banReason"), "banned": bool(user.plugin.get("banned"))}
        await ctx.audit(conn, "user_unban", req.client, session=current.session, resource_id=user.id, old=was)
    return Reply({"user": admin_user_json(ctx, updated)})


ENDPOINTS = (
    Endpoint("POST", "/admin/ban-user", ban_user),
    Endpoint("POST", "/admin/unban-user", unban_user),
)
