"""Health: ``/healthz`` (the process answers) and ``/readyz`` (it can serve), for load balancers and orchestrators.

- ``GET /healthz`` is 200 ``{"status": "ok"}`` whenever the process answers HTTP at all: no I/O, so
  a liveness probe restarts a wedged process and nothing else.
- ``GET /readyz`` checks, at once and each within ``TENANTRY_HEALTH_TIMEOUT``: the database (a
  round trip through the pool), its migrations (the applied revision is the code's head, when the
  project has revisions), Redis (a PING, when ``REDIS_URL`` is set) and the background workers
  (every outbox subscriber's worker, the pruner, the capabilities' workers). 200 with each check's
  ``ok`` when all pass; 503 naming the ones that do not, and 503 ``{"status": "draining"}`` once
  the server is stopping (SIGTERM). Nothing is cached, so an outage shows at
  the next probe; nothing secret is in the body (outcomes are single words).

Both need no authentication, pass no rate limit or origin check, and come before the CRUD API's
and the pages' catch-all routes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.core import App, Capability, OpenApiPart
from tenantry.core.http import JSONResponse
from tenantry.db.app_role import REVISIONS_SQL
from tenantry.db.tables import TableSet
from tenantry.health import checks
from tenantry.health.openapi import health_openapi
from tenantry.health.settings import HealthSettings
from tenantry.schema import Schema

__all__ = ["Health", "HealthSettings"]

# Probes must see the state of now: no proxy or browser may keep an answer.
NO_STORE = {"Cache-Control": "no-store"}
# The head revisions ``tenantry serve`` found when it checked the database (comma-separated, empty
# when the project has none), handed to the processes it starts.
HEADS_ENV = "TENANTRY_MIGRATION_HEADS"


def hand_down_heads(heads: Sequence[str]) -> None:
    """Name the code's head revisions, just checked against the database, to the app this process
    (and the processes it starts) will build: its readiness reads them instead of loading Alembic."""
    os.environ[HEADS_ENV] = ",".join(heads)


class Health(Capability):
    """The liveness and readiness endpoints of an app."""

    name = "health"
    settings_model = HealthSettings

    def __init__(self, settings: HealthSettings) -> None:
        self.settings = settings
        self.heads: tuple[str, ...] = ()
        self.revisions_sql = ""
        self.redis: Any = None

    def install(self, app: App) -> None:
        self.app = app

    def openapi(self, schema: Schema, tables: TableSet) -> OpenApiPart:
        """``/healthz`` and ``/readyz``."""
        return health_openapi()

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route("/healthz", self.healthz, methods=["GET", "HEAD"]),
            Route("/readyz", self.readyz, methods=["GET", "HEAD"]),
        ]

    async def startup(self) -> None:
        self.revisions_sql = REVISIONS_SQL
        # The code's head revision(s) are in its files: read once, they change only with a deploy.
        # ``tenantry serve`` and ``tenantry worker`` have just read them to check the database and
        # hand them down, which spares each worker loading Alembic (a sixth of its memory) for this.
        handed_down = os.environ.get(HEADS_ENV)
        if handed_down is not None:
            self.heads = tuple(sorted(h for h in handed_down.split(",") if h))
        else:
            from tenantry.db.migrations import head_revisions

            self.heads = await asyncio.to_thread(project_heads, self.app.settings.schema_path, head_revisions)
        if self.app.settings.redis_url:
            from redis.asyncio import Redis

            timeout = self.settings.timeout
            # A client of its own: its failures stay out of the rate limiter's and realtime's.
            self.redis = Redis.from_url(
                self.app.settings.redis_url, socket_connect_timeout=timeout, socket_timeout=timeout
            )

    async def shutdown(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None

    async def healthz(self, request: Request) -> Response:
        """The process is alive (it answered)."""
        return JSONResponse({"status": "ok"}, headers=NO_STORE)

    async def readyz(self, request: Request) -> Response:
        """Every dependency answers in time: 200, or 503 naming what does not (or that the server is stopping)."""
        if self.app.draining:
            # Stopping (SIGTERM): a proxy or orchestrator still probing this node must route elsewhere.
            return JSONResponse({"status": "draining"}, status_code=503, headers=NO_STORE)
        outcomes = await self.check()
        failing = checks.failing(outcomes)
        body: dict[str, Any] = {
            "status": "unavailable" if failing else "ready",
            "checks": {name: outcome.status for name, outcome in outcomes},
        }
        if failing:
            body["failing"] = failing
            stopped = [w for _, outcome in outcomes for w in outcome.stopped]
            if stopped:
                body["stopped_workers"] = stopped
        return JSONResponse(body, status_code=503 if failing else 200, headers=NO_STORE)

    async def check(self) -> list[tuple[str, checks.Outcome]]:
        """Run every check at once, each within the timeout; in a fixed order."""
        app, timeout = self.app, self.settings.timeout
        planned: list[tuple[str, Any]] = [("database", lambda: checks.database(app))]
        if self.heads:
            heads, sql = self.heads, self.revisions_sql
            planned.append(("migrations", lambda: checks.migrations(app, heads, sql)))
        if self.redis is not None:
            client = self.redis
            planned.append(("redis", lambda: checks.redis(client)))
        results = await asyncio.gather(*(checks.bounded(name, run, timeout) for name, run in planned))
        return [*zip((name for name, _ in planned), results, strict=True), ("workers", checks.workers(app))]


def project_heads(schema_path: str, heads_of: Callable[[Path], tuple[str, ...]]) -> tuple[str, ...]:
    """The head revisions of the project whose schema is at ``schema_path`` (its folder's ``migrations``)."""
    return heads_of(Path(schema_path).resolve().parent)
