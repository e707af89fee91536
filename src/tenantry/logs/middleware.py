"""The request's id and its access line: a pure ASGI middleware, the outermost of the app.

The id comes from ``X-Request-ID`` only when the peer is a trusted proxy (``TENANTRY_TRUSTED_PROXIES``,
the peers whose ``X-Forwarded-For`` authentication believes) and the value is short and plain;
otherwise a new one is made. It is returned in the response's ``X-Request-ID``, put in the ASGI
scope (``REQUEST_ID_SCOPE_KEY``: ``App.context`` gives it to the audit log) and made the first of
the request's log fields (``tenantry.core.http.LOG_FIELDS``), which every line logged while the
request runs carries; the principal listener adds the user and organization once they are known,
tracing the trace id.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import time
from collections.abc import Callable, Collection
from typing import Any, Final

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantry.context import Principal
from tenantry.core.http import LOG_FIELDS, REQUEST_ID_SCOPE_KEY, log_who, route_template

HEADER: Final = b"x-request-id"
# Letters, digits and a few separators (UUIDs, hex, ULIDs, "Root=1-…"): nothing that could break a line.
_VALID_ID: Final = re.compile(rb"[A-Za-z0-9._:=+/@\-]{1,128}")

access = logging.getLogger("tenantry.access")

# Writes one line as logger, level, message and fields (``TenantryHandler.write_line``).
LineWriter = Callable[[str, int, str, dict[str, Any]], None]


def new_request_id() -> str:
    """A fresh request id (32 hex digits).

    From the process's pseudo-random generator, not ``uuid4`` (a system call per request): an id
    names a request in the logs, it guards nothing."""
    return f"{random.getrandbits(128):032x}"


def incoming_request_id(scope: Scope, trusted_proxies: Collection[str]) -> str | None:
    """The ``X-Request-ID`` a trusted proxy sent, when it is a plain value of at most 128 characters."""
    client = scope.get("client")
    if not client or client[0] not in trusted_proxies:
        return None
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            return value.decode("ascii") if _VALID_ID.fullmatch(value) else None
    return None


def principal_fields(request: Request, principal: Principal) -> None:
    """The principal listener: the user and organization ids on the rest of the request's lines."""
    log_who(principal.user_id, principal.org_id)


class RequestLogging:
    """Chooses the request id, binds it, returns it, and logs one access line when the answer is sent."""

    def __init__(
        self, app: ASGIApp, *, trusted_proxies: Collection[str], access_log: bool, write_line: LineWriter | None = None
    ) -> None:
        self.app = app
        self.trusted_proxies = frozenset(trusted_proxies)
        self.access_log = access_log
        self.write_line = write_line

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope, self.trusted_proxies) or new_request_id()
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        fields = {"request_id": request_id}
        token = LOG_FIELDS.set(fields)
        if scope["type"] == "websocket":
            try:
                await self.app(scope, receive, send)
            finally:
                _reset(token)
            return
        started = time.perf_counter()
        status = 500  # unless an answer starts: an exception escaped, the server answers 500
        header = (HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _reset(token)
            if self.access_log:
                self._log(scope, status, started, fields)

    def _log(self, scope: Scope, status: int, started: float, fields: dict[str, Any]) -> None:
        level = logging.ERROR if status >= 500 else logging.INFO
        if not access.isEnabledFor(level):
            return
        # The duration in hundredths of a millisecond, an integer: rounded and written without
        # float rounding and formatting, a fifth of the line's cost otherwise.
        hundredths = int((time.perf_counter() - started) * 100_000 + 0.5)
        tenths = (hundredths + 5) // 10
        route = route_template(scope)
        method = scope.get("method")
        message = f"{method} {route or '(no route)'} {status} {tenths // 10}.{tenths % 10}ms"
        line = {"method": method, "route": route, "status": status, "duration_ms": hundredths / 100, **fields}
        if self.write_line is not None:
            self.write_line(access.name, level, message, line)
            return
        # The fields as ``extra``: the JSON line has them as keys, the console shows them after the message.
        access.log(level, "%s", message, extra=line)


def _reset(token: Any) -> None:
    """Ends the request's log fields (requests that share a task, as in-process test clients do, start clean)."""
    # Set in another context (a task of its own): gone with it.
    with contextlib.suppress(ValueError):
        LOG_FIELDS.reset(token)
