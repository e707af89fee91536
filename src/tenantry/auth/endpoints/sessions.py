"""``/ok``, ``/error``, ``/get-session``, ``/sign-out``, ``/list-sessions`` and the revoke endpoints."""

from __future__ import annotations

import html

from tenantry.auth.errors import auth_error
from tenantry.auth.router import AuthRequest, Endpoint, Reply
from tenantry.auth.services import sessions as service
from tenantry.auth.validate import string


async def ok(req: AuthRequest) -> Reply:
    return Reply({"ok": True})


async def error_page(req: AuthRequest) -> Reply:
    """Where OAuth errors land when no error callback was given (Better Auth's ``/error``)."""
    code = html.escape(req.query.get("error", "UNKNOWN"))[:100]
    page = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Sign-in error</title>"
        "<body style='font:16px system-ui;max-width:32rem;margin:4rem auto;padding:0 1rem'>"
        f"<h1>Something went wrong</h1><p>The sign-in could not be completed: <code>{code}</code>.</p>"
        "<p><a href='/'>Back to the app</a></p></body></html>"
    )
    return Reply(html=page)


async def get_session(req: AuthRequest) -> Reply:
    no_store = {"cache-control": "no-store", "pragma": "no-cache"}
    refresh = req.query.get("disableRefresh") != "true"
    lookup = await req.lookup(refresh=refresh)
    if lookup.current is None:
        return Reply(None, headers=no_store)
    current = lookup.current
    shapes = req.ctx.shapes
    body = {
        "session": shapes.session_json(current.session),
        "user": shapes.session_user_json(current.user, current.session),
    }
    return Reply(body, headers=no_store)


async def get_session_post(req: AuthRequest) -> Reply:
    raise auth_error(405, "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED")


async def sign_out(req: AuthRequest) -> Reply:
    token, _ = req.ctx.request_token(req.request)
    current = (await req.lookup(refresh=False)).current if token else None
    return Reply.of({"success": True}, await service.sign_out(req.ctx, req.client, token, current))


async def list_sessions(req: AuthRequest) -> Reply:
    current = await req.session(fresh=True)
    sessions = await req.ctx.store.sessions_of(current.user.id)
    return Reply([req.ctx.shapes.session_json(s) for s in sessions])


async def revoke_session(req: AuthRequest) -> Reply:
    current = await req.session()
    token = string(req.body, "token")
    assert token is not None
    return Reply.of({"status": True}, await service.revoke_session(req.ctx, req.client, current, token))


async def revoke_sessions(req: AuthRequest) -> Reply:
    current = await req.session()
    async with req.ctx.db.transaction() as conn:
        count = await req.ctx.store.delete_sessions_of(conn, current.user.id)
        revoked = {"sessions": "all", "count": count}
        await req.ctx.audit(
            conn, "session_revoke", req.client, session=current.session, resource_id=current.user.id, new=revoked
        )
    return Reply({"status": True}, clear_cookies=True)


async def revoke_other_sessions(req: AuthRequest) -> Reply:
    current = await req.session()
    await service.revoke_other_sessions(req.ctx, req.client, current)
    return Reply({"status": True})


ENDPOINTS = (
    Endpoint("GET", "/ok", ok),
    Endpoint("GET", "/error", error_page),
    Endpoint("GET", "/get-session", get_session),
    Endpoint("POST", "/get-session", get_session_post),
    Endpoint("POST", service.SIGN_OUT, sign_out),
    Endpoint("GET", "/list-sessions", list_sessions),
    Endpoint("POST", service.REVOKE_SESSION, revoke_session),
    Endpoint("POST", "/revoke-sessions", revoke_sessions),
    Endpoint("POST", service.REVOKE_OTHER_SESSIONS, revoke_other_sessions),
)
