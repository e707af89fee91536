"""Deliver one subscriber's deliveries: claim with a lease, call the handler, record the outcome.

Each subscriber has one ``DeliveryWorker`` per process (``Outbox.start``), woken after the commit
that wrote deliveries for it and polling otherwise. Several processes' workers of one subscriber
share its deliveries safely:

- a claim holds deliveries for ``lease`` seconds; the worker renews it as the batch goes on, and
  if its process dies the deliveries become due again when the lease runs out (at least once);
- every mark names the claim (``claim_id``), so a worker whose deliveries were claimed again
  after its lease ran out changes nothing;
- a failed attempt is retried after the subscriber's backoff; an ordered group stops there (its
  later deliveries are handed back and wait for it), other groups go on; after the last attempt
  the delivery is ``failed`` and its group moves on;
- stopping lets the handlers in flight finish and hands back what was not started at once.

Every failed attempt is also told to the outbox's failure listeners (``DeliveryFailure``): the
seam through which an error tracker hears of background failures without the core knowing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tenantry.db.actor import SYSTEM, acting_as
from tenantry.db.codecs import utc_now
from tenantry.db.errors import DatabaseUnavailable
from tenantry.events.event import DomainEvent
from tenantry.events.observer import DeliveryObserver
from tenantry.events.sql import Claimed
from tenantry.events.store import Claim, OutboxStore
from tenantry.events.subscriber import (
    Delivery,
    DeliveryDeferred,
    DeliveryError,
    PermanentDeliveryError,
    Subscriber,
    delivery_context,
)
from tenantry.worker import PollingWorker

log = logging.getLogger("tenantry.events")

Clock = Callable[[], dt.datetime]
Outcome = Literal["done", "retrying", "failed", "lost"]


@dataclass(frozen=True)
class DeliveryFailure:
    """One failed delivery attempt, as the failure listeners hear of it.

    ``error`` is what the handler raised (None when the attempt was given up without running:
    its worker died during the last one). ``expected``: a failure the handler announced
    (``DeliveryError``, a timeout, a network error), retried as a matter of course, as opposed to
    a bug. ``given_up``: this was the last attempt, the delivery is ``failed``.
    """

    subscriber: str
    event: DomainEvent
    attempt: int
    error: BaseException | None
    message: str
    expected: bool
    given_up: bool


# Told of every failed attempt, in the worker's task, before the outcome is recorded; must not block.
FailureListener = Callable[[DeliveryFailure], None]


@dataclass
class DeliveryReport:
    """What one pass of a worker did."""

    done: int = 0
    retrying: int = 0
    failed: int = 0  # given up: permanent errors, or the last attempt failed
    # Outcomes not recorded, or deliveries not started: another worker claimed them after the lease ran out.
    lost: int = 0

    @property
    def attempted(self) -> int:
        return self.done + self.retrying + self.failed + self.lost

    def add(self, other: DeliveryReport) -> None:
        """Add ``other``'s counts to this report."""
        self.done += other.done
        self.retrying += other.retrying
        self.failed += other.failed
        self.lost += other.lost


class _Batch:
    """One claim being worked through: which deliveries it still holds."""

    def __init__(self, claim: Claim) -> None:
        self.claim = claim
        self.held = {item.event.id for item in claim.items}
        self.started: set[str] = set()

    def holds(self, item: Claimed) -> bool:
        return item.event.id in self.held


