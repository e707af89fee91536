"""Pages of the magic-link plugin: being built."""

from __future__ import annotations

from starlette.routing import BaseRoute

from tenantry.web.core import Web


def routes(web: Web) -> list[BaseRoute]:
    """The magic-link plugin's pages."""
    return []
