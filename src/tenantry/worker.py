"""A background loop that works through an outbox: now when woken, else at every poll.

The outbox's delivery workers (one per subscriber) and the housekeeping sweeps share it: ``start``
runs ``work`` in a task, ``wake`` (called after a commit that wrote work) cuts the wait short,
``stop`` lets the pass in hand finish for a grace period. What a pass does, and how a crash
mid-pass is recovered (leases), is theirs.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging

from tenantry.db.errors import DatabaseUnavailable
from tenantry.outage import Outage


class PollingWorker(abc.ABC):
    """Runs ``work(until_stopped=True)`` in the background until stopped, between waits of ``poll_interval``."""

    def __init__(self, name: str, poll_interval: float, log: logging.Logger, *, wait_first: bool = False) -> None:
        self.name = name
        self.poll_interval = poll_interval
        # Outboxes work at once (something may be waiting since the last run); housekeeping waits a
        # poll first, so starting a process costs nothing.
        self.wait_first = wait_first
        self._log = log
        # A database outage is met at every poll: logged when it starts and when it ends, not each time.
        self._database = Outage(f"database (for {name})", log)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @abc.abstractmethod
    async def work(self, *, until_stopped: bool) -> object:
        """One pass over what is due; with ``until_stopped``, stop early once ``stop`` is called."""

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def alive(self) -> bool:
        """Its loop is running (``tenantry.core.Supervised``): False once stopped, or if its task died."""
        return self.running

    def start(self) -> None:
        """Start working in the background (call from the running event loop)."""
        if self.running:
            return
        self._stopping = False
        self._wakeup = asyncio.Event()  # bound to this loop (an app may be started again on another)
        self._task = asyncio.create_task(self._run(), name=f"tenantry-{self.name}")

    def wake(self) -> None:
        """Work now rather than at the next poll. Only this process's worker wakes; others poll."""
        self._wakeup.set()

    async def stop(self, grace: float = 10.0) -> None:
        """Let the pass in hand finish (up to ``grace`` seconds), then stop."""
        self._stopping = True
        self._wakeup.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            # What was claimed and not finished is taken again once its lease runs out.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        if self.wait_first:
            await self._wait()
        while not self._stopping:
            self._wakeup.clear()
            try:
                await self.work(until_stopped=True)
            except DatabaseUnavailable as exc:
                # The database is restarting or away: keep the loop alive and try again at the next poll.
                self._database.failed(exc, "retrying at every poll")
            except Exception:
                self._log.exception("%s pass failed", self.name)
            else:
                self._database.recovered()
            if self._stopping:
                break
            await self._wait()

    async def _wait(self) -> None:
        """Until the next poll, or until woken or stopped."""
        # Not ``asyncio.wait_for``: on Python 3.11 it can swallow a cancellation that arrives
        # as the event is set, and the loop would go on after ``stop``.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.poll_interval):
                await self._wakeup.wait()
