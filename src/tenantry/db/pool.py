"""The pool of PostgreSQL connections: asyncpg connections handed out first come, first served.

Why not ``asyncpg.Pool``: every request takes one connection and gives it back, and asyncpg's pool
spends more CPU on that cycle than on running a statement (55 us against 69 us here, measured on the
same machine): a timeout context on each side, a proxy object per acquisition (and an extra call on
every method of the connection through it), an inactivity timer armed and cancelled, and a task per
release (``asyncio.shield``, so a cancelled caller cannot lose the connection). Its queue also lets a
newcomer take a connection released while an older waiter is being woken, sending that waiter to
the back. Here a connection is handed straight to the longest waiter, or kept for the next caller,
by a plain function call: releasing needs no round trip (Tenantry leaves no session state on a
connection, see ``PostgresDatabase``) and cannot be interrupted.

What is kept of asyncpg's pool: connections are opened on demand up to ``size`` and by the caller
that needs one (the first request after an outage reconnects); one that closed, is caught in a
transaction is dropped, not reused, and its place goes to the next
waiter; connections idle longer than ``idle_lifetime`` are closed; ``expire`` replaces every
connection at its next release or acquisition (``PostgresDatabase.listen_statements``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

import asyncpg

log = logging.getLogger("tenantry.db")

# How long a connection may wait unused before it is closed (asyncpg's pool's default).
IDLE_LIFETIME = 300.0
# How long closing a connection may take before it is cut (at shutdown, or when it is replaced).
CLOSE_TIMEOUT = 5.0


class PoolClosed(RuntimeError):
    """The pool is closed (the app is stopping): no connection is handed out."""


def _unusable(conn: asyncpg.Connection) -> bool:
    """Whether ``conn`` must not serve anyone again: closed, or inside a transaction nobody finished.

    A connection whose statement was cancelled (its caller gave up) is fine: asyncpg waits for the
    server to confirm the cancellation before it sends the next statement."""
    return bool(conn.is_closed() or conn.is_in_transaction())


class ConnectionPool:
    """Up to ``size`` connections made by ``connect``, each serving one caller at a time."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        size: int,
        *,
        idle_lifetime: float = IDLE_LIFETIME,
    ) -> None:
        if size < 1:
            raise ValueError("a pool needs room for at least one connection")
        self._connect = connect
        self.size = size
        self.idle_lifetime = idle_lifetime
        # Free connections and when each was given back, the most recent last (taken first: the
        # others stay idle, and the oldest reach their lifetime and close).
        self._idle: deque[tuple[asyncpg.Connection, float]] = deque()
        # Connections handed out (a release of anything else is a mistake, refused).
        self._out: set[asyncpg.Connection] = set()
        # Open and opening connections, and the callers waiting for one, in arrival order. A waiter
        # is handed a connection, or None: a place was freed, it opens a connection of its own there.
        self._count = 0
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        # Connections opened before the last ``expire`` are replaced.
        self._generation = 0
        self._born: dict[asyncpg.Connection, int] = {}
        self._closed = False
        self._closing: set[asyncio.Task[None]] = set()

    # -- what the pool holds ----------------------------------------------------------------------

    @property
    def open_count(self) -> int:
        """Connections open or being opened."""
        return self._count

    @property
    def idle_count(self) -> int:
        """Open connections nobody is using."""
        return len(self._idle)

    @property
    def must_wait(self) -> bool:
        """Whether a caller arriving now waits for another to give a connection back."""
        return not self._idle and self._count >= self.size

    # -- taking and giving back -------------------------------------------------------------------

    async def acquire(self) -> asyncpg.Connection:
        """A connection for the caller alone, until it ``release``\\ s it (first come, first served)."""
        if self._closed:
            raise PoolClosed("the database is closed")
        while self._idle:
            conn, _ = self._idle.pop()
            if self._born.get(conn) == self._generation and not _unusable(conn):
                self._out.add(conn)
                return conn
            self._drop(conn)
        if self._count < self.size and not self._waiters:
            self._count += 1
            return await self._open_connection()
        waiter: asyncio.Future[asyncpg.Connection | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            handed = await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed something in the same turn the caller gave up: pass it on.
                late = waiter.result()
                if late is None:
                    self._place_freed()
                else:
                    self.release(late)
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise
        if handed is None:
            return await self._open_connection()
        return handed

    def release(self, conn: asyncpg.Connection) -> None:
        """Give ``conn`` back: to the longest waiter, else kept for the next caller; dropped if it
        cannot serve again (see ``_unusable``) or belongs to an expired generation."""
        if conn not in self._out:
            raise RuntimeError("this connection is not out of the pool (given back twice?)")
        self._out.discard(conn)
        if self._closed or self._born.get(conn) != self._generation or _unusable(conn):
            self._drop(conn)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._out.add(conn)
                waiter.set_result(conn)
                return
        now = time.monotonic()
        self._idle.append((conn, now))
        # The longest idle, first in line, goes once it has waited its lifetime.
        while len(self._idle) > 1 and now - self._idle[0][1] > self.idle_lifetime:
            self._drop(self._idle.popleft()[0])

    def expire(self) -> None:
        """Replace every connection open now: idle ones at once, those in use when given back."""
        self._generation += 1
        while self._idle:
            self._drop(self._idle.popleft()[0])

    async def close(self) -> None:
        """Close the pool: idle connections now, those in use when given back; waiters are refused."""
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolClosed("the database is closed"))
        self.expire()
        if self._closing:
            await asyncio.wait(list(self._closing), timeout=CLOSE_TIMEOUT * 2)

    # -- opening and dropping ---------------------------------------------------------------------

    async def _open_connection(self) -> asyncpg.Connection:
        """A new connection in a place already counted (freed again if it cannot be opened)."""
        try:
            conn = await self._connect()
        except BaseException:
            self._place_freed()
            raise
        if self._closed:
            self._born[conn] = -1
            self._drop(conn)
            raise PoolClosed("the database is closed")
        self._born[conn] = self._generation
        self._out.add(conn)
        return conn

    def _drop(self, conn: asyncpg.Connection) -> None:
        """Close ``conn`` in the background (cut at once if it is mid-transaction) and free its place."""
        self._born.pop(conn, None)
        if not conn.is_closed():
            if _unusable(conn):
                conn.terminate()
            else:
                task = asyncio.get_running_loop().create_task(self._close_quietly(conn))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
        self._place_freed()

    async def _close_quietly(self, conn: asyncpg.Connection) -> None:
        try:
            await conn.close(timeout=CLOSE_TIMEOUT)
        except Exception as exc:  # it was going anyway: cut it
            log.debug("closing a pooled connection failed (%s): terminated", exc)
            conn.terminate()

    def _place_freed(self) -> None:
        """A connection's place is free: the longest waiter opens one there, else it is no longer counted."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._count -= 1
