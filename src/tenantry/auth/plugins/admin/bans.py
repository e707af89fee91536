"""Bans: ``/admin/ban-user`` and ``/admin/unban-user``, and the guard refusing banned users a session.

A ban revokes every session of the user at once (in the ban's transaction) and refuses new ones
(password, social, magic link, passkey: every path goes through ``ctx.create_session`` or the
sign-in guard) with Better Auth's 403 ``BANNED_USER``. A ban with an expiry lifts itself the next
time the user signs in after it, as Better Auth's session hook does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from tenantry.auth.errors import AuthError, validation_error
from tenantry.auth.plugins.admin import service
from tenantry.auth.plugins.admin.common import require_admin, user_id
from tenantry.auth.plugins.admin.service import BANNED_MESSAGE, LIFTED
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.service import AuthContext
from tenantry.auth.store import UserRecord
from tenantry.auth.validate import js_type, string
from tenantry.db import Connection


def ban_is_over(user: UserRecord, now: dt.datetime) -> bool:
    expires = user.plugin.get("banExpires")
    return expires is not None and expires < now


class BanGuard:
    """The ``session_guards`` hook: 403 BANNED_USER for a banned user; an expired ban is lifted.

    ``admits`` says the same in SQL, for a statement that finds a credential's user and counts
    its use at once (an API key's): only a user this guard would let through is counted."""

    def __init__(self, ctx: AuthContext) -> None:
        self.ctx = ctx
        keys = {f.name: f.key for f in ctx.store.t.plugin_user_fields}
        self._banned, self._expires = keys.get("banned"), keys.get("banExpires")

    async def __call__(self, conn: Connection | None, user: UserRecord) -> None:
        if not user.plugin.get("banned"):
            return
        now = dt.datetime.now(dt.UTC)
        if ban_is_over(user, now):
            changes = {**LIFTED, "updatedAt": now}
            ctx = self.ctx
            if conn is not None:
                await ctx.store.update_user(conn, user.id, changes)
            else:
                async with ctx.db.transaction() as own:
                    await ctx.store.update_user(own, user.id, changes)
            return
        raise AuthError(403, "BANNED_USER", BANNED_MESSAGE)

    def admits(self, users: sa.Table, now: Any) -> Any | None:
        """Users this guard lets through, as a condition on ``users`` at time ``now`` (a bind
        parameter); None when the ban columns are not there to read."""
        if self._banned is None or self._expires is None:
            return None
        banned, expires = users.c[self._banned], users.c[self._expires]
        return sa.or_(banned.is_(None), banned.is_(False), sa.and_(expires.is_not(None), expires < now))


def session_guard(ctx: AuthContext) -> BanGuard:
    """The ``session_guards`` hook of the admin plugin (``BanGuard``)."""
    return BanGuard(ctx)


async def ban_user(req: AuthRequest) -> Reply:
    body = req.body
    current = await require_admin(req, "user", "ban", "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS")
    target_id = user_id(body)
    reason = string(body, "banReason", required=False)
    expires_in = body.get("banExpiresIn")
    if expires_in is not None and (isinstance(expires_in, bool) or not isinstance(expires_in, (int, float))):
        raise validation_error("body.banExpiresIn", f"Invalid input: expected number, received {js_type(expires_in)}")
    user = await service.ban_user(req.ctx, req.client, current, target_id, reason=reason, expires_in=expires_in)
    return Reply({"user": user})


async def unban_user(req: AuthRequest) -> Reply:
    current = await require_admin(req, "user", "ban", "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS")
    return Reply({"user": await service.unban_user(req.ctx, req.client, current, user_id(req.body))})


ENDPOINTS = (
    Endpoint("POST", service.BAN_USER, ban_user),
    Endpoint("POST", service.UNBAN_USER, unban_user),
)
