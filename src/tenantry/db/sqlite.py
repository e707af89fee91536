"""SQLite through aiosqlite: WAL mode, foreign keys on, one writer at a time.

SQLite allows many readers but a single writer. Writers in this process queue on an asyncio lock
and open their transaction with ``BEGIN IMMEDIATE``, so two writers never deadlock upgrading a read
lock; other processes wait on ``busy_timeout``.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn

import aiosqlite
from sqlalchemy.dialects.sqlite import aiosqlite as sa_aiosqlite
from sqlalchemy.engine import make_url

from tenantry.db.database import Database, PoolStats, QueryObserver, Row, run_after_commit
from tenantry.db.errors import DatabaseUnavailable, DataRejected, IntegrityViolation

_UNIQUE = re.compile(r"UNIQUE constraint failed: (?:index '(?P<index>[^']+)'|(?P<cols>.+))")
_NOT_NULL = re.compile(r"NOT NULL constraint failed: (?P<col>\S+)")
_CHECK = re.compile(r"CHECK constraint failed: (?P<name>\S+)")


def _unicode_lower(value: Any) -> Any:
    # SQLite's built-in lower() only folds ASCII; the case-insensitive operators must fold 'É' too.
    return value.lower() if isinstance(value, str) else value


def _raise_translated(exc: Exception) -> NoReturn:
    msg = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        if m := _UNIQUE.match(msg):
            if m.group("index"):
                raise IntegrityViolation("unique", msg, constraint=m.group("index")) from exc
            qualified = [c.strip() for c in m.group("cols").split(",")]
            table = qualified[0].split(".")[0]
            cols = tuple(c.split(".", 1)[-1] for c in qualified)
            raise IntegrityViolation("unique", msg, table=table, columns=cols) from exc
        if msg.startswith("FOREIGN KEY"):
            raise IntegrityViolation("foreign_key", msg) from exc
        if m := _NOT_NULL.match(msg):
            table, _, col = m.group("col").partition(".")
            raise IntegrityViolation("not_null", msg, table=table, columns=(col,)) from exc
        if m := _CHECK.match(msg):
            raise IntegrityViolation("check", msg, constraint=m.group("name")) from exc
        raise IntegrityViolation("check", msg) from exc
    if isinstance(exc, (OverflowError, sqlite3.DataError)):
        raise DataRejected(msg) from exc
    raise exc


def _busy(exc: sqlite3.OperationalError) -> DatabaseUnavailable | None:
    """Another process held the write lock past ``busy_timeout``: the database is busy, not broken."""
    message = str(exc)
    if "database is locked" in message or "database is busy" in message:
        return DatabaseUnavailable(f"the SQLite database stayed locked by another process ({message})")
    return None


async def _run(conn: aiosqlite.Connection, sql: str) -> None:
    # Always step statements to completion: an unfinished one (PRAGMA journal_mode returns a row)
    # keeps its lock and blocks every other connection to the file.
    try:
        await conn.execute_fetchall(sql)
    except sqlite3.OperationalError as exc:
        if busy := _busy(exc):
            raise busy from exc
        raise


class _SQLiteConnection:
    __slots__ = ("committed", "observer", "raw")

    def __init__(self, conn: aiosqlite.Connection, observer: QueryObserver | None = None) -> None:
        self.raw = conn
        self.committed: list[Callable[[], None]] = []
        # Spans are opened here, on the event loop, where the request's context is: aiosqlite runs
        # the statement on its own thread, which an instrumentation of sqlite3 would see without it.
        self.observer = observer

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        if self.observer is not None and (observation := self.observer(sql)) is not None:
            with observation:
                return await self._fetch(sql, params)
        return await self._fetch(sql, params)

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Row]:
        try:
            return list(await self.raw.execute_fetchall(sql, params))
        except (sqlite3.IntegrityError, sqlite3.DataError, OverflowError) as exc:
            _raise_translated(exc)
        except sqlite3.OperationalError as exc:
            if busy := _busy(exc):
                raise busy from exc
            raise

    async def fetchrow(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.fetch(sql, params)
        return rows[0] if rows else None

    def on_commit(self, callback: Callable[[], None]) -> None:
        self.committed.append(callback)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        if self.observer is not None and (observation := self.observer(sql)) is not None:
            with observation:
                return await self._execute(sql, params)
        return await self._execute(sql, params)

    async def _execute(self, sql: str, params: Sequence[Any]) -> int:
        try:
            cursor = await self.raw.execute(sql, params)
        except (sqlite3.IntegrityError, sqlite3.DataError, OverflowError) as exc:
            _raise_translated(exc)
        except sqlite3.OperationalError as exc:
            if busy := _busy(exc):
                raise busy from exc
            raise
        count = cursor.rowcount
        await cursor.close()
        return max(count, 0)


class SQLiteDatabase(Database):
    """A small pool of aiosqlite connections to one database file."""

    dialect_name = "sqlite"
    sa_dialect = sa_aiosqlite.dialect()

    def __init__(self, url: str, *, pool_size: int = 4, busy_timeout: float = 10.0) -> None:
        super().__init__(url)
        # How long a statement waits for another process's write lock before the database is busy.
        self.busy_timeout = busy_timeout
        database = make_url(url).database or ""
        self.memory = database in ("", ":memory:")
        self.path = ":memory:" if self.memory else database
        # An in-memory database exists once per connection, so it gets exactly one.
        self.pool_size = 1 if self.memory else pool_size
        self._idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all: list[aiosqlite.Connection] = []
        self._write_lock = asyncio.Lock()

    async def _connect(self) -> aiosqlite.Connection:
        try:
            conn = await aiosqlite.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"cannot open SQLite database {self.path}: {exc}") from exc
        for pragma in ("foreign_keys = ON", f"busy_timeout = {int(self.busy_timeout * 1000)}", "synchronous = NORMAL"):
            await _run(conn, f"PRAGMA {pragma}")
        await conn.create_function("lower", 1, _unicode_lower, deterministic=True)
        return conn

    async def open(self) -> None:
        if self._all:
            return
        if not self.memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        first = await self._connect()
        if not self.memory:
            await _run(first, "PRAGMA journal_mode = WAL")
        self._all.append(first)
        self._idle.put_nowait(first)
        for _ in range(self.pool_size - 1):
            conn = await self._connect()
            self._all.append(conn)
            self._idle.put_nowait(conn)

    async def close(self) -> None:
        for conn in self._all:
            await conn.close()
        self._all.clear()
        self._idle = asyncio.Queue()

    def pool_stats(self) -> PoolStats:
        size = len(self._all)
        return PoolStats(
            size=size,
            max_size=self.pool_size,
            in_use=size - self._idle.qsize() if size else 0,
            waits=self.waits.count,
            wait_seconds=self.waits.seconds,
        )

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[_SQLiteConnection]:
        if not self._all:
            raise DatabaseUnavailable("the database is not open")
        if self._idle.empty():
            # Every connection is taken: queue, and count how long (the pool-waits metric).
            started = time.perf_counter()
            conn = await self._idle.get()
            self.waits.add(time.perf_counter() - started)
        else:
            conn = self._idle.get_nowait()
        try:
            yield _SQLiteConnection(conn, self.query_observer)
        finally:
            self._idle.put_nowait(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SQLiteConnection]:
        async with self._write_lock, self.connection() as wrapped:
            conn = wrapped.raw
            await _run(conn, "BEGIN IMMEDIATE")
            wrapped.committed.clear()
            try:
                yield wrapped
            except BaseException:
                await _run(conn, "ROLLBACK")
                raise
            else:
                try:
                    await _run(conn, "COMMIT")
                except DatabaseUnavailable:
                    # Still open: a COMMIT that could not take the lock leaves the transaction as it was.
                    await _run(conn, "ROLLBACK")
                    raise
        run_after_commit(wrapped.committed)
