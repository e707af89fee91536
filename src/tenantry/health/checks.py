"""The readiness checks: each answers ``ok`` or why not, within a timeout, and says nothing secret.

A check's outcome is one word (``ok``, ``failing``, ``timeout``, ``behind``): never an error
message, which could carry a host name or a DSN. What went wrong is logged for the operator.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tenantry.core import App, Supervised, Worker

log = logging.getLogger("tenantry.health")

OK = "ok"
FAILING = "failing"
TIMEOUT = "timeout"
BEHIND = "behind"


@dataclass
class Outcome:
    """One check's word, and for workers the names of those not running."""

    status: str
    stopped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == OK


async def bounded(name: str, check: Callable[[], Awaitable[Outcome]], seconds: float) -> Outcome:
    """``check`` given at most ``seconds``; an exception is ``failing`` (and logged)."""
    try:
        async with asyncio.timeout(seconds):
            return await check()
    except TimeoutError:
        log.warning("readiness check %s timed out after %.2f s", name, seconds)
        return Outcome(TIMEOUT)
    except Exception as exc:
        # The type only: the message of a connection error may name the host and user.
        log.warning("readiness check %s failed: %s", name, type(exc).__name__)
        return Outcome(FAILING)


async def database(app: App) -> Outcome:
    """A round trip to the database (through the pool, as requests go)."""
    await app.db.fetchrow("SELECT 1")
    return Outcome(OK)


async def migrations(app: App, heads: tuple[str, ...], sql: str) -> Outcome:
    """The database is at the code's head revision(s): ``behind`` (or ahead) otherwise."""
    rows = await app.db.fetch(sql)
    current = tuple(sorted(str(r[0]) for r in rows))
    if current != heads:
        log.warning("readiness: the database is at revision %s, the code at %s", current or "none", heads)
        return Outcome(BEHIND)
    return Outcome(OK)


async def redis(client: Any) -> Outcome:
    """A PING to the Redis the app shares between processes."""
    await client.ping()
    return Outcome(OK)


def workers(app: App) -> Outcome:
    """The outbox's delivery workers and pruner and the capabilities' workers are running (if run here).

    A worker that cannot tell (no ``alive``, see ``tenantry.core.Supervised``) counts as running.
    """
    if not app.settings.background:
        return Outcome(OK)  # ``tenantry worker`` processes run them (and answer for them)
    stopped: list[str] = []
    outbox = app.outbox
    if not outbox.running:
        stopped.append("outbox")
    else:
        stopped += [f"outbox:{name}" for name, worker in outbox.workers.items() if not worker.alive]
        if not outbox.pruner.alive:
            stopped.append("outbox-pruner")
    stopped += [worker_name(w) for w in app.workers if isinstance(w, Supervised) and not w.alive]
    return Outcome(FAILING, stopped) if stopped else Outcome(OK)


def worker_name(worker: Worker) -> str:
    """A worker's name for the probe's body: its ``name``, else its class (never anything it holds)."""
    name = getattr(worker, "name", None)
    return name if isinstance(name, str) else type(worker).__name__


def failing(outcomes: Sequence[tuple[str, Outcome]]) -> list[str]:
    return [name for name, outcome in outcomes if not outcome.ok]
