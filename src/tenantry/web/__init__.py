"""Server-rendered pages (Jinja2 + HTMX): the home page, sign-in and sign-up, the dashboard, a page
set for every entity of the schema, and settings. Pages call the same services as the API."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tenantry.core import App, Capability
from tenantry.errors import ApiError
from tenantry.web.auth_pages import auth_routes
from tenantry.web.core import Web
from tenantry.web.crud import Crud
from tenantry.web.dashboard import dashboard_routes
from tenantry.web.frame import brand_routes, menu, other_methods
from tenantry.web.home import home_page
from tenantry.web.notifications import notification_routes
from tenantry.web.palette import Palette
from tenantry.web.provider import PageProvider
from tenantry.web.services import Services
from tenantry.web.settings_pages import settings_routes

__all__ = ["PageProvider", "Web", "WebApp", "web_routes"]

STATIC = Path(__file__).parent / "static"


class WebApp(Capability):
    """The server-rendered pages; last, after the API, since ``/{entity}`` pages match any path."""

    name = "web"
    after = ("*", "api")
    requires = ("auth",)

    def install(self, app: App) -> None:
        self._routes = web_routes(Services(app), app.capabilities.of(PageProvider))

    def routes(self) -> Sequence[BaseRoute]:
        return self._routes


def web_routes(runtime: Services, providers: Sequence[PageProvider] = ()) -> list[BaseRoute]:
    """Routes of the web UI, with the pages of the capabilities that have some (``providers``)."""
    web = Web(runtime, [p.templates for p in providers if p.templates is not None])
    crud = Crud(web)
    web.env.globals["nav_entities"] = crud.readable
    brand = web.brand
    web.env.globals["nav_groups"] = lambda viewer: menu(runtime.schema, crud.readable(viewer))
    # Record pages, the palette and the data settings: their own style sheet and script.
    web.add_head('<link rel="stylesheet" href="/static/web/records.css">')
    web.add_head('<script src="/static/web/palette.js" defer></script>')
    # Plugins' pages add templates to the sign-in page and sections (loaded by URL) to the account page.
    web.env.globals["login_parts"] = []
    web.env.globals["account_sections"] = []
    plugin_routes: list[BaseRoute] = []
    for provider in providers:
        plugin_routes += provider.pages(web)
        if provider.static is not None:
            plugin_routes.append(
                Mount(
                    f"/static/{provider.name}",
                    app=StaticFiles(directory=provider.static),
                    name=f"{provider.name}_static",
                )
            )

    async def home(request: Request) -> Response:
        return home_page(runtime.schema)

    async def not_found(request: Request) -> Response:
        """Any path nothing else serves: an HTML page for browsers, the API's JSON for the rest."""
        # Still a path no route serves: logs, traces and metrics name it ``<unmatched>``, not by
        # this route's template (which would lump every probe with real 404s of real pages).
        request.scope.pop("route", None)
        allowed = other_methods(request, catch_all)
        if allowed:
            raise ApiError(
                405, "METHOD_NOT_ALLOWED", f"Cannot {request.method} {request.url.path}", allow=", ".join(allowed)
            )
        path = request.url.path
        if path == "/api" or path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
            raise ApiError(404, "ROUTE_NOT_FOUND", f"Cannot {request.method} {path}")
        try:
            viewer = await web.viewer(request)
        except Exception:  # a 404 page is shown whatever the session's state
            viewer = None
        return web.error_page(request, 404, "There is nothing at this address. Check the link, or go back.", viewer)

    catch_all = Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    return [
        Route("/", home, methods=["GET"]),
        Mount("/static/web", app=StaticFiles(directory=STATIC), name="web_static"),
        *brand_routes(brand),
        *auth_routes(web),
        *dashboard_routes(web, crud),
        *settings_routes(web, crud),
        *notification_routes(web),
        *Palette(web, crud).routes(),
        *plugin_routes,
        *crud.routes(),
        catch_all,
    ]
