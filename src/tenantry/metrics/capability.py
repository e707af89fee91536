"""The metrics capability: what it installs in an app (see the package's docstring)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from tenantry.core import App, Capability, OpenApiPart, Worker
from tenantry.db.tables import TableSet
from tenantry.metrics import multiprocess
from tenantry.metrics.exposition import Exposition, not_served
from tenantry.metrics.middleware import HttpMetrics
from tenantry.metrics.openapi import metrics_openapi
from tenantry.metrics.sampler import PoolSampler
from tenantry.metrics.server import MetricsServer
from tenantry.metrics.settings import MetricsSettings
from tenantry.schema import Schema

log = logging.getLogger("tenantry.metrics")


class Metrics(Capability):
    """``/metrics`` and the HTTP middleware of an app (listed first: its middleware is the outermost)."""

    name = "metrics"
    settings_model = MetricsSettings

    def __init__(self, settings: MetricsSettings) -> None:
        self.settings = settings
        self.server: MetricsServer | None = None

    def install(self, app: App) -> None:
        self.app = app
        self.sampler = PoolSampler(app.db, self.settings.sample_interval)
        token = self.settings.token_value()
        self.exposition = Exposition(app, token, self.settings.query_timeout, [self.sampler.sample])
        if self.settings.port is not None:
            self.server = MetricsServer(self.exposition, self.settings.host, self.settings.port)
        # Open on the public port only in development, or behind a token.
        self.public = self.settings.port is None and (token is not None or app.settings.is_development)
        if self.settings.port is None and not self.public:
            log.warning(
                "/metrics is not served: set TENANTRY_METRICS_TOKEN or TENANTRY_METRICS_PORT to expose it in production"
            )

    def openapi(self, schema: Schema, tables: TableSet) -> OpenApiPart:
        """``/metrics``."""
        return metrics_openapi()

    def routes(self) -> Sequence[BaseRoute]:
        endpoint = self.exposition.endpoint if self.public else not_served
        return [Route("/metrics", endpoint, methods=["GET"])]

    def middleware(self) -> Sequence[Middleware]:
        return [Middleware(HttpMetrics)]

    def workers(self) -> Sequence[Worker]:
        return [self.sampler] if self.server is None else [self.sampler, self.server]

    async def startup(self) -> None:
        path = multiprocess.directory()
        if path is not None:
            # A worker replaced after a crash: its predecessor's live gauges no longer count.
            multiprocess.forget_dead_processes(path)

    async def shutdown(self) -> None:
        path = multiprocess.directory()
        if path is not None:
            multiprocess.forget_this_process(path)
