"""``/admin/list-user-sessions``, ``/admin/revoke-user-session`` and ``/admin/revoke-user-sessions``."""

from __future__ import annotations

from tenantry.auth.errors import AuthError
from tenantry.auth.plugins.admin.common import require_admin, target_user, user_id
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.validate import string


async def list_user_sessions(req: AuthRequest) -> Reply:
    await require_admin(req, "session", "list", "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS")
    raw = user_id(req.body)
    try:
        sessions = await req.ctx.store.sessions_of(raw)
    except ValueError:  # not an id of this app: nobody's sessions
        sessions = []
    return Reply({"sessions": [req.ctx.shapes.session_json(s) for s in sessions]})


async def revoke_user_session(req: AuthRequest) -> Reply:
    ctx = req.ctx
    current = await require_admin(req, "session", "revoke", "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS")
    token = string(req.body, "sessionToken")
    assert token is not None
    found = await ctx.store.session_with_user(token)
    async with ctx.db.transaction() as conn:
        if await ctx.store.delete_session(conn, token) and found is not None:
            session, owner = found
            await ctx.audit(
                conn,
                "admin_session_revoke",
                req.client,
                session=current.session,
                resource_type="session",
                resource_id=session["id"],
                old={"user_id": str(owner.id), "email": owner.email},
            )
    return Reply({"success": True})


async def revoke_user_sessions(req: AuthRequest) -> Reply:
    ctx = req.ctx
    current = await require_admin(req, "session", "revoke", "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS")
    raw = user_id(req.body)
    try:
        user = await target_user(ctx, raw)
    except AuthError:  # Better Auth answers success for an unknown user too: nothing to revoke
        return Reply({"success": True})
    async with ctx.db.transaction() as conn:
        count = await ctx.store.delete_sessions_of(conn, user.id)
        await ctx.audit(
            conn,
            "admin_session_revoke",
            req.client,
            session=current.session,
            resource_id=user.id,
            new={"sessions": "all", "count": count},
        )
    return Reply({"success": True})


ENDPOINTS = (
    Endpoint("POST", "/admin/list-user-sessions", list_user_sessions),
    Endpoint("POST", "/admin/revoke-user-session", revoke_user_session),
    Endpoint("POST", "/admin/revoke-user-sessions", revoke_user_sessions),
)
