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
    import time

    from tenantry.auth.sweeper import ExpirySweeper

    interval = 0.5
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        store = runtime(client).get(Authentication).ctx.store
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        async with runtime(client).db.transaction() as conn:
            await store.create_verification(conn, "old-token", "v", past)
        sweeper = ExpirySweeper(runtime(client).db, store, interval=interval)
        # When each sweep starts: measured, rather than looked for after a guessed pause, so a slow
        # machine can make a sweep late but never make an early one look late.
        sweeps: list[float] = []
        two_done = asyncio.Event()
        sweep = sweeper.work

        async def timed_sweep(*, until_stopped: bool) -> tuple[int, int]:
            sweeps.append(time.monotonic())
            try:
                return await sweep(until_stopped=until_stopped)
            finally:
                if len(sweeps) == 2:
                    two_done.set()

        sweeper.work = timed_sweep  # type: ignore[method-assign]
        started = time.monotonic()
        sweeper.start()
        try:
            async with asyncio.timeout(30):
                await two_done.wait()
        finally:
            await sweeper.stop()
        assert await store.peek_verification("old-token") is None
        # asyncio may wake a timer up to its clock's resolution early: allow a millisecond.
        assert sweeps[0] - started >= interval - 0.001, "a sweep ran at start"
        assert sweeps[1] - sweeps[0] >= interval - 0.001, "the second sweep came before its poll"
