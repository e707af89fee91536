"""Serving a Tenantry app in production: the node (``serve_node``), its workers, and their graceful stop.

``tenantry serve`` runs ``serve_node``; see ``tenantry.server.drain`` for what SIGTERM does.
"""

from __future__ import annotations

from tenantry.server.drain import DrainingServer
from tenantry.server.node import NodeOptions, bind, serve_node

__all__ = ["DrainingServer", "NodeOptions", "bind", "serve_node"]
