"""Server-rendered pages. For now: the home page linking the API, its documentation and each entity."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.web.home import home_page

if TYPE_CHECKING:
    from tenantry.app import Tenantry


def web_routes(runtime: Tenantry) -> list[BaseRoute]:
    """Routes of the web UI."""

    async def home(request: Request) -> Response:
        return home_page(runtime.schema)

    return [Route("/", home, methods=["GET"])]
