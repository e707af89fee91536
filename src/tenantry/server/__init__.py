"""Serving a Tenantry app in production: the node (``serve_node``), its workers, and their graceful stop.

``tenantry serve`` runs ``serve_node``; see ``tenantry.server.drain`` for what SIGTERM does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenantry.lazy import lazy_exports

if TYPE_CHECKING:
    from tenantry.server.drain import DrainingServer
    from tenantry.server.node import NodeOptions, bind, serve_node

__all__ = ["DrainingServer", "NodeOptions", "bind", "serve_node"]

# Each name's module, imported at first use: ``tenantry serve`` binds the socket with ``bind`` before
# it becomes the node, and a supervising node serves nothing, so neither loads uvicorn.
_MODULES = {"DrainingServer": "drain", "NodeOptions": "node", "bind": "node", "serve_node": "node"}


__getattr__ = lazy_exports(__name__, _MODULES)
