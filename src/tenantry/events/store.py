"""Running the outbox's statements: publish, claim, mark, renew, release, prune.

One implementation for every subscriber and both databases. Claims, marks and releases each run in
a transaction of their own (``Database.transaction``: ``BEGIN IMMEDIATE`` on SQLite, so claims
have the single writer; on PostgreSQL ordered claims take their subscriber's advisory lock first).
Publishing runs on the caller's connection, inside the transaction of the change.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tenantry.db import Connection, Database, DatabaseUnavailable, Statement
from tenantry.events.event import DomainEvent
from tenantry.events.sql import MAX_ERROR_LENGTH, MAX_RESULT_LENGTH, Claimed, OutboxSQL

log = logging.getLogger("tenantry.events")

# A database blip right after a handler succeeded must not turn into a second delivery.
_MARK_RETRIES = (0.2, 1.0)


@dataclass(frozen=True)
class Claim:
    """Deliveries of one subscriber held by one claim until its lease runs out, in event order."""

    id: str
    subscriber: str
    items: list[Claimed]


@dataclass(frozen=True)
class Backlog:
    """One subscriber's pending deliveries: how many, and when the oldest one's event was written."""

    subscriber: str
    pending: int
    oldest: dt.datetime


@dataclass
class PruneReport:
    """What one prune deleted."""

    deliveries: int = 0
    events: int = 0


class OutboxStore:
    """The outbox's reads and writes on one database."""

    def __init__(self, db: Database, sql: OutboxSQL) -> None:
        self.db = db
        self.sql = sql

    # -- writing -----------------------------------------------------------------------------------

    async def publish(
        self,
        conn: Connection,
        event: DomainEvent,
        targets: Sequence[tuple[str, str | None]],
        now: dt.datetime,
        dedupe_key: str | None = None,
    ) -> bool:
        """Insert ``event`` and one pending delivery per ``(subscriber, ordering key)`` of ``targets``.

        False when ``dedupe_key`` exists already: then nothing is written. PostgreSQL does it in one
        statement; SQLite (in-process, no round trip) in two.
        """
        sql = self.sql
        values = sql.event_params(event, dedupe_key)
        if not targets:
            stmt = sql.insert_event()
            return await conn.fetchrow(stmt.sql, stmt.params(extras=values)) is not None
        values |= sql.delivery_params(targets) | {"now": sql.time(now)}
        if sql.dialect == "postgresql":
            stmt = sql.publish(len(targets))
            return bool(await conn.fetch(stmt.sql, stmt.params(extras=values)))
        stmt = sql.insert_event()
        if await conn.fetchrow(stmt.sql, stmt.params(extras=values)) is None:
            return False
        stmt = sql.add_deliveries(len(targets))
        await conn.execute(stmt.sql, stmt.params(extras=values | {"event_id": values["e_id"]}))
        return True

    async def add_deliveries(
        self, conn: Connection, event_id: str, targets: Sequence[tuple[str, str | None]], now: dt.datetime
    ) -> int:
        """Add deliveries of an existing event; returns how many were new."""
        if not targets:
            return 0
        sql = self.sql
        stmt = sql.add_deliveries(len(targets))
        values = sql.delivery_params(targets) | {"event_id": sql.event_id(event_id), "now": sql.time(now)}
        return await conn.execute(stmt.sql, stmt.params(extras=values))

    # -- claiming ----------------------------------------------------------------------------------

    async def has_due(self, subscriber: str, now: dt.datetime) -> bool:
        """Whether ``subscriber`` has a delivery due (it may still be held back by its group)."""
        stmt = self.sql.due()
        values = {"subscriber": subscriber, "now": self.sql.time(now)}
        return await self.db.fetchrow(stmt.sql, stmt.params(extras=values)) is not None

    async def backlog(self) -> list[Backlog]:
        """What waits for each subscriber with pending deliveries (metrics: one grouped read)."""
        stmt = self.sql.backlog()
        rows = await self.db.fetch(stmt.sql, stmt.params())
        return [Backlog(str(name), int(count), self.sql.read_time(oldest)) for name, count, oldest in rows]

    async def claim(self, subscriber: str, *, ordered: bool, now: dt.datetime, until: dt.datetime, limit: int) -> Claim:
        """Claim up to ``limit`` due deliveries of ``subscriber`` until ``until`` (see ``OutboxSQL.claim``)."""
        sql = self.sql
        claim_id = str(uuid.uuid4())
        values = {
            "subscriber": subscriber,
            "now": sql.time(now),
            "until": sql.time(until),
            "claim": claim_id,
            "limit": limit,
        }
        stmt = sql.claim(ordered)
        async with self.db.transaction() as conn:
            if ordered and sql.dialect == "postgresql":
                lock = sql.lock()
                await conn.fetch(lock.sql, lock.params(extras={"key": sql.lock_key(subscriber)}))
            if sql.dialect == "postgresql":
                rows = await conn.fetch(stmt.sql, stmt.params(extras=values))
            else:
                await conn.execute(stmt.sql, stmt.params(extras=values))
                read = sql.claimed_rows()
                rows = await conn.fetch(read.sql, read.params(extras={"subscriber": subscriber, "claim": claim_id}))
        items = sorted((sql.claimed(r) for r in rows), key=lambda c: uuid.UUID(c.event.id))
        return Claim(claim_id, subscriber, items)

    async def renew(self, claim: Claim, until: dt.datetime) -> set[str]:
        """Extend the lease of what ``claim`` still holds; returns those event ids."""
        stmt = self.sql.renew()
        values = {"subscriber": claim.subscriber, "claim": claim.id, "until": self.sql.time(until)}
        async with self.db.transaction() as conn:
            rows = await conn.fetch(stmt.sql, stmt.params(extras=values))
        return {str(r[0]) for r in rows}

    async def release(self, claim: Claim, now: dt.datetime, ordering_key: str | None = None) -> int:
        """Hand back what ``claim`` holds and has not started (only one group's, given ``ordering_key``)."""
        stmt = self.sql.release(ordering_key is not None)
        values: dict[str, Any] = {"subscriber": claim.subscriber, "claim": claim.id, "now": self.sql.time(now)}
        if ordering_key is not None:
            values["ordering_key"] = ordering_key
        return await self._write(stmt, values)

    # -- marks ---------------------------------------------------------------------------------------

    def _fence(self, claim: Claim, item: Claimed) -> dict[str, Any]:
        return {"event_id": self.sql.event_id(item.event.id), "subscriber": claim.subscriber, "claim": claim.id}

    async def mark_done(self, claim: Claim, item: Claimed, now: dt.datetime, result: str | None) -> bool:
        """Record a delivery made; False when another claim holds it now (nothing changed)."""
        values = self._fence(claim, item) | {
            "now": self.sql.time(now),
            "result": None if result is None else str(result)[:MAX_RESULT_LENGTH],
        }
        return await self._mark(self.sql.mark_done(), values)

    async def mark_retry(self, claim: Claim, item: Claimed, next_at: dt.datetime, error: str) -> bool:
        """Record a failed attempt to be retried at ``next_at``; False when the claim was lost."""
        values = self._fence(claim, item) | {"next_at": self.sql.time(next_at), "error": error[:MAX_ERROR_LENGTH]}
        return await self._mark(self.sql.mark_retry(), values)

    async def defer(self, claim: Claim, item: Claimed, next_at: dt.datetime, error: str) -> bool:
        """Hand a delivery back uncounted, due at ``next_at`` (``DeliveryDeferred``); False when the claim was lost."""
        values = self._fence(claim, item) | {"next_at": self.sql.time(next_at), "error": error[:MAX_ERROR_LENGTH]}
        return await self._mark(self.sql.defer(), values)

    async def mark_failed(self, claim: Claim, item: Claimed, now: dt.datetime, error: str) -> bool:
        """Record a delivery given up; False when the claim was lost."""
        values = self._fence(claim, item) | {"now": self.sql.time(now), "error": error[:MAX_ERROR_LENGTH]}
        return await self._mark(self.sql.mark_failed(), values)

    async def _mark(self, stmt: Statement, values: dict[str, Any]) -> bool:
        for pause in (*_MARK_RETRIES, None):
            try:
                return await self._write(stmt, values) == 1
            except Exception as exc:
                if pause is None:
                    raise
                # A database outage needs no traceback; anything else may be a bug.
                known = isinstance(exc, DatabaseUnavailable)
                log.warning(
                    "recording a delivery's outcome failed; retrying in %.1fs: %s", pause, exc, exc_info=not known
                )
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")

    async def _write(self, stmt: Statement, values: dict[str, Any]) -> int:
        async with self.db.transaction() as conn:
            return await conn.execute(stmt.sql, stmt.params(extras=values))

    # -- housekeeping ----------------------------------------------------------------------------------

    async def prune(self, *, done_before: dt.datetime, failed_before: dt.datetime) -> PruneReport:
        """Delete deliveries done before ``done_before`` or failed before ``failed_before``, then the
        events written before ``done_before`` that no delivery refers to any more.

        Pending deliveries, and so their events, are never deleted, however old.
        """
        sql = self.sql
        report = PruneReport()
        report.deliveries = await self._write(
            sql.prune_deliveries(), {"done_before": sql.time(done_before), "failed_before": sql.time(failed_before)}
        )
        report.events = await self._write(sql.prune_events(), {"before": sql.time(done_before)})
        return report
