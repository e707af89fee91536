"""Fixtures for the outbox tests: a database holding only the outbox tables, a fake clock, helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tenantry.db import Database, TableSet, build_metadata, create_database, dialect_of
from tenantry.db.codecs import utc_now
from tenantry.db.ids import uuid7
from tenantry.db.migrations import sync_schema
from tenantry.events import DomainEvent, Outbox, OutboxStore, events_tables
from tenantry.schema import load_schema_text
from tests.clock import FakeClock

SCHEMA = """
projects:
  - name: string (required)
"""


@dataclass
class OutboxEnv:
    url: str
    db: Database
    tables: TableSet
    clock: FakeClock
    outbox: Outbox

    async def open_another(self) -> Database:
        """A second pool on the same database: what a second process would have."""
        other = create_database(self.url)
        await other.open()
        return other

    def store(self, db: Database | None = None) -> OutboxStore:
        return OutboxStore(db or self.db, self.outbox.sql)

    async def publish(self, *events: DomainEvent, dedupe_key: str | None = None) -> list[bool]:
        """Publish ``events`` in one committed transaction."""
        async with self.db.transaction() as conn:
            return [await self.outbox.publish(conn, e, dedupe_key=dedupe_key) for e in events]

    async def rows(self, sql: str) -> list[Any]:
        async with self.db.connection() as conn:
            return list(await conn.fetch(sql))

    async def deliveries(self, subscriber: str) -> dict[str, tuple[str, int, str | None]]:
        """``event id -> (status, attempts, last_error)`` of ``subscriber``'s deliveries."""
        rows = await self.rows(
            "SELECT event_id, status, attempts, last_error FROM outbox_deliveries "
            f"WHERE subscriber = '{subscriber}' ORDER BY event_id"
        )
        return {str(r[0]): (r[1], int(r[2]), r[3]) for r in rows}


def event(entity: str = "projects", row_id: str = "1", *, topic: str | None = None, **data: Any) -> DomainEvent:
    """A domain event of ``entity`` row ``row_id`` (an aggregate), written now."""
    return DomainEvent(
        id=str(uuid7()),
        topic=topic or f"{entity}.updated",
        entity=entity,
        row_id=row_id,
        org_id=None,
        data=data or {"row": row_id},
        old=None,
        actor_id=None,
        created_at=utc_now(),
    )


@pytest.fixture
async def outbox_env(database_url: str) -> AsyncIterator[OutboxEnv]:
    tables = build_metadata(load_schema_text(SCHEMA, "outbox.yaml"), dialect_of(database_url), [events_tables])
    await asyncio.to_thread(sync_schema, database_url, tables)
    db = create_database(database_url)
    await db.open()
    clock = FakeClock()
    try:
        yield OutboxEnv(database_url, db, tables, clock, Outbox(db, tables, clock=clock))
    finally:
        await db.close()
