"""``/ok``, ``/error``, ``/get-session``, ``/sign-out``, ``/list-sessions`` and the revoke endpoints."""

from __future__ import annotations

import html

from tenantry.auth.errors import auth_error
from tenantry.auth.router import AuthRequest, Endpoint, Reply
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
    if token:
        # Read first: the audit log names the session (by id; its token is a secret) and its user.
        current = (await req.lookup(refresh=False)).current
        async with req.ctx.db.transaction() as conn:
            await req.ctx.store.delete_session(conn, token)
            if current is not None:
                session = current.session
                await req.ctx.audit(
                    conn, "sign_out", req.client, session=session, resource_type="session", resource_id=session["id"]
                )
    return Reply({"success": True}, clear_cookies=True)


async def list_sessions(req: AuthRequest) -> Reply:
    current = await req.session(fresh=True)
    sessions = await req.ctx.store.sessions_of(current.user.id)
    return Reply([req.ctx.shapes.session_json(s) for s in sessions])


async def revoke_session(req: AuthRequest) -> Reply:
    current = await req.session()
    token = string(req.body, "token")
    assert token is not None
    async with req.ctx.db.transaction() as conn:
        # Only the caller's own sessions: someone else's token is silently left alone, as Better Auth does.
        target = next((s for s in await req.ctx.store.sessions_of(current.user.id, conn) if s["token"] == token), None)
        if await req.ctx.store.delete_session(conn, token, user_id=current.user.id) and target is not None:
            await req.ctx.audit(
                conn,
                "session_revoke",
                req.client,
                session=current.session,
                resource_type="session",
                resource_id=target["id"],
            )
    return Reply({"status": True}, clear_cookies=token == current.session["token"])


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
    async with req.ctx.db.transaction() as conn:
        count = await req.ctx.store.delete_sessions_of(conn, current.user.id, keep_token=current.session["token"])
        revoked = {"sessions": "others", "count": count}
        await req.ctx.audit(
            conn, "session_revoke", req.client, session=current.session, resource_id=current.user.id, new=revoked
        )
    return Reply({"status": True})


ENDPOINTS = (
    Endpoint("GET", "/ok", ok),
    Endpoint("GET", "/error", error_page),
    Endpoint("GET", "/get-session", get_session),
    Endpoint("POST", "/get-session", get_session_post),
    Endpoint("POST", "/sign-out", sign_out),
    Endpoint("GET", "/list-sessions", list_sessions),
    Endpoint("POST", "/revoke-session", revoke_session),
    Endpoint("POST", "/revoke-sessions", revoke_sessions),
    Endpoint("POST", "/revoke-other-sessions", revoke_other_sessions),
)
