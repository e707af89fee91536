"""Metrics: Prometheus exposition at ``/metrics`` (``prometheus-client``), safe for ``--workers N``.

What is measured is defined once in ``tenantry.core.metrics`` and recorded where it happens (HTTP
here, by a pure ASGI middleware; sign-ins and rate limits in authentication; mail in its outbox
subscriber; sockets in realtime). This capability only measures requests, samples the database
pool, reads the outbox backlog at scrape time, and serves the result:

- with ``TENANTRY_METRICS_TOKEN``, only to ``Authorization: Bearer <token>`` (401 otherwise);
- with ``TENANTRY_METRICS_PORT``, on that port only (the public port answers 404);
- with neither: open on the public port in development, not served at all in production.

Labels never hold user data (see ``tenantry.core.metrics``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenantry.lazy import lazy_exports

if TYPE_CHECKING:
    from tenantry.metrics.capability import Metrics
    from tenantry.metrics.exposition import OutboxBacklog
    from tenantry.metrics.middleware import HttpMetrics, route_template
    from tenantry.metrics.settings import MetricsSettings

__all__ = ["HttpMetrics", "Metrics", "MetricsSettings", "OutboxBacklog", "route_template"]

# Each name's module, imported at first use: ``tenantry serve --workers N`` prepares the metrics
# directory (``tenantry.metrics.multiprocess``) before it becomes the node, without loading the app.
_MODULES = {
    "HttpMetrics": "middleware",
    "Metrics": "capability",
    "MetricsSettings": "settings",
    "OutboxBacklog": "exposition",
    "route_template": "middleware",
}

__getattr__ = lazy_exports(__name__, _MODULES)
