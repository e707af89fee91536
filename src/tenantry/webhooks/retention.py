"""Keeping messages and attempts for the retention period (30 days by default), then deleting them."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from tenantry.db import Database
from tenantry.db.actor import SYSTEM, acting_as
from tenantry.webhooks.store import WebhookStore
from tenantry.worker import PollingWorker

log = logging.getLogger("tenantry.webhooks")

# Hourly is plenty for a retention counted in days.
PRUNE_INTERVAL = 3600.0


class Pruner(PollingWorker):
    """Deletes messages (with their attempts) older than ``retention_days``, every hour, in every process."""

    def __init__(
        self, db: Database, store: WebhookStore, clock: Callable[[], dt.datetime], retention_days: float
    ) -> None:
        super().__init__("webhooks-prune", PRUNE_INTERVAL, log, wait_first=True)
        self.db = db
        self.store = store
        self.clock = clock
        self.retention = dt.timedelta(days=retention_days)

    async def work(self, *, until_stopped: bool) -> int:
        """One pass: how many messages were deleted."""
        with acting_as(SYSTEM):
            async with self.db.transaction() as conn:
                deleted = await self.store.prune(conn, self.clock() - self.retention)
        if deleted:
            log.info("pruned %d webhook message(s) older than %s", deleted, self.retention)
        return deleted
