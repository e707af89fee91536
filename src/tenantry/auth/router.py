"""The ``/api/auth/*`` router: Better Auth's request handling around every endpoint.

In order: unknown route -> 404 with an empty body; rate limit -> 429 with ``x-retry-after``;
origin checks -> 403; body parsing (JSON or form) -> 400; callback URLs -> 403; plugins' action
checks; the endpoint; then cookies (set, re-issued or cleared) and Better Auth's
``set-auth-token`` header. The checks are ``AuthGuard``'s, which the web pages pass too.

Endpoints are thin: they read and check the body as Better Auth's schemas do, call a typed
service (the one the pages call) and shape its result as a ``Reply``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tenantry.auth.cookies import CookieChanges
from tenantry.auth.errors import AuthError, auth_error, value_rejected
from tenantry.auth.service import BASE_PATH, AuthContext, Current, Lookup
from tenantry.core.http import ROUTE_SCOPE_KEY, log_who
from tenantry.db.errors import DataRejected

log = logging.getLogger("tenantry.auth")

MAX_BODY = 64 * 1024
# What a URL keeps as it is in a Location header; anything else (non-ASCII, spaces, control
# characters, quotes) is percent-encoded as a browser's URL parser would: a header is ASCII.
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"


def location(url: str) -> str:
    """``url`` fit for a ``Location`` header (a callback URL may hold any character a client sent)."""
    return quote(url, safe=_URL_SAFE)


@dataclass
class Reply:
    """What an endpoint answers. ``body`` is JSON (``None`` is JSON ``null``) unless ``empty``."""

    body: Any = None
    status: int = 200
    set_session: tuple[str, bool] | None = None  # (token, dont_remember)
    clear_cookies: bool = False
    redirect: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    empty: bool = False
    html: str | None = None
    # Complete ``Set-Cookie`` values beyond the session's (plugins' cookies), sent after it in order.
    cookies: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, body: Any, changes: CookieChanges, **fields: Any) -> Reply:
        """``body`` with the cookies a service changed."""
        return cls(
            body, set_session=changes.session, clear_cookies=changes.clear, cookies=list(changes.others), **fields
        )


class AuthRequest:
    """One request to an endpoint: parsed body and query, and its session on demand."""

    def __init__(
        self,
        ctx: AuthContext,
        request: Request,
        body: dict[str, Any],
        params: dict[str, str],
        query: dict[str, str] | None = None,
    ) -> None:
        self.ctx = ctx
        self.request = request
        self.body = body
        self.query = dict(request.query_params) if query is None else query
        self.params = params
        self._lookup: Lookup | None = None

    @property
    def client(self) -> Any:
        return self.ctx.client(self.request)

    @property
    def looked_up(self) -> Lookup | None:
        """The session lookup the endpoint made, if it made one."""
        return self._lookup

    async def lookup(self, *, refresh: bool = True) -> Lookup:
        """The request's session, read once (the router re-issues or clears cookies from it)."""
        if self._lookup is None:
            self._lookup = await self.ctx.lookup(self.request, refresh=refresh)
            if (current := self._lookup.current) is not None:
                # The endpoint's log lines and access line name who asked, as an API request's do.
                log_who(current.user.id, current.session.get("active_organization_id"))
        return self._lookup

    async def session(self, *, fresh: bool = False) -> Current:
        """The caller's session, or 401 UNAUTHORIZED (403 SESSION_NOT_FRESH when ``fresh`` is required)."""
        current = (await self.lookup()).current
        if current is None:
            raise auth_error(401, "UNAUTHORIZED")
        if fresh and not self.ctx.is_fresh(current.session):
            raise auth_error(403, "SESSION_NOT_FRESH")
        return current

    async def optional_session(self) -> Current | None:
        return (await self.lookup()).current


Handler = Callable[[AuthRequest], Awaitable[Reply]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # "/sign-in/email", or with one parameter: "/reset-password/{token}"
    handler: Handler

    def pattern(self) -> re.Pattern[str]:
        # Endpoint paths are letters, '-' and '/', so only the placeholders need translating.
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path) + "$")


