"""A SQLite database another process keeps locked is busy (503 upstream), not an unexpected error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tenantry.db.errors import DatabaseUnavailable
from tenantry.db.sqlite import SQLiteDatabase


async def test_a_write_lock_held_elsewhere_makes_the_database_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    db = SQLiteDatabase(f"sqlite:///{path}", pool_size=1, busy_timeout=0.05)
    await db.open()
    try:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE things (name TEXT)")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process writing, and not finishing
        try:
            with pytest.raises(DatabaseUnavailable, match="locked"):
                async with db.transaction() as conn:
                    await conn.execute("INSERT INTO things VALUES ('a')")
            # Reads go on (WAL): only writers wait for the lock.
            async with db.connection() as conn:
                assert await conn.fetch("SELECT count(*) FROM things") == [(0,)]
        finally:
            other.execute("ROLLBACK")
            other.close()
        # Once the lock is released, the same pool writes again: nothing was left half-open.
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO things VALUES ('b')")
        async with db.connection() as conn:
            assert [tuple(r) for r in await conn.fetch("SELECT name FROM things")] == [("b",)]
    finally:
        await db.close()
