"""The connection pool on a real PostgreSQL: who gets a connection, and which ones are never reused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from tenantry.db.pool import ConnectionPool, PoolClosed
from tests.conftest import postgres_scratch
from tests.databases import PostgresDatabases

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(postgres_databases: PostgresDatabases | None) -> str:
    return postgres_scratch(postgres_databases).replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture
async def make_pool(pg_url: str) -> AsyncIterator[Callable[..., ConnectionPool]]:
    made: list[ConnectionPool] = []

    def make(size: int = 1, connect: Callable[[], Awaitable[asyncpg.Connection]] | None = None, **options: float):
        pool = ConnectionPool(connect or (lambda: asyncpg.connect(pg_url)), size, **options)
        made.append(pool)
        return pool

    yield make
    for pool in made:
        await pool.close()


async def test_a_waiter_that_gives_up_loses_nothing(make_pool: Callable[..., ConnectionPool]) -> None:
    pool = make_pool(size=1)
    held = await pool.acquire()
    waiting = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    pool.release(held)
    again = await asyncio.wait_for(pool.acquire(), 1)
    assert again is held and pool.open_count == 1
    pool.release(again)


async def test_a_connection_handed_to_a_waiter_as_it_gives_up_goes_to_the_next(
    make_pool: Callable[..., ConnectionPool],
) -> None:
    pool = make_pool(size=1)
    held = await pool.acquire()
    first = asyncio.create_task(pool.acquire())
    second = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0.01)
    pool.release(held)  # handed to ``first``, which is cancelled before it runs again
    first.cancel()
    got = await asyncio.wait_for(second, 1)
    assert got is held
    pool.release(got)


async def test_a_connection_left_in_a_transaction_is_never_reused(make_pool: Callable[..., ConnectionPool]) -> None:
    pool = make_pool(size=1)
    conn = await pool.acquire()
    pid = conn.get_server_pid()
    await conn.execute("BEGIN")
    await conn.execute("CREATE TEMP TABLE leftover (x int)")
    pool.release(conn)
    fresh = await pool.acquire()
    assert fresh.get_server_pid() != pid and not fresh.is_in_transaction()
    assert await fresh.fetchval("SELECT to_regclass('pg_temp.leftover') IS NULL")
    pool.release(fresh)
    assert pool.open_count == 1


async def test_a_connection_whose_statement_was_cancelled_serves_the_next_caller(
    make_pool: Callable[..., ConnectionPool],
) -> None:
    pool = make_pool(size=1)
    conn = await pool.acquire()
    slow = asyncio.create_task(conn.fetch("SELECT pg_sleep(5)"))
    await asyncio.sleep(0.1)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    pool.release(conn)  # at once, as a request's connection is when its client went away
    fresh = await pool.acquire()
    assert await asyncio.wait_for(fresh.fetchval("SELECT 1"), 2) == 1  # not the sleep's answer, not stuck
    assert not await fresh.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(5)' AND state = 'active'"
    )
    pool.release(fresh)


async def test_a_connection_given_back_twice_is_refused(make_pool: Callable[..., ConnectionPool]) -> None:
    pool = make_pool(size=2)
    conn = await pool.acquire()
    pool.release(conn)
    with pytest.raises(RuntimeError, match="given back twice"):
        pool.release(conn)
    first, second = await pool.acquire(), await pool.acquire()
    assert first is not second  # one connection was never queued twice
    pool.release(first)
    pool.release(second)


async def test_a_lost_connection_frees_its_place_for_the_next_waiter(make_pool: Callable[..., ConnectionPool]) -> None:
    pool = make_pool(size=1)
    conn = await pool.acquire()
    waiting = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0.01)
    conn.terminate()
    pool.release(conn)
    fresh = await asyncio.wait_for(waiting, 2)
    assert fresh is not conn and await fresh.fetchval("SELECT 1") == 1
    assert pool.open_count == 1
    pool.release(fresh)


async def test_a_failed_connect_frees_its_place(make_pool: Callable[..., ConnectionPool], pg_url: str) -> None:
    attempts = 0

    async def flaky() -> asyncpg.Connection:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise OSError("connection refused")
        return await asyncpg.connect(pg_url)

    pool = make_pool(size=1, connect=flaky)
    with pytest.raises(OSError):
        await pool.acquire()
    assert pool.open_count == 0
    conn = await pool.acquire()
    assert await conn.fetchval("SELECT 1") == 1
    pool.release(conn)


async def test_expired_connections_are_replaced_at_their_next_use(make_pool: Callable[..., ConnectionPool]) -> None:
    pool = make_pool(size=2)
    idle, busy = await pool.acquire(), await pool.acquire()
    pids = {idle.get_server_pid(), busy.get_server_pid()}
    pool.release(idle)
    pool.expire()
    pool.release(busy)
    first, second = await pool.acquire(), await pool.acquire()
    assert not {first.get_server_pid(), second.get_server_pid()} & pids
    assert pool.open_count == 2
    pool.release(first)
    pool.release(second)


async def test_connections_idle_past_their_lifetime_are_closed(make_pool: Callable[..., ConnectionPool]) -> None:
    pool = make_pool(size=3, idle_lifetime=0.05)
    conns = [await pool.acquire() for _ in range(3)]
    for conn in conns[:2]:
        pool.release(conn)
    await asyncio.sleep(0.1)
    pool.release(conns[2])  # the two that waited longer go; the one just given back stays
    assert pool.idle_count == 1 and pool.open_count == 1


async def test_closing_refuses_waiters_and_closes_what_comes_back(make_pool: Callable[..., ConnectionPool]) -> None:
    pool = make_pool(size=1)
    conn = await pool.acquire()
    waiting = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0.01)
    closing = asyncio.create_task(pool.close())
    with pytest.raises(PoolClosed):
        await waiting
    pool.release(conn)
    await closing
    await asyncio.sleep(0.05)
    assert conn.is_closed() and pool.open_count == 0
    with pytest.raises(PoolClosed):
        await pool.acquire()
