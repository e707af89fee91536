"""Pages of the admin plugin: being built."""

from __future__ import annotations

from starlette.routing import BaseRoute

from tenantry.web.core import Web


def routes(web: Web) -> list[BaseRoute]:
    """The admin plugin's pages."""
    return []
