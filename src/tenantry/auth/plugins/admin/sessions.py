"""``/admin/list-user-sessions``, ``/admin/revoke-user-session`` and ``/admin/revoke-user-sessions``."""

from __future__ import annotations

from tenantry.auth.plugins.admin import service
from tenantry.auth.plugins.admin.common import require_admin, user_id
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.validate import string


async def list_user_sessions(req: AuthRequest) -> Reply:
    current = await require_admin(req, "session", "list", "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS")
    return Reply({"sessions": await service.list_user_sessions(req.ctx, current, user_id(req.body))})


async def revoke_user_session(req: AuthRequest) -> Reply:
    current = await require_admin(req, "session", "revoke", "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS")
    token = string(req.body, "sessionToken")
    assert token is not None
    await service.revoke_user_session(req.ctx, req.client, current, token)
    return Reply({"success": True})


async def revoke_user_sessions(req: AuthRequest) -> Reply:
    current = await require_admin(req, "session", "revoke", "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS")
    await service.revoke_user_sessions(req.ctx, req.client, current, user_id(req.body))
    return Reply({"success": True})


ENDPOINTS = (
    Endpoint("POST", service.LIST_USER_SESSIONS, list_user_sessions),
    Endpoint("POST", service.REVOKE_USER_SESSION, revoke_user_session),
    Endpoint("POST", service.REVOKE_USER_SESSIONS, revoke_user_sessions),
)