class AuthRouter:
    """Dispatches ``/api/auth/<path>`` to registered endpoints (plugins add theirs)."""

    def __init__(self, ctx: AuthContext) -> None:
        self.ctx = ctx
        self._static: dict[tuple[str, str], Handler] = {}
        self._dynamic: list[tuple[str, re.Pattern[str], Handler, str]] = []

    def add(self, *endpoints: Endpoint) -> None:
        for ep in endpoints:
            if "{" in ep.path:
                self._dynamic.append((ep.method, ep.pattern(), ep.handler, ep.path))
            else:
                self._static[(ep.method, ep.path)] = ep.handler

    def endpoints(self) -> list[tuple[str, str]]:
        """Every registered endpoint as ``(method, path template)``, in registration order."""
        return [*self._static, *((method, template) for method, _, _, template in self._dynamic)]

    def route(self) -> Route:
        return Route(
            BASE_PATH + "/{path:path}",
            self.dispatch,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"],
        )

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        found = self.endpoint(method, path)
        return None if found is None else (found[0], found[1])

    def endpoint(self, method: str, path: str) -> tuple[Handler, dict[str, str], str] | None:
        """The handler of ``method path``, its parameters and its template (``/reset-password/{token}``)."""
        # HEAD is not mapped to GET: several GET endpoints consume one-time tokens (Better Auth 404s it too).
        handler = self._static.get((method, path))
        if handler is not None:
            return handler, {}, path
        for ep_method, pattern, ep_handler, template in self._dynamic:
            if ep_method == method and (m := pattern.match(path)):
                return ep_handler, m.groupdict(), template
        return None

    async def dispatch(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        resolved = self.endpoint(request.method, path)
        if resolved is None:
            return Response(status_code=404)  # Better Auth: empty body, no content type
        handler, params, template = resolved
        # Logs and metrics name the endpoint, not the catch-all route (nor the token in its path).
        request.scope[ROUTE_SCOPE_KEY] = BASE_PATH + template
        ctx = self.ctx
        guard = ctx.guard
        try:
            await guard.endpoint(request, path)
            body = await self._body(request) if request.method in ("POST", "PUT", "PATCH") else {}
            # Endpoints see each redirect target as it was checked, never the raw text.
            body = guard.check_urls(body)
            query = guard.check_urls(dict(request.query_params))
            auth_request = AuthRequest(ctx, request, body, params, query)
            await guard.check_action(request.method, path, auth_request.optional_session)
            reply = await handler(auth_request)
        except DataRejected:
            exc = value_rejected()
            return _json(exc.body(), exc.status)
        except AuthError as exc:
            response = _json(exc.body(), exc.status)
            for key, value in exc.headers.items():
                response.headers[key] = value
            return response
        return self._respond(reply, auth_request)

    async def _body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise AuthError(413, "PAYLOAD_TOO_LARGE", "Request body is too large")
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if not raw.strip():
            return {}
        if ctype == "application/x-www-form-urlencoded":
            try:
                return dict(parse_qsl(raw.decode(), keep_blank_values=True))
            except UnicodeDecodeError:
                raise AuthError(400, "BAD_REQUEST", "Invalid form body") from None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise AuthError(400, "BAD_REQUEST", "Invalid JSON in request body") from None
        if not isinstance(data, dict):
            raise auth_error(400, "BODY_MUST_BE_AN_OBJECT")
        return data

    def _respond(self, reply: Reply, request: AuthRequest) -> Response:
        ctx = self.ctx
        if reply.redirect is not None:
            response: Response = Response(status_code=302, headers={"location": location(reply.redirect)})
        elif reply.html is not None:
            response = Response(reply.html, status_code=reply.status, media_type="text/html")
        elif reply.empty:
            response = Response(status_code=reply.status, media_type="application/json")
        else:
            response = _json(reply.body, reply.status)
        for key, value in reply.headers.items():
            response.headers[key] = location(value) if key.lower() == "location" else value
        lookup = request.looked_up
        changes = CookieChanges(reply.set_session, reply.clear_cookies, list(reply.cookies))
        if reply.set_session is not None:
            _expose_auth_token(response, ctx.cookies.signed_session_value(reply.set_session[0]))
        elif lookup is not None and lookup.stale:
            changes.clear = True
        elif (
            not reply.clear_cookies
            and lookup is not None
            and lookup.current is not None
            and lookup.current.refreshed
            and lookup.current.via_cookie
        ):
            # Refreshed by this request: re-issue the cookie with a fresh Max-Age, same value.
            changes.session = (lookup.current.session["token"], False)
        ctx.write_cookies(response, changes)
        return response


def _json(body: Any, status: int) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _expose_auth_token(response: Response, value: str) -> None:
    # Better Auth's bearer plugin: the new session token for clients that cannot read cookies.
    response.headers["set-auth-token"] = value
    response.headers["access-control-expose-headers"] = "set-auth-token"
