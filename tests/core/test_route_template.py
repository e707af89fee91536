"""``route_template``: the name logs, traces and metrics give a request, never its raw path."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from tenantry.core.http import route_template


async def static_files(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("file")(scope, receive, send)


async def test_templates_of_routes_mounted_routers_and_mounts_that_answer_themselves() -> None:
    seen: list[str | None] = []

    class Record:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await self.app(scope, receive, send)
            seen.append(route_template(scope))

    sub = Router(routes=[Route("/items/{item}", lambda r: PlainTextResponse("item"))])
    app = Starlette(
        routes=[
            Route("/api/projects/{id}", lambda r: PlainTextResponse("project")),
            Mount("/static/web", app=static_files),
            Mount("/shop", app=sub),
        ],
        middleware=[Middleware(Record)],
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        for path in ("/api/projects/42", "/static/web/app.css", "/shop/items/7", "/nowhere"):
            await client.get(path)
    # A mount that answers itself is named once (not /static/web/static/web/{path}); nothing matched: None.
    assert seen == ["/api/projects/{id}", "/static/web/{path}", "/shop/items/{item}", None]
