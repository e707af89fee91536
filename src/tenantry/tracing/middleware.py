"""The request's server span, named by its route template once routing has found it.

OpenTelemetry's ASGI middleware opens the span before routing, when only the raw path is known
(which holds ids and tokens): it is opened named by the method alone, without the query string in
its attributes, and this middleware, inside it, renames it ``GET /api/projects/{id}`` and sets
``http.route`` when the app has answered.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantry.core.http import LOG_FIELDS, ROUTE_SCOPE_KEY, route_template

# Attributes that hold the raw URL; set again without the query string (tokens travel in it).
_PATH_ONLY = ("http.target", "url.path")
_URL = ("http.url", "url.full")


def span_details(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The server span's first name: the method (or the path of a WebSocket, which has none)."""
    return str(scope.get("method") or "websocket"), {}


def without_query(span: trace.Span, scope: dict[str, Any]) -> None:
    """A ``server_request_hook``: the span's URL attributes lose their query string."""
    if not scope.get("query_string") or not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    path = scope.get("path", "")
    for key in _PATH_ONLY:
        if key in attributes:
            span.set_attribute(key, path)
    for key in _URL:
        value = attributes.get(key)
        if isinstance(value, str):
            span.set_attribute(key, value.split("?", 1)[0])
    if "url.query" in attributes:
        span.set_attribute("url.query", "[redacted]")


class RouteNamer:
    """Inside the ASGI instrumentation: names the current (server) span after the route template.

    Done as the answer starts: routing has run by then, and the instrumentation ends the span when
    the answer's last part is sent, before control comes back here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        span = trace.get_current_span()
        if not span.is_recording():
            await self.app(scope, receive, send)
            return

        async def send_named(message: Message) -> None:
            if message["type"] == "http.response.start":
                name(span, scope)
            await send(message)

        # Log lines name the trace they belong to: those of the request, and its access line.
        fields = LOG_FIELDS.get()
        if fields is not None:
            fields["trace_id"] = format(span.get_span_context().trace_id, "032x")
        await self.app(scope, receive, send_named)


def name(span: trace.Span, scope: Scope) -> None:
    """Name ``span`` ``METHOD /route/{template}`` and set ``http.route``, once the route is known."""
    template = route_template(scope)
    if template is None:
        return
    span.update_name(f"{scope['method']} {template}")
    span.set_attribute("http.route", template)
    if scope.get(ROUTE_SCOPE_KEY) is not None:
        # The dispatcher's endpoint is finer than the path, which may hold a token.
        for key in _PATH_ONLY:
            span.set_attribute(key, template)
        for key in _URL:
            value = (getattr(span, "attributes", None) or {}).get(key)
            if isinstance(value, str):
                span.set_attribute(
                    key, value.split("://", 1)[0] + "://" + value.split("://", 1)[-1].split("/", 1)[0] + template
                )
