"""The generated REST API: CRUD routes, the nestjsx/crud query language, OpenAPI and its docs page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.api.docs import docs_routes, openapi_parts
from tenantry.api.openapi import build_openapi
from tenantry.api.routes import CrudEndpoints
from tenantry.core import App, Capability
from tenantry.core.http import JSONResponse
from tenantry.core.openapi import OpenApiPart
from tenantry.db import TableSet
from tenantry.querystring import QueryParser
from tenantry.schema import Schema

__all__ = ["Api", "CrudEndpoints", "QueryParser", "api_routes", "build_openapi", "openapi_parts"]


CLIENT_PATH = {
    "get": {
        "tags": ["documentation"],
        "operationId": "typescriptClient",
        "summary": "The typed TypeScript client of this schema (development only)",
        "security": [],
        "responses": {
            "200": {
                "description": "A TypeScript module (see docs/clients.md)",
                "content": {"application/typescript": {"schema": {"type": "string"}}},
            }
        },
    }
}


class Api(Capability):
    """The CRUD API of every entity, ``/api/health`` and the OpenAPI document with its docs page.

    After every other capability: their fixed ``/api/...`` paths must come before ``/api/{resource}``.
    """

    name = "api"
    after = ("*",)
    # Whether ``/api/client.ts`` is served (development); known once installed.
    _development = False

    def install(self, app: App) -> None:
        self._routes = api_routes(app)
        self._development = app.settings.is_development

    def openapi(self, schema: Schema, tables: TableSet) -> OpenApiPart | None:
        if not self._development:
            return None
        return OpenApiPart(paths={"/api/client.ts": CLIENT_PATH})

    def routes(self) -> Sequence[BaseRoute]:
        return self._routes


def api_routes(app: App, prefix: str = "/api") -> list[BaseRoute]:
    """Every route of the API; fixed paths come before the per-entity ones they would shadow."""

    async def health(request: Request) -> Response:
        await app.db.fetch("SELECT 1")
        return JSONResponse({"status": "ok"})

    routes: list[BaseRoute] = [Route(prefix + "/health", health, methods=["GET"]), *docs_routes(app, prefix)]
    if app.settings.is_development:
        routes.append(Route(prefix + "/client.ts", typescript_client(app), methods=["GET"]))
    return [*routes, *CrudEndpoints(app).routes(prefix)]


def typescript_client(app: App) -> Callable[[Request], Awaitable[Response]]:
    """``/api/client.ts`` (development only): the typed TypeScript client of the schema being served.

    Built from the running app's schema, so after ``tenantry dev`` reloads on a change it is the
    new schema's; a frontend can fetch it on start instead of keeping a generated copy.
    """
    from tenantry.clients import typescript_module

    source: list[bytes] = []

    async def client(request: Request) -> Response:
        if not source:
            source.append(typescript_module(app.schema).encode())
        return Response(source[0], media_type="application/typescript; charset=utf-8")

    return client
