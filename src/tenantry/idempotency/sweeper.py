"""Deletes idempotency keys once they are older than their retention (24 hours), in the background.

Every process sweeps, hourly; the delete is idempotent, so processes sweeping at once only repeat
each other. A key past its retention is treated as new even before the sweep reaches it.
"""

from __future__ import annotations

import logging

from tenantry.db import Database
from tenantry.db.actor import SYSTEM, acting_as
from tenantry.idempotency.keys import IdempotencyKeys
from tenantry.worker import PollingWorker

log = logging.getLogger("tenantry.idempotency")

SWEEP_INTERVAL = 3600.0


class KeySweeper(PollingWorker):
    """Every ``interval`` seconds: delete the keys older than their retention."""

    def __init__(self, db: Database, keys: IdempotencyKeys, interval: float = SWEEP_INTERVAL) -> None:
        super().__init__("idempotency-sweeper", interval, log, wait_first=True)
        self.db = db
        self.keys = keys

    async def work(self, *, until_stopped: bool) -> int:
        """One sweep: how many keys were deleted."""
        with acting_as(SYSTEM):
            async with self.db.transaction() as conn:
                deleted = await self.keys.sweep(conn)
        if deleted:
            log.info("deleted %d expired idempotency key(s)", deleted)
        return deleted
