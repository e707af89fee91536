"""Prune the outbox in the background: finished deliveries and their events, after their retention.

Like the authentication sweeper, every process prunes and the first pass waits one interval, so
starting a process (or a test app) deletes nothing. The deletes are idempotent: processes pruning
at once only repeat each other.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from tenantry.db.codecs import utc_now
from tenantry.events.settings import OutboxSettings
from tenantry.events.store import OutboxStore, PruneReport
from tenantry.worker import PollingWorker

log = logging.getLogger("tenantry.events")


class OutboxPruner(PollingWorker):
    """Every ``settings.prune_interval`` seconds: ``OutboxStore.prune`` with the settings' retentions."""

    def __init__(
        self, store: OutboxStore, settings: OutboxSettings, *, clock: Callable[[], dt.datetime] = utc_now
    ) -> None:
        super().__init__("outbox-pruner", settings.prune_interval, log, wait_first=True)
        self.store = store
        self.settings = settings
        self.clock = clock

    async def work(self, *, until_stopped: bool) -> PruneReport:
        """One pass: delete what the retentions let go; returns how much."""
        now = self.clock()
        report = await self.store.prune(
            done_before=now - dt.timedelta(days=self.settings.retention_days),
            failed_before=now - dt.timedelta(days=self.settings.failed_retention_days),
        )
        if report.deliveries or report.events:
            log.info("pruned %d finished delivery(ies) and %d event(s)", report.deliveries, report.events)
        return report
