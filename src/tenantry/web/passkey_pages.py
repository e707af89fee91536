"""Pages of the passkey plugin: being built."""

from __future__ import annotations

from starlette.routing import BaseRoute

from tenantry.web.core import Web


def routes(web: Web) -> list[BaseRoute]:
    """The passkey plugin's pages."""
    return []
