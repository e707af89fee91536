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
from tenantry.web import admin_pages, api_key_pages, magic_link_pages, passkey_pages, two_factor_pages
from tenantry.web.auth_pages import auth_routes
from tenantry.web.core import Web
from tenantry.web.crud import Crud
from tenantry.web.dashboard import dashboard_routes
from tenantry.web.home import home_page
from tenantry.web.notifications import notification_routes
from tenantry.web.services import Services
from tenantry.web.settings_pages import settings_routes

STATIC = Path(__file__).parent / "static"
PLUGIN_PAGES = {
    "two-factor": two_factor_pages,
    "magic-link": magic_link_pages,
    "passkey": passkey_pages,
    "api-key": api_key_pages,
    "admin": admin_pages,
}


class WebApp(Capability):
    """The server-rendered pages; last, after the API, since ``/{entity}`` pages match any path."""

    name = "web"
    after = ("*", "api")
    requires = ("auth",)

    def install(self, app: App) -> None:
        self._routes = web_routes(Services(app))

    def routes(self) -> Sequence[BaseRoute]:
        return self._routes


def web_routes(runtime: Services) -> list[BaseRoute]:
    """Routes of the web UI."""
    web = Web(runtime)
    crud = Crud(web)
    web.env.globals["nav_entities"] = crud.readable
    # Plugins' pages add templates to the sign-in page and sections (loaded by URL) to the account page.
    web.env.globals["login_parts"] = []
    web.env.globals["account_sections"] = []
    plugin_routes: list[BaseRoute] = []
    for plugin_id, pages in PLUGIN_PAGES.items():
        if runtime.auth.plugin(plugin_id) is not None:
            plugin_routes += pages.routes(web)

    async def home(request: Request) -> Response:
        return home_page(runtime.schema)

    return [
        Route("/", home, methods=["GET"]),
        Mount("/static/web", app=StaticFiles(directory=STATIC), name="web_static"),
        *auth_routes(web),
        *dashboard_routes(web, crud),
        *settings_routes(web, crud),
        *notification_routes(web),
        *plugin_routes,
        *crud.routes(),
    ]
