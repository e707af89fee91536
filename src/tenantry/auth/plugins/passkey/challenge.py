"""The pending ceremony: a verification row holding the expected challenge, named by a signed cookie.

As Better Auth does it: generating options stores ``{"type", "expectedChallenge", "userData"}``
under a random identifier for five minutes and sets the signed cookie ``<prefix>.better-auth-passkey``
to that identifier; verifying reads the cookie and consumes the row, so a challenge answers once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from tenantry.auth.crypto import generate_id, sign_value
from tenantry.auth.errors import auth_error
from tenantry.auth.router import AuthRequest
from tenantry.auth.service import AuthContext

MAX_AGE = 300  # seconds a ceremony may take (Better Auth's MAX_AGE_IN_SECONDS)
COOKIE = "better-auth-passkey"  # Better Auth's advanced.webAuthnChallengeCookie
Ceremony = Literal["registration", "authentication"]


@dataclass(frozen=True)
class Pending:
    """What the options promised: the challenge (base64url) and the user it was made for."""

    ceremony: str
    challenge: str
    user_id: str


def cookie_name(ctx: AuthContext) -> str:
    """``better-auth.better-auth-passkey``, ``__Secure-``-prefixed on https like the session cookie."""
    lead = "__Secure-" if ctx.cookies.names.secure else ""
    return f"{lead}{ctx.auth.cookie_prefix}.{COOKIE}"


async def remember(req: AuthRequest, ceremony: Ceremony, challenge: str, user_id: str) -> str:
    """Store the challenge; the ``set-cookie`` header value that names it."""
    ctx = req.ctx
    token = generate_id()
    value = orjson.dumps({"type": ceremony, "expectedChallenge": challenge, "userData": {"id": user_id}}).decode()
    previous = ctx.cookies.read_signed(req.request, cookie_name(ctx))
    async with ctx.db.transaction() as conn:
        if previous:
            # The browser's earlier ceremony (abandoned: its cookie is about to be replaced) goes now.
            await ctx.store.consume_verification(conn, previous)
        await ctx.store.create_verification(conn, token, value, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=MAX_AGE))
    secure = "; Secure" if ctx.cookies.names.secure else ""
    signed = sign_value(ctx.secret, token)
    return f"{cookie_name(ctx)}={signed}; Max-Age={MAX_AGE}; Path=/; HttpOnly{secure}; SameSite=Lax"


async def consume(req: AuthRequest, ceremony: Ceremony) -> Pending:
    """The pending ceremony of this browser, used up; 400 CHALLENGE_NOT_FOUND when there is none
    (no or forged cookie, already used, expired, or made for the other ceremony)."""
    ctx = req.ctx
    token = ctx.cookies.read_signed(req.request, cookie_name(ctx))
    if not token:
        raise auth_error(400, "CHALLENGE_NOT_FOUND")
    async with ctx.db.transaction() as conn:
        found = await ctx.store.consume_verification(conn, token)
    if found is None or found[1] < dt.datetime.now(dt.UTC):
        raise auth_error(400, "CHALLENGE_NOT_FOUND")
    try:
        data: Any = orjson.loads(found[0])
        pending = Pending(str(data["type"]), str(data["expectedChallenge"]), str(data["userData"]["id"]))
    except (orjson.JSONDecodeError, KeyError, TypeError):
        # Not a row this plugin wrote (the cookie is signed, so only a stale or foreign format lands here).
        raise auth_error(400, "CHALLENGE_NOT_FOUND") from None
    if pending.ceremony != ceremony:
        raise auth_error(400, "CHALLENGE_NOT_FOUND")
    return pending
