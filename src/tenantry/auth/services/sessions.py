"""Signing out and revoking sessions."""

from __future__ import annotations

from tenantry.auth.cookies import CookieChanges
from tenantry.auth.service import AuthContext, ClientInfo, Current

SIGN_OUT = "/sign-out"
REVOKE_SESSION = "/revoke-session"
REVOKE_OTHER_SESSIONS = "/revoke-other-sessions"


async def sign_out(ctx: AuthContext, client: ClientInfo, token: str | None, current: Current | None) -> CookieChanges:
    """End the session ``token`` (the request's, ``current`` when it is still valid): the session
    cookies are cleared whatever happened."""
    if token:
        async with ctx.db.transaction() as conn:
            await ctx.store.delete_session(conn, token)
            if current is not None:
                # The audit log names the session by id (its token is a secret) and its user.
                session = current.session
                await ctx.audit(
                    conn, "sign_out", client, session=session, resource_type="session", resource_id=session["id"]
                )
    return CookieChanges.cleared()


async def revoke_session(ctx: AuthContext, client: ClientInfo, current: Current, token: str) -> CookieChanges:
    """End one of the caller's sessions by its token (clearing the cookies when it is the caller's own).

    Someone else's token is silently left alone, as Better Auth does."""
    async with ctx.db.transaction() as conn:
        target = next((s for s in await ctx.store.sessions_of(current.user.id, conn) if s["token"] == token), None)
        if await ctx.store.delete_session(conn, token, user_id=current.user.id) and target is not None:
            await ctx.audit(
                conn,
                "session_revoke",
                client,
                session=current.session,
                resource_type="session",
                resource_id=target["id"],
            )
    return CookieChanges.cleared() if token == current.session["token"] else CookieChanges()


async def revoke_other_sessions(ctx: AuthContext, client: ClientInfo, current: Current) -> None:
    """End every session of the caller's user but the caller's own."""
    async with ctx.db.transaction() as conn:
        count = await ctx.store.delete_sessions_of(conn, current.user.id, keep_token=current.session["token"])
        revoked = {"sessions": "others", "count": count}
        await ctx.audit(
            conn, "session_revoke", client, session=current.session, resource_id=current.user.id, new=revoked
        )
