"""Requests that fail for a reason other than what the client sent: answered, counted, logged once.

Three kinds, each counted in ``tenantry_http_failures{kind}``:

- ``database_unavailable``: the database refused or dropped the connection (an outage, a restart,
  a failover). 503 ``DATABASE_UNAVAILABLE`` with ``Retry-After``, no traceback, and one warning
  line per outage (the first failure after 5 s without one), not one per request;
- ``client_disconnected``: the client went away before its body arrived in full. Nobody is left to
  answer: counted, logged at DEBUG, and recorded as nginx's 499 in the access line and metrics;
- ``internal_error``: anything else, a bug: 500 ``INTERNAL_ERROR`` and one line with its traceback.

The handlers of the first two run in Starlette's ``ExceptionMiddleware``, which answers and is done.
A bug reaches ``ServerErrorMiddleware`` instead, which answers with ``unexpected_error_handler``
and then raises the exception again, for the server to log and for error tracking to see; uvicorn
would then log it a second time and close the connection under the client. ``AnsweringStarlette``
keeps the exception from the server once the answer is complete.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from tenantry.core.http import error_response
from tenantry.core.metrics import HTTP_FAILURES
from tenantry.core.routing import IndexedRouter
from tenantry.db.errors import DatabaseUnavailable
from tenantry.errors import ApiError

log = logging.getLogger("tenantry.http")

INTERNAL_ERROR: Final = "internal_error"
DATABASE_UNAVAILABLE: Final = "database_unavailable"
CLIENT_DISCONNECTED: Final = "client_disconnected"
FAILURE_KINDS: Final = (INTERNAL_ERROR, DATABASE_UNAVAILABLE, CLIENT_DISCONNECTED)

# What a client should wait before trying again while the database is away: a restart or a
# failover takes seconds, and a pool reconnects at the first request after it.
DATABASE_RETRY_AFTER: Final = 1
# The status nginx records for a client that closed the connection before the answer; no client
# ever reads it.
CLIENT_CLOSED_REQUEST: Final = 499
# A failure this long after the previous one starts a new outage, which is logged.
_OUTAGE_QUIET_SECONDS: Final = 5.0
_last_database_failure: float | None = None

for _kind in FAILURE_KINDS:
    HTTP_FAILURES.labels(_kind)  # every kind shows on /metrics from the start, at 0


def is_known_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of the environment (no bug): error tracking leaves these out."""
    return isinstance(exc, DatabaseUnavailable | ClientDisconnect)


def database_unavailable_response(exc: DatabaseUnavailable) -> Response:
    """503 ``DATABASE_UNAVAILABLE`` with ``Retry-After``; counted, and logged once per outage."""
    global _last_database_failure
    HTTP_FAILURES.labels(DATABASE_UNAVAILABLE).inc()
    now = time.monotonic()
    if _last_database_failure is None or now - _last_database_failure > _OUTAGE_QUIET_SECONDS:
        log.warning("database unavailable: %s; requests are answered 503 until it is back", exc)
    _last_database_failure = now
    return error_response(
        ApiError(
            503,
            "DATABASE_UNAVAILABLE",
            "The database is unavailable; try again shortly",
            retryAfter=DATABASE_RETRY_AFTER,
        )
    )


async def database_unavailable_handler(request: Request, exc: Exception) -> Response:
    """``ExceptionMiddleware``'s handler of ``DatabaseUnavailable``."""
    assert isinstance(exc, DatabaseUnavailable)
    return database_unavailable_response(exc)


async def client_disconnected_handler(request: Request, exc: Exception) -> Response:
    """``ExceptionMiddleware``'s handler of ``ClientDisconnect``: nothing to answer, nothing to report."""
    HTTP_FAILURES.labels(CLIENT_DISCONNECTED).inc()
    log.debug("client disconnected before its request body arrived: %s %s", request.method, request.url.path)
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    """``ServerErrorMiddleware``'s handler: a known fault raised outside the routes, or a bug (500)."""
    if isinstance(exc, DatabaseUnavailable):
        return database_unavailable_response(exc)
    if isinstance(exc, ClientDisconnect):
        return await client_disconnected_handler(request, exc)
    HTTP_FAILURES.labels(INTERNAL_ERROR).inc()
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(ApiError(500, "INTERNAL_ERROR", "Internal server error"))


class AnsweringStarlette(Starlette):
    """Starlette whose answered errors stay answered: the connection survives a 500.

    ``ServerErrorMiddleware`` raises every exception again after its handler answered. Error
    tracking (Sentry's integration wraps this app's ``__call__``) still sees it; the server does
    not, once the answer went out whole: it would log a second traceback and drop the connection
    (uvicorn closes it without ``Connection: close``), so a client reusing it meets a reset. An
    exception before the answer was complete still reaches the server, which must cut the
    half-sent response off.

    Its router is an ``IndexedRouter``: the same routes, tried only where the path can match.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.router = IndexedRouter(self.router.routes, lifespan=kwargs.get("lifespan"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        answered = False

        async def tracking(message: Message) -> None:
            nonlocal answered
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = True

        try:
            await super().__call__(scope, receive, tracking)
        except Exception:
            if not answered:
                raise
