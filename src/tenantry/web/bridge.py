"""Run an ``/api/auth`` endpoint's handler in-process for a page: the same logic, no HTTP round trip.

Pages post forms to their own URLs; the handler behind the matching Better Auth endpoint does the
work (sign-in, sign-up with an organization, invitations, sessions …), so the rules, rate limits,
audit rows and e-mails are exactly those of the API. The page then shapes the answer as HTML and
copies the cookies the endpoint set or cleared onto its own response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from tenantry.auth.errors import AuthError
from tenantry.auth.router import AuthRequest, Reply
from tenantry.db.errors import DataRejected

if TYPE_CHECKING:
    from tenantry.web.services import Services


@dataclass
class Outcome:
    """An endpoint's reply, or the error it raised (exactly one is set)."""

    reply: Reply | None = None
    error: AuthError | None = None

    @property
    def ok(self) -> bool:
        return self.reply is not None

    @property
    def body(self) -> Any:
        return self.reply.body if self.reply is not None else None

    @property
    def code(self) -> str | None:
        return self.error.code if self.error is not None else None

    @property
    def message(self) -> str:
        return self.error.message if self.error is not None else ""


async def call_auth(
    runtime: Services,
    request: Request,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    query: dict[str, str] | None = None,
) -> Outcome:
    """Call the ``/api/auth`` endpoint ``method path`` with ``body`` as if the browser had sent it."""
    ctx = runtime.auth.ctx
    resolved = runtime.auth.router.resolve(method, path)
    if resolved is None:
        raise LookupError(f"no auth endpoint {method} {path}")
    handler, params = resolved
    auth_request = AuthRequest(ctx, request, body or {}, params)
    if query is not None:
        auth_request.query = query
    try:
        if ctx.limiter is not None:
            retry = await ctx.limiter.check(ctx.client_ip(request) or "unknown", path)
            if retry is not None:
                return Outcome(error=AuthError(429, "TOO_MANY_REQUESTS", "Too many attempts. Try again in a minute."))
        ctx.origins.check_urls(auth_request.body)
        return Outcome(reply=await handler(auth_request))
    except DataRejected:
        return Outcome(error=AuthError(400, "VALIDATION_ERROR", "A value is too long or not valid for its field"))
    except AuthError as exc:
        return Outcome(error=exc)


def apply_cookies(runtime: Services, outcome: Outcome, response: Response) -> Response:
    """Copy the session cookie an endpoint set (or cleared) and its own ``set-cookie`` headers."""
    reply = outcome.reply
    if reply is None:
        return response
    ctx = runtime.auth.ctx
    if reply.set_session is not None:
        token, dont_remember = reply.set_session
        ctx.cookies.set_session(response, token, ctx.auth.expires_in, dont_remember)
    elif reply.clear_cookies:
        ctx.cookies.clear(response)
    for key, value in reply.headers.items():
        if key.lower() == "set-cookie":
            response.headers.append("set-cookie", value)
    for cookie in reply.cookies:
        response.headers.append("set-cookie", cookie)
    return response
