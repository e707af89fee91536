"""The generated REST API: CRUD routes, the nestjsx/crud query language, OpenAPI and its docs page."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.api.docs import docs_routes
from tenantry.api.http import JSONResponse
from tenantry.api.openapi import build_openapi
from tenantry.api.querystring import QueryParser
from tenantry.api.routes import CrudEndpoints

if TYPE_CHECKING:
    from tenantry.app import Tenantry

__all__ = ["CrudEndpoints", "QueryParser", "api_routes", "build_openapi"]


def api_routes(runtime: Tenantry, prefix: str = "/api") -> list[BaseRoute]:
    """Every route of the API; fixed paths come before the per-entity ones they would shadow."""

    async def health(request: Request) -> Response:
        await runtime.db.fetch("SELECT 1")
        return JSONResponse({"status": "ok"})

    return [
        Route(prefix + "/health", health, methods=["GET"]),
        *docs_routes(runtime, prefix),
        *CrudEndpoints(runtime).routes(prefix),
    ]
