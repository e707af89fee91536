"""Requests by route template, method and status, and their latency: a pure ASGI middleware.

The route label is the endpoint's template (``tenantry.core.http.route_template``, the same name logs
and traces use: ``/api/projects/{id}``, ``/api/auth/sign-in/email``), never the path, so
neither ids nor whatever a scanner tries become label values; a path no route matched is
``<unmatched>``, and the method is one of the standard ones or ``OTHER``.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantry.core.http import route_template as endpoint_template
from tenantry.core.metrics import HTTP_DURATION, HTTP_REQUESTS, UNMATCHED_ROUTE

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The template of the route that served ``scope``, or ``<unmatched>``."""
    template = endpoint_template(scope)
    if template is not None:
        return template or "/"
    return UNMATCHED_ROUTE


class HttpMetrics:
    """Counts every HTTP request and times it, from arrival to the end of its response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The labelled series by (route, method, status): ``labels()`` validates and locks on every
        # call, and the set is small (templates by methods by statuses), so each is looked up once.
        self.series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            route = route_template(scope)
            series = self.series.get((route, method, status))
            if series is None:
                series = HTTP_REQUESTS.labels(route, method, str(status)), HTTP_DURATION.labels(route, method)
                self.series[route, method, status] = series
            series[0].inc()
            series[1].observe(elapsed)
