"""Expired verification rows and sessions are deleted in the background; live ones stay."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tenantry.auth import Authentication
from tests.auth.helpers import BASE, NO_VERIFICATION, runtime, sign_in, sign_up, sql

pytestmark = pytest.mark.asyncio


async def test_sweep_deletes_only_what_has_expired(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        auth = runtime(client).get(Authentication)
        store = auth.ctx.store
        await sign_up(client)
        await sign_in(client)
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        future = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        async with runtime(client).db.transaction() as conn:
            await store.create_verification(conn, "old-token", "v", past)
            await store.create_verification(conn, "live-token", "v", future)
        sessions = auth.ctx.tables.sessions
        expired_at = store.ts_in(past)
        # One of the user's two sessions has expired.
        oldest = (await sql(client, f"SELECT {sessions.c.id.name} FROM {sessions.name} ORDER BY 1 LIMIT 1"))[0][0]
        await sql(
            client,
            f"UPDATE {sessions.name} SET {sessions.c.expires_at.name} = ? WHERE {sessions.c.id.name} = ?",
            expired_at,
            oldest,
        )
        assert await auth.sweeper.work(until_stopped=False) == (1, 1)
        assert await store.peek_verification("old-token") is None
        assert await store.peek_verification("live-token") is not None
        assert len(await sql(client, f"SELECT 1 FROM {sessions.name}")) == 1
        assert await auth.sweeper.work(until_stopped=False) == (0, 0)
        assert auth.sweeper.running  # started with the app


async def test_the_first_sweep_waits_an_interval(make_client: Any) -> None:
    """Starting a process costs no sweep: the first one comes a poll later, then one per poll."""
    import asyncio

    from tenantry.auth.sweeper import ExpirySweeper

    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        store = runtime(client).get(Authentication).ctx.store
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        async with runtime(client).db.transaction() as conn:
            await store.create_verification(conn, "old-token", "v", past)
        sweeper = ExpirySweeper(runtime(client).db, store, interval=3.0)
        sweeper.start()
        try:
            await asyncio.sleep(0.3)  # a sweep at start would be done by now
            assert await store.peek_verification("old-token") is not None
            for _ in range(100):
                if await store.peek_verification("old-token") is None:
                    break
                await asyncio.sleep(0.1)
            assert await store.peek_verification("old-token") is None
        finally:
            await sweeper.stop()
