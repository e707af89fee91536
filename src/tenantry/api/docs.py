"""The interactive API documentation (Swagger UI served from the package, no CDN) and the spec."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tenantry.api.openapi import build_openapi
from tenantry.core.http import JSONResponse
from tenantry.idempotency import Idempotency

if TYPE_CHECKING:
    from tenantry.core import App, OpenApiPart

STATIC = Path(__file__).parent / "static"

_DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — API docs</title>
<link rel="icon" href="{prefix}/_static/swagger-ui/favicon-32x32.png">
<link rel="stylesheet" href="{prefix}/_static/swagger-ui/swagger-ui.css">
<style>body {{ margin: 0; }} .topbar {{ display: none; }}</style>
</head>
<body>
<div id="swagger-ui" data-spec="{prefix}/openapi.json"></div>
<script src="{prefix}/_static/swagger-ui/swagger-ui-bundle.js"></script>
<script src="{prefix}/_static/docs.js"></script>
</body>
</html>
"""
# Swagger UI runs only the package's scripts (no inline script), calls only this site ("Try it
# out"), shows inline SVG images and sets style attributes; nobody may frame the page, since its
# "Try it out" buttons act with the visitor's session.
DOCS_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
}


def openapi_parts(app: App) -> list[OpenApiPart]:
    """What the app's capabilities add to the document (billing's paths, the API key scheme …)."""
    return [part for capability in app.capabilities if (part := capability.openapi(app.schema, app.tables)) is not None]


def docs_routes(runtime: App, prefix: str = "/api") -> list[BaseRoute]:
    """``/api/openapi.json``, ``/api/docs`` and the Swagger UI files they need."""
    spec_bytes: list[bytes] = []

    async def openapi(request: Request) -> Response:
        # Built on first request, then served from memory: the schema cannot change while running.
        if not spec_bytes:
            spec_bytes.append(
                bytes(
                    JSONResponse(
                        build_openapi(
                            runtime.schema,
                            prefix=prefix,
                            parts=openapi_parts(runtime),
                            idempotency=runtime.find(Idempotency) is not None,
                        )
                    ).body
                )
            )
        return Response(spec_bytes[0], media_type="application/json")

    async def docs(request: Request) -> Response:
        page = _DOCS_PAGE.format(title=html.escape(runtime.schema.app_name), prefix=prefix)
        return HTMLResponse(page, headers=DOCS_HEADERS)

    return [
        Route(prefix + "/openapi.json", openapi, methods=["GET"]),
        Route(prefix + "/docs", docs, methods=["GET"]),
        Mount(prefix + "/_static", app=StaticFiles(directory=STATIC), name="api-static"),
    ]
