"""``/metrics``: the Prometheus text format, with the outbox's backlog read at scrape time.

The outbox backlog (pending deliveries and the age of the oldest, per subscriber) is a property of
the database, not of a process, so it is read by the process answering the scrape, once per
scrape, with a timeout: one grouped query over the partial index of pending deliveries, at the
scraper's pace (every 15-60 s), never on a request's path. If it fails or times out the rest is
still served and ``tenantry_outbox_backlog_up`` is 0.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from tenantry.core import App
from tenantry.core.http import error_response
from tenantry.errors import ApiError
from tenantry.events import Backlog
from tenantry.metrics import multiprocess

log = logging.getLogger("tenantry.metrics")


class OutboxBacklog(Collector):
    """The backlog read for one scrape, as gauges; every registered subscriber appears (0 when idle)."""

    def __init__(self, backlog: Sequence[Backlog] | None, subscribers: Sequence[str], now: dt.datetime) -> None:
        self.backlog = backlog
        self.subscribers = subscribers
        self.now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "tenantry_outbox_backlog_up", "Whether the outbox backlog could be read for this scrape."
        )
        up.add_metric([], 0 if self.backlog is None else 1)
        yield up
        if self.backlog is None:
            return
        pending = GaugeMetricFamily(
            "tenantry_outbox_pending_deliveries", "Deliveries waiting for their subscriber.", labels=["subscriber"]
        )
        age = GaugeMetricFamily(
            "tenantry_outbox_oldest_pending_age_seconds",
            "Age of the event of the oldest delivery still pending, per subscriber (0 when none waits).",
            labels=["subscriber"],
        )
        found = {b.subscriber: b for b in self.backlog}
        for name in sorted({*self.subscribers, *found}):
            item = found.get(name)
            pending.add_metric([name], item.pending if item else 0)
            age.add_metric([name], max(0.0, (self.now - item.oldest).total_seconds()) if item else 0.0)
        yield pending
        yield age


class Exposition:
    """Builds one scrape's answer for an app; ``authorize`` checks the bearer token when one is set."""

    def __init__(
        self, app: App, token: str | None, query_timeout: float, before_scrape: Sequence[Callable[[], None]]
    ) -> None:
        self.app = app
        self.token = token
        self.query_timeout = query_timeout
        self.before_scrape = before_scrape

    def authorize(self, request: Request) -> None:
        """401 unless the request carries the token (compared in constant time)."""
        if self.token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise ApiError(401, "METRICS_UNAUTHORIZED", "Send the metrics token as Authorization: Bearer <token>")

    async def backlog(self) -> list[Backlog] | None:
        try:
            async with asyncio.timeout(self.query_timeout):
                return await self.app.outbox.store.backlog()
        except Exception as exc:  # the database is down or slow: the rest of the scrape still answers
            log.warning("metrics: the outbox backlog could not be read (%s)", type(exc).__name__)
            return None

    async def render(self) -> bytes:
        """Every metric of every process (multiprocess mode) or of this one, then the outbox's."""
        for refresh in self.before_scrape:
            refresh()  # this process's own figures, fresh for this scrape
        backlog = await self.backlog()
        path = multiprocess.directory()
        if path is not None:
            await asyncio.to_thread(multiprocess.forget_dead_processes, path)
            shared = await asyncio.to_thread(_render_multiprocess, path)
        else:
            shared = generate_latest(REGISTRY)
        extra = CollectorRegistry(auto_describe=False)
        extra.register(OutboxBacklog(backlog, list(self.app.outbox.subscribers), self.app.clock()))
        return shared + generate_latest(extra)

    async def endpoint(self, request: Request) -> Response:
        """``GET /metrics``."""
        try:
            self.authorize(request)
        except ApiError as exc:
            response = error_response(exc)
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return Response(await self.render(), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def _render_multiprocess(path: Path) -> bytes:
    return generate_latest(multiprocess.registry(path))


async def not_served(request: Request) -> Response:
    """``/metrics`` on the public port of a production app with no token (or with a metrics port)."""
    return error_response(ApiError(404, "METRICS_NOT_SERVED", "Metrics are not served here"))
