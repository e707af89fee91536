"""Waiting for a pooled PostgreSQL connection is first come, first served: nobody jumps the queue."""

from __future__ import annotations

import asyncio

import pytest

from tenantry.db.postgres import PostgresDatabase
from tests.conftest import postgres_scratch
from tests.databases import PostgresDatabases


@pytest.fixture
def pg_url(postgres_databases: PostgresDatabases | None) -> str:
    return postgres_scratch(postgres_databases)


@pytest.mark.postgres
async def test_a_released_connection_goes_to_the_longest_waiter(pg_url: str) -> None:
    db = PostgresDatabase(pg_url, pool_size=1, role=None)
    await db.open()
    served: list[str] = []

    async def use(name: str) -> None:
        async with db.connection() as conn:
            served.append(name)
            await conn.fetch("SELECT 1")

    async def newcomer() -> None:
        # Arrives the moment the connection is back in the pool, before the first waiter has run
        # again: asyncpg's pool alone would hand it the connection and send that waiter to the back.
        while db.pool_stats().in_use:  # noqa: ASYNC110 - polling is the point: it must not wait its turn
            await asyncio.sleep(0)
        await use("newcomer")

    try:
        async with db.connection():
            waiters = [asyncio.create_task(use(f"w{n}")) for n in range(5)]
            await asyncio.sleep(0.05)  # every waiter is queued now
            late = asyncio.create_task(newcomer())
            await asyncio.sleep(0.05)
        await asyncio.gather(*waiters, late)
    finally:
        await db.close()
    assert served == ["w0", "w1", "w2", "w3", "w4", "newcomer"]