class DeliveryWorker(PollingWorker):
    """Delivers ``subscriber``'s deliveries in the background (``start``/``wake``/``stop``) or one pass at a time.

    ``clock`` exists for tests (a fake clock instead of sleeping through backoff and leases).
    """

    def __init__(
        self,
        store: OutboxStore,
        subscriber: Subscriber,
        *,
        clock: Clock = utc_now,
        poll_interval: float = 1.0,
        failure_listeners: Sequence[FailureListener] = (),
        lease: float | None = None,
    ) -> None:
        super().__init__(f"outbox-{subscriber.name}", poll_interval, log)
        # Shared with the outbox (its list, not a copy): listeners added later are heard too.
        self.failure_listeners = failure_listeners
        self.store = store
        self.subscriber = subscriber
        self.clock = clock
        # ``lease`` (TENANTRY_OUTBOX_LEASE_SECONDS) replaces the subscriber's; a handler must still end
        # within half of it, or another process could take its delivery while it runs.
        seconds = lease or subscriber.lease
        self.lease = dt.timedelta(seconds=seconds)
        self.handler_timeout = min(subscriber.handler_timeout, seconds / 2)
        self._ordered = subscriber.ordering != "none"
        # Wraps each handler call when set (``Outbox.observe``: tracing).
        self.observer: DeliveryObserver | None = None

    async def stop(self, grace: float = 10.0) -> None:
        """Let the handlers in flight finish (within ``grace`` seconds), hand back the rest; close the subscriber."""
        await super().stop(grace)
        if self.subscriber.close is not None:
            await self.subscriber.close()

    # -- one pass ----------------------------------------------------------------------------------

    async def deliver_pending(self) -> DeliveryReport:
        """Deliver everything due now (``batch_size`` at a time); returns what happened."""
        return await self.work(until_stopped=False)

    async def work(self, *, until_stopped: bool) -> DeliveryReport:
        report = DeliveryReport()
        if until_stopped and self.subscriber.pipelined:
            await self._work_pipelined(report)
            return report
        # Handlers act as the application itself, whichever task started the worker.
        with acting_as(SYSTEM):
            while not (until_stopped and self._stopping):
                claim = await self.claim()
                if not claim.items:
                    break
                await self._deliver(claim, report, until_stopped=until_stopped)
                if len(claim.items) < self.subscriber.batch_size:
                    break
        return report

    async def _work_pipelined(self, report: DeliveryReport) -> None:
        """Keep up to ``concurrency`` deliveries in hand, claiming more whenever some finish.

        A claim never takes a group whose earlier delivery is in hand (claimed deliveries are not
        due until their lease ends), so order within a group holds while other groups move on.
        Returns once nothing is in hand and nothing is due (the polling loop waits then).
        """
        running: dict[asyncio.Task[Any], int] = {}
        capacity = self.subscriber.concurrency
        with acting_as(SYSTEM):
            try:
                while not self._stopping:
                    self._wakeup.clear()
                    wanted = min(capacity - sum(running.values()), self.subscriber.batch_size)
                    claimed = 0
                    if wanted > 0:
                        claim = await self.claim(wanted)
                        claimed = len(claim.items)
                        if claimed:
                            task = asyncio.create_task(self._deliver(claim, report, until_stopped=True))
                            running[task] = claimed
                    if claimed and claimed == wanted:
                        continue  # there may be more due: claim again (once a slot is free)
                    if not running:
                        return
                    woken = asyncio.create_task(self._wakeup.wait())
                    try:
                        done, _ = await asyncio.wait(
                            {*running, woken}, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED
                        )
                    finally:
                        woken.cancel()
                    for finished in done:
                        if finished is woken:
                            continue
                        running.pop(finished)
                        if not finished.cancelled() and finished.exception() is not None:
                            log.error("%s: a batch failed", self.subscriber.name, exc_info=finished.exception())
            finally:
                # Stopping (or failing): the handlers in flight finish; what was not started is handed back.
                if running:
                    await asyncio.gather(*running, return_exceptions=True)

    async def claim(self, limit: int | None = None) -> Claim:
        """Claim up to ``limit`` (``batch_size``) due deliveries (empty when none is due, or all are held)."""
        now = self.clock()
        if not await self.store.has_due(self.subscriber.name, now):
            # Most polls find nothing: a read costs no write transaction (SQLite's one writer, PostgreSQL's WAL).
            return Claim("", self.subscriber.name, [])
        return await self.store.claim(
            self.subscriber.name,
            ordered=self._ordered,
            now=now,
            until=now + self.lease,
            limit=limit or self.subscriber.batch_size,
        )

    async def _deliver(self, claim: Claim, report: DeliveryReport, *, until_stopped: bool) -> None:
        batch = _Batch(claim)
        if self.subscriber.concurrency == 1:
            lanes = [claim.items]  # one after the other, in event order
        else:
            # Unordered: each delivery a lane of its own. Ordered: one lane per group, in event order.
            grouped: dict[object, list[Claimed]] = {}
            for item in claim.items:
                grouped.setdefault(item.ordering_key if self._ordered else item.event.id, []).append(item)
            lanes = list(grouped.values())
        gate = asyncio.Semaphore(self.subscriber.concurrency)

        async def run(items: list[Claimed]) -> None:
            # Ordered groups that must not go on in this claim, and why.
            halted: dict[str | None, Outcome] = {}
            async with gate:
                for item in items:
                    if until_stopped and self._stopping:
                        return  # handed back below
                    group = item.ordering_key
                    if self._ordered and group in halted:
                        if halted[group] == "lost":
                            report.lost += 1
                        continue  # handed back already, behind the one waiting for its retry
                    if not batch.holds(item):
                        # The lease ran out (renewal failed or came too late) and another worker took it.
                        report.lost += 1
                        halted[group] = "lost"
                        continue
                    batch.started.add(item.event.id)
                    outcome = await self._deliver_one(claim, item)
                    setattr(report, outcome, getattr(report, outcome) + 1)
                    if self._ordered and outcome in ("retrying", "lost"):
                        halted[group] = outcome
                        if outcome == "retrying":
                            # The rest of the group waits behind this one: handed back now, not at lease end.
                            await self.store.release(claim, self.clock(), group)

        renewing = asyncio.create_task(self._renew(batch), name=f"tenantry-outbox-renew-{self.subscriber.name}")
        try:
            # Every handler in flight is awaited even if one outcome cannot be recorded: none is cut off.
            outcomes = await asyncio.gather(*(run(items) for items in lanes), return_exceptions=True)
        except asyncio.CancelledError:
            # Cut off by a stop whose grace ran out: what is not done is handed back now, so another
            # process takes it at once rather than when the lease runs out. At least once still holds.
            # Any other cancellation is treated as the process dying: the lease decides.
            if self._stopping:
                with contextlib.suppress(Exception):
                    await self.store.release(claim, self.clock())
            raise
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        if until_stopped and self._stopping:
            # Stopping: hand back what was not started rather than make the next process wait for the lease.
            await self.store.release(claim, self.clock())
        problems = [o for o in outcomes if isinstance(o, BaseException)]
        if problems:
            raise problems[0]

    async def _renew(self, batch: _Batch) -> None:
        """Renew the claim's lease every third of it while the batch goes on; note what was lost."""
        interval = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            try:
                held = await self.store.renew(batch.claim, self.clock() + self.lease)
            except Exception:
                # The lease still runs a while; the next renewal may get through.
                log.warning("renewing claim %s of %s failed", batch.claim.id, self.subscriber.name, exc_info=True)
                continue
            lost = batch.held - held - batch.started
            if lost:
                log.warning(
                    "claim %s of %s outlived its lease; %d delivery(ies) were claimed by another worker",
                    batch.claim.id,
                    self.subscriber.name,
                    len(lost),
                )
            batch.held -= lost

    async def _deliver_one(self, claim: Claim, item: Claimed) -> Outcome:
        sub = self.subscriber
        if item.attempt > sub.retry.max_attempts:
            # Its last attempt was claimed by a worker that died: the budget is spent.
            return await self._fail(claim, item, "gave up: the worker stopped during the last attempt", None, True)
        token = delivery_context.set(Delivery(item.event.id, sub.name, item.attempt, self.clock()))
        observed = (
            contextlib.nullcontext()
            if self.observer is None
            else self.observer.delivering(sub.name, item.event, item.attempt)
        )
        try:
            with observed:
                async with asyncio.timeout(self.handler_timeout):
                    result = await sub.handler(item.event)
        except PermanentDeliveryError as exc:
            return await self._fail(claim, item, f"{type(exc).__name__}: {exc}", exc, True)
        except DeliveryDeferred as exc:
            return await self._defer(claim, item, exc)
        except Exception as exc:
            # The database away mid-handler is a fault of the moment, as a provider's outage is.
            expected = isinstance(exc, DeliveryError | TimeoutError | OSError | DatabaseUnavailable)
            # An unexpected exception is a bug worth a traceback, and still worth another try.
            return await self._retry_or_fail(claim, item, f"{type(exc).__name__}: {exc}", exc, expected)
        finally:
            delivery_context.reset(token)
        if await self.store.mark_done(claim, item, self.clock(), result):
            return "done"
        return self._lost(item)

    async def _retry_or_fail(self, claim: Claim, item: Claimed, error: str, exc: Exception, expected: bool) -> Outcome:
        sub = self.subscriber
        if sub.retry.gives_up_after(item.attempt):
            return await self._fail(claim, item, f"gave up after {item.attempt} attempts: {error}", exc, expected)
        self._tell(item, exc, error, expected=expected, given_up=False)
        next_at = self.clock() + dt.timedelta(seconds=sub.retry.delay_after(item.attempt))
        log.warning(
            "%s: attempt %d on %s (%s) failed: %s; next attempt at %s",
            sub.name,
            item.attempt,
            item.event.topic,
            item.event.id,
            error,
            next_at,
            exc_info=None if expected else exc,
        )
        if await self.store.mark_retry(claim, item, next_at, error):
            return "retrying"
        return self._lost(item)

    async def _defer(self, claim: Claim, item: Claimed, exc: DeliveryDeferred) -> Outcome:
        next_at = self.clock() + dt.timedelta(seconds=exc.retry_after)
        sub, event = self.subscriber.name, item.event
        log.debug("%s: %s (%s) deferred until %s: %s", sub, event.topic, event.id, next_at, exc)
        if await self.store.defer(claim, item, next_at, f"deferred: {exc}"):
            return "retrying"
        return self._lost(item)

    async def _fail(
        self, claim: Claim, item: Claimed, error: str, exc: BaseException | None, expected: bool
    ) -> Outcome:
        self._tell(item, exc, error, expected=expected, given_up=True)
        log.error(
            "%s: gave up on %s (%s) after attempt %d: %s",
            self.subscriber.name,
            item.event.topic,
            item.event.id,
            item.attempt,
            error,
        )
        if await self.store.mark_failed(claim, item, self.clock(), error):
            return "failed"
        return self._lost(item)

    def _tell(self, item: Claimed, exc: BaseException | None, error: str, *, expected: bool, given_up: bool) -> None:
        """Tell the failure listeners of a failed attempt; a listener's own failure is only logged."""
        if not self.failure_listeners:
            return
        failure = DeliveryFailure(self.subscriber.name, item.event, item.attempt, exc, error, expected, given_up)
        for listener in self.failure_listeners:
            try:
                listener(failure)
            except Exception:
                log.warning("a failure listener of %s raised", self.subscriber.name, exc_info=True)

    def _lost(self, item: Claimed) -> Outcome:
        log.warning(
            "%s: attempt %d on %s outlived its lease; another worker claimed it, outcome not recorded",
            self.subscriber.name,
            item.attempt,
            item.event.id,
        )
        return "lost"
