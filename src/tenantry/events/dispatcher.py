"""Deliver committed domain events to this process's subscribers, in order, and mark them published.

Several dispatchers (in one process or many) can run against one database, as with the mail
outbox: work is taken by a *claim* that holds rows for a *lease*, fenced by a claim id so that a
dispatcher whose lease ran out can no longer mark anything. Unlike mail, events are ordered, so
one dispatcher delivers at a time: a claim takes the oldest unpublished events only when no other
dispatcher holds a live claim (see ``EventSQL.claim``). If a dispatcher dies mid-batch, its lease
runs out and the next claim takes over from its first unpublished event.

Delivery is once per event in normal operation, and at least once across crashes: an event being
handed over when its process dies is handed over again by the next dispatcher. Marks are written
after each event that had subscribers (events nobody listens to are marked in bulk), and the lease
is renewed as the batch goes on, so a slow batch never loses its claim to a live peer.

Order is the order of the events' ids (UUIDv7: their write time). A transaction that wrote an
event and committed after a later-written one was already delivered is delivered when it commits:
order is exact for changes that do not overlap in time.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tenantry.db import Statement
from tenantry.db.codecs import utc_now
from tenantry.db.database import Database
from tenantry.events.bus import DomainEvent, EventBus
from tenantry.events.sql import EventSQL
from tenantry.worker import PollingWorker

log = logging.getLogger("tenantry.events")

Clock = Callable[[], dt.datetime]


@dataclass
class DispatchReport:
    """What one ``deliver_pending`` pass did."""

    delivered: int = 0  # events handed to this process's subscribers (or to none, when nobody listens)
    failures: int = 0  # subscriber calls that raised or timed out (their events count as delivered)
    lost: bool = False  # the lease ran out and another dispatcher took the rest of the batch


class EventDispatcher(PollingWorker):
    """Delivers the outbox in the background (``start``/``wake``/``stop``) or one pass at a time.

    ``handler_timeout`` bounds each subscriber call; the lease must leave room for two of them, so
    a live dispatcher renews its claim long before it could be taken over.
    """

    def __init__(
        self,
        db: Database,
        sql: EventSQL,
        bus: EventBus,
        *,
        clock: Clock = utc_now,
        poll_interval: float = 1.0,
        batch_size: int = 100,
        lease: float = 60.0,
        handler_timeout: float = 10.0,
    ) -> None:
        if not 0 < handler_timeout * 2 < lease:
            raise ValueError("handler_timeout must be positive and shorter than half the lease")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        super().__init__("event-dispatcher", poll_interval, log)
        self.db = db
        self.sql = sql
        self.bus = bus
        self.clock = clock
        self.batch_size = batch_size
        self.lease = dt.timedelta(seconds=lease)
        self.handler_timeout = handler_timeout

    # -- one pass ----------------------------------------------------------------------------------

    async def deliver_pending(self) -> DispatchReport:
        """Deliver every event committed so far (unless another dispatcher holds them); returns what happened."""
        return await self.work(until_stopped=False)

    async def work(self, *, until_stopped: bool) -> DispatchReport:
        report = DispatchReport()
        while not (until_stopped and self._stopping):
            claim_id, batch = await self.claim()
            if not batch:
                break
            await self._deliver(claim_id, batch, report, until_stopped=until_stopped)
            if report.lost:
                break
        return report

    async def claim(self) -> tuple[str, list[DomainEvent]]:
        """Claim up to ``batch_size`` of the oldest unpublished events: ``(claim id, events in order)``.

        Empty when there are none, or when another dispatcher's claim is live.
        """
        claim_id = str(uuid.uuid4())
        now = self.clock()
        sql = self.sql
        async with self.db.transaction() as conn:
            if sql.dialect == "postgresql":
                await conn.fetch(sql.lock.sql, sql.lock.params(extras={"key": sql.lock_key}))
            rows = await conn.fetch(
                sql.claim.sql,
                sql.claim.params(
                    extras={
                        "now": sql.time(now),
                        "limit": self.batch_size,
                        "claim": claim_id,
                        "until": sql.time(now + self.lease),
                    }
                ),
            )
        events = sorted((sql.event(r) for r in rows), key=lambda e: uuid.UUID(e.id))
        return claim_id, events

    async def _deliver(
        self, claim_id: str, batch: list[DomainEvent], report: DispatchReport, *, until_stopped: bool
    ) -> None:
        renew_at = self.clock() + self.lease / 2
        unmarked: DomainEvent | None = None  # the last delivered event nobody listened to
        for event in batch:
            if until_stopped and self._stopping:
                # Stopping: hand the rest back now rather than make the next process wait for the lease.
                if unmarked is not None and not await self._publish(claim_id, unmarked):
                    report.lost = True
                    return
                await self._write(self.sql.release, {"claim": claim_id})
                return
            if self.clock() >= renew_at:
                if not await self._renew(claim_id):
                    report.lost = True
                    return
                renew_at = self.clock() + self.lease / 2
            if not self.bus.handlers_for(event.topic):
                unmarked = event
                report.delivered += 1
                continue
            failures = await self.bus.deliver(event, self.handler_timeout)
            report.delivered += 1
            report.failures += len(failures)
            if failures:
                error = "\n".join(failures)[:2000]
                await self._write(
                    self.sql.note_error, {"id": self.sql.event_id(event.id), "claim": claim_id, "error": error}
                )
            # Marked at once: a crash from here on does not hand this event out a second time.
            if not await self._publish(claim_id, event):
                report.lost = True
                return
            unmarked = None
        if unmarked is not None and not await self._publish(claim_id, unmarked):
            report.lost = True

    async def _publish(self, claim_id: str, upto: DomainEvent) -> bool:
        """Mark the claim's events up to ``upto`` published; False when the claim was lost meanwhile."""
        values = {"claim": claim_id, "upto": self.sql.event_id(upto.id), "now": self.sql.time(self.clock())}
        if await self._write(self.sql.publish, values):
            return True
        log.warning("event claim %s outlived its lease; another dispatcher took over from %s", claim_id, upto.id)
        return False

    async def _renew(self, claim_id: str) -> bool:
        values = {"claim": claim_id, "until": self.sql.time(self.clock() + self.lease)}
        return await self._write(self.sql.renew, values) > 0

    async def _write(self, stmt: Statement, values: dict[str, Any]) -> int:
        async with self.db.transaction() as conn:
            return await conn.execute(stmt.sql, stmt.params(extras=values))

    # -- housekeeping ------------------------------------------------------------------------------

    async def prune(self, older_than: dt.timedelta) -> int:
        """Delete events published more than ``older_than`` ago; returns how many.

        Published events serve no dispatcher any more; keep them as long as they help debugging.
        """
        before = self.sql.time(self.clock() - older_than)
        return await self._write(self.sql.prune, {"before": before})
