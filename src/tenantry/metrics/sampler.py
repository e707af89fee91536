"""Per-process numbers copied into the shared metrics: the database pool, every few seconds.

The pool's figures live in the process (``Database.pool_stats``); in multiprocess mode a scrape is
answered by one worker, which sees only its own pool, so each process writes its figures to the
metrics files on its own schedule. No I/O: reading the pool is a few attribute reads.
"""

from __future__ import annotations

import logging

from tenantry.core.metrics import (
    DB_POOL_CONNECTIONS,
    DB_POOL_IN_USE,
    DB_POOL_MAX_CONNECTIONS,
    DB_POOL_WAIT_SECONDS,
    DB_POOL_WAITS,
)
from tenantry.db import Database
from tenantry.worker import PollingWorker

log = logging.getLogger("tenantry.metrics")


class PoolSampler(PollingWorker):
    """Sets the pool gauges and adds the new waits to the wait counters, every ``interval`` seconds."""

    def __init__(self, db: Database, interval: float) -> None:
        super().__init__("metrics-sampler", interval, log)
        self.db = db
        self._waits = 0
        self._wait_seconds = 0.0

    async def work(self, *, until_stopped: bool) -> None:
        self.sample()

    def sample(self) -> None:
        """Copy the pool's figures now (also called by the process answering a scrape)."""
        stats = self.db.pool_stats()
        DB_POOL_CONNECTIONS.set(stats.size)
        DB_POOL_MAX_CONNECTIONS.set(stats.max_size)
        DB_POOL_IN_USE.set(stats.in_use)
        # The database counts since it was made; the counters take what is new since the last sample.
        if stats.waits > self._waits:
            DB_POOL_WAITS.inc(stats.waits - self._waits)
            DB_POOL_WAIT_SECONDS.inc(max(0.0, stats.wait_seconds - self._wait_seconds))
        self._waits, self._wait_seconds = stats.waits, stats.wait_seconds
