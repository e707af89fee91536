"""Pages of the api-key plugin: being built."""

from __future__ import annotations

from starlette.routing import BaseRoute

from tenantry.web.core import Web


def routes(web: Web) -> list[BaseRoute]:
    """The api-key plugin's pages."""
    return []
