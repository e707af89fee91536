"""A careless capability for the logging tests: it logs every request's headers and body and every
response's headers and body, as a hurried developer might, through both the standard library and
structlog. The redaction processor must still keep every secret out of the lines.

It also serves ``/test/context``: the request id ``App.context`` hands to the audit log, and a line
logged in the request after the principal is known.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import structlog
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantry.core import App, Capability

careless = logging.getLogger("tenantry.test.careless")
structured = structlog.get_logger("tenantry.test.structured")


class LogEverything:
    """Logs what comes in and what goes out, secrets and all."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}

        async def receive_logged() -> Message:
            message = await receive()
            if message.get("body"):
                careless.info("request body of %s: %s", scope["path"], message["body"].decode())
                structured.info("request body", body=message["body"].decode(), headers=headers)
            return message

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = {k.decode(): v.decode() for k, v in message.get("headers", ())}
                careless.info("response headers: %s", out)
            elif message.get("body"):
                careless.info("response body: %s", message["body"].decode())
                structured.info("response", body=message["body"].decode())
            await send(message)

        careless.info("request headers: %s", headers)
        await self.app(scope, receive_logged, send_logged)


class Chatty(Capability):
    """The careless capability (inner to the logs' middleware, as every capability's is)."""

    name = "chatty"
    before = ("api", "web")

    def install(self, app: App) -> None:
        self.app = app

    def middleware(self) -> Sequence[Middleware]:
        return [Middleware(LogEverything)]

    def routes(self) -> Sequence[BaseRoute]:
        return [Route("/test/context/{name}", self.context)]

    async def context(self, request: Request) -> Response:
        ctx = await self.app.context(request)
        careless.warning("context asked for %s", request.path_params["name"])
        return JSONResponse({"request_id": ctx.request_id, "user_id": ctx.principal.user_id})
