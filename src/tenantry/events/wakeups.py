"""Waking the outbox workers of other processes: PostgreSQL's ``NOTIFY``, sent after a commit.

A process that runs no background work (``TENANTRY_BACKGROUND=false``: a web node whose deliveries
are made by ``tenantry worker`` processes) cannot wake the workers of the subscribers it wrote
deliveries for; without a bell they would find them at their next poll only. ``Bell`` rings for
them: it gathers the names of the subscribers woken within a short window and sends them in one
``NOTIFY`` on a connection of its own, so a burst of writes costs one notification, not one each,
and never a round trip inside a request. ``Listener`` is the other end: in a process that runs the
workers, it wakes those named.

A lost notification costs only latency (the workers still poll), so neither end retries anything
but its connection: the bell drops a ring it cannot send, the listener reconnects at its next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

import asyncpg

from tenantry.outage import Outage
from tenantry.worker import PollingWorker

log = logging.getLogger("tenantry.events")

CHANNEL = "tenantry_outbox"
# Everyone: the names did not fit one notification (PostgreSQL's limit is 8,000 bytes).
EVERYONE = "*"
MAX_PAYLOAD = 7_900
# How long a bell gathers names before it rings: the latency a delivery may gain, at most.
DEFAULT_WINDOW = 0.01


def payload(names: Iterable[str]) -> str:
    """The notification's text: the subscribers' names, one per line, or ``*`` when they do not fit."""
    text = "\n".join(sorted(set(names)))
    return text if len(text.encode()) <= MAX_PAYLOAD else EVERYONE


def names_in(text: str) -> frozenset[str] | None:
    """The names a notification carries; None for everyone."""
    if text == EVERYONE:
        return None
    return frozenset(name for name in text.split("\n") if name)


class Bell:
    """Rings the workers of other processes, through ``NOTIFY`` on a connection of its own.

    ``ring`` is synchronous and cheap (it runs in commit callbacks); the sending happens in a task.
    """

    def __init__(self, dsn: str, *, window: float = DEFAULT_WINDOW) -> None:
        self.dsn = dsn
        self.window = window
        self._pending: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._outage = Outage("database (for waking the outbox workers)", log)

    def ring(self, names: Iterable[str]) -> None:
        """Wake the workers of ``names`` wherever they run, within ``window`` seconds."""
        self._pending.update(names)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._send(), name="tenantry-outbox-bell")

    async def _send(self) -> None:
        await asyncio.sleep(self.window)
        names, self._pending = self._pending, set()
        if not names:
            return
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self.dsn, timeout=5)
            await self._conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload(names))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            # The workers will find the deliveries at their next poll.
            self._outage.failed(exc, "the outbox workers find new deliveries at their next poll")
            await self._disconnect()
        else:
            self._outage.recovered()

    async def close(self) -> None:
        """Send what is gathered, then close the connection."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
            self._task = None
        await self._disconnect()

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)


class Listener(PollingWorker):
    """Listens for the bells of other processes and calls ``on_ring`` with the names (None: everyone).

    Keeps one connection; when it is lost, the next poll connects again and wakes everyone once,
    since rings may have been missed meanwhile.
    """

    def __init__(
        self, dsn: str, on_ring: Callable[[frozenset[str] | None], None], *, poll_interval: float = 5.0
    ) -> None:
        super().__init__("outbox-listener", poll_interval, log)
        self.dsn = dsn
        self.on_ring = on_ring
        self._conn: asyncpg.Connection | None = None
        self._outage = Outage("database (for the outbox's wake-ups)", log)

    async def work(self, *, until_stopped: bool) -> None:
        await self.check()

    async def stop(self, grace: float = 10.0) -> None:
        await super().stop(grace)
        await self._disconnect()

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def check(self) -> None:
        """Listen, if not listening yet (or any more)."""
        if self.listening:
            return
        await self._disconnect()
        try:
            conn = await asyncpg.connect(self.dsn, timeout=5)
            await conn.add_listener(CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            self._outage.failed(exc, "the outbox workers poll meanwhile")
            return
        self._conn = conn
        self._outage.recovered()
        self.on_ring(None)

    def _notified(self, _conn: object, _pid: int, _channel: str, text: object) -> None:
        self.on_ring(names_in(str(text)))

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
