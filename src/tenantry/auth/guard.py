"""The guard every authentication action passes, whether it comes to ``/api/auth`` or from a page's form.

An *action* is named by its ``/api/auth`` path (``/sign-in/email``), whichever door it comes in by:

- Rate limits: Better Auth's rule for the action, counted per client address. The sign-in page
  and ``POST /api/auth/sign-in/email`` share one counter, so a page is no way around the limit.
  A refusal is ``RateLimited``: 429, Better Auth's message, ``x-retry-after``.
- Origins (``OriginPolicy``): the API's rules on ``/api/auth`` requests. A page's form must always
  come from a trusted origin (the rule the API applies to requests carrying a cookie), since a
  form may be the very one that signs in and carries no cookie yet.
- Callback URLs (``callbackURL`` …) must be paths on this site or of trusted origins
  (``tenantry.auth.redirects``).
- Plugins' action checks (``AuthHooks.action_checks``): the admin plugin refuses an impersonation
  the actions that would change the credentials of the user it borrows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from tenantry.auth.errors import AuthError
from tenantry.auth.origin import OriginPolicy
from tenantry.auth.plugin import AuthHooks, SessionSource
from tenantry.auth.ratelimit import RateLimiter

if TYPE_CHECKING:
    from tenantry.auth.service import Current

# Better Auth's answer to a rate-limited request (it carries no code).
RATE_LIMIT_MESSAGE = "Too many requests. Please try again later."


class RateLimited(AuthError):
    """429 for a client over an action's limit; ``retry_after`` seconds until it may try again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(429, None, RATE_LIMIT_MESSAGE, **{"x-retry-after": str(retry_after)})
        self.retry_after = retry_after


class AuthGuard:
    """The checks of one app, shared by its ``/api/auth`` router and its pages."""

    def __init__(
        self,
        origins: OriginPolicy,
        limiter: RateLimiter | None,
        client_ip: Callable[[Request], str | None],
        hooks: AuthHooks,
    ) -> None:
        self.origins = origins
        self.limiter = limiter
        self.client_ip = client_ip
        self.hooks = hooks

    async def rate_limit(self, request: Request, action: str) -> None:
        """Count this attempt at ``action``; ``RateLimited`` when the client is over its limit."""
        if self.limiter is None:
            return
        retry = await self.limiter.check(self.client_ip(request) or "unknown", action)
        if retry is not None:
            raise RateLimited(retry)

    def check_urls(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` with their ``callbackURL``/``redirectTo``/… as checked (``OriginPolicy.check_urls``);
        403 for one that a client may not be sent to."""
        return self.origins.check_urls(values)

    async def check_action(self, method: str, action: str, session: SessionSource) -> None:
        """The plugins' action checks (each may refuse with an ``AuthError``)."""
        for check in self.hooks.action_checks:
            await check(method, action, session)

    # -- the two doors ------------------------------------------------------------------------

    async def endpoint(self, request: Request, path: str) -> None:
        """A request to ``/api/auth{path}``, before its body is read: the rate limit, then Better
        Auth's origin rules (by method, path and whether it carries a cookie)."""
        await self.rate_limit(request, path)
        self.origins.check_request(request, path, has_cookie="cookie" in request.headers)

    def form(self, request: Request) -> None:
        """A page's form POST: refused (403, the API's codes) unless it comes from a trusted origin."""
        self.origins.check_form(request)

    async def page_action(
        self,
        request: Request,
        action: str,
        *,
        current: Current | None = None,
        urls: Mapping[str, str | None] | None = None,
        method: str = "POST",
    ) -> None:
        """A page about to run ``action`` for ``current`` (after its form's origin check): the
        action's rate limit, the URLs it passes on, and the plugins' action checks."""
        await self.rate_limit(request, action)
        if urls:
            self.check_urls(dict(urls))

        async def session() -> Current | None:
            return current

        await self.check_action(method, action, session)
