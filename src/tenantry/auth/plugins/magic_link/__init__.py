"""The magic-link plugin: password-less sign-in by e-mailed link (Better Auth's ``magicLink()``).

``POST /sign-in/magic-link`` mails a one-time link valid for ``TENANTRY_MAGIC_LINK_EXPIRES_IN``
seconds (5 minutes by default); ``GET /magic-link/verify`` signs in with it, creating a verified
user for an unknown address unless ``TENANTRY_MAGIC_LINK_DISABLE_SIGN_UP`` is set. Better Auth's
``magicLinkClient()`` works against it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from tenantry.auth.plugin import AuthPlugin
from tenantry.auth.plugins.magic_link.endpoints import MagicLinkEndpoints
from tenantry.auth.plugins.magic_link.openapi import magic_link_part
from tenantry.auth.plugins.magic_link.pages import routes as page_routes
from tenantry.auth.plugins.magic_link.service import SIGN_IN, VERIFY, MagicLinks
from tenantry.auth.plugins.magic_link.settings import MagicLinkSettings
from tenantry.auth.ratelimit import Rule
from tenantry.web.provider import PageProvider

if TYPE_CHECKING:
    from tenantry.auth import Authentication
    from tenantry.auth.router import Endpoint
    from tenantry.core import App, OpenApiPart
    from tenantry.db.tables import TableSet
    from tenantry.schema import Schema
    from tenantry.web import Web

__all__ = ["MagicLinkPlugin", "MagicLinkSettings", "MagicLinks"]


HERE = Path(__file__).parent


class MagicLinkPlugin(AuthPlugin, PageProvider):
    """Sign-in links by e-mail."""

    name = "magic-link"
    templates = HERE / "templates"
    settings_model = MagicLinkSettings
    # Better Auth's rule for both paths: 5 requests a minute per client address.
    rate_limits = (
        (SIGN_IN, Rule(60, 5)),
        (VERIFY, Rule(60, 5)),
    )

    def __init__(self, settings: MagicLinkSettings) -> None:
        self.settings = settings
        self.service: MagicLinks | None = None  # the app's, once its endpoints are made

    def openapi(self, schema: Schema, tables: TableSet) -> OpenApiPart:
        """Its ``/api/auth`` endpoints in the OpenAPI document."""
        return magic_link_part()

    def endpoints(self, app: App, auth: Authentication) -> Sequence[Endpoint]:
        """``POST /sign-in/magic-link`` and ``GET /magic-link/verify``."""
        self.service = MagicLinks(auth.ctx, self.settings)
        return MagicLinkEndpoints(self.service).all()

    def pages(self, web: Web) -> Sequence[BaseRoute]:
        """Its pages in the web app (``pages.py``)."""
        return page_routes(web, self)
