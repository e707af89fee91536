"""The ``Outbox``: named subscribers, publishing inside the caller's transaction, and their workers.

Publishing is write-time fan-out: the event row and one delivery row per subscriber whose
pattern matches, on the caller's connection, so both exist exactly when the change committed.
After that commit this process's workers of those subscribers are woken; other processes find the
deliveries at their next poll, or at once when this process rings for them (``ring_elsewhere``: a
process that runs no workers of its own) and they listen (``start(listen=…)``, on PostgreSQL).
 Subscribers must therefore be registered in every process that
writes events (any process may also deliver them): register them at start-up, from code, never
from state only one process holds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

from tenantry.db import Connection, Database, TableSet
from tenantry.db.codecs import utc_now
from tenantry.events.event import DomainEvent
from tenantry.events.housekeeping import OutboxPruner
from tenantry.events.observer import DeliveryObserver
from tenantry.events.settings import OutboxSettings
from tenantry.events.sql import outbox_sql
from tenantry.events.store import OutboxStore, PruneReport
from tenantry.events.subscriber import Subscriber
from tenantry.events.tables import DEDUPE_KEY_LENGTH, TRACE_CONTEXT_LENGTH
from tenantry.events.wakeups import Bell, Listener
from tenantry.events.worker import DeliveryReport, DeliveryWorker, FailureListener

log = logging.getLogger("tenantry.events")


class Outbox:
    """One app's durable outbox: ``register`` subscribers, ``publish`` events, ``start``/``stop`` delivery.

    ``clock`` and ``poll_interval`` are for tests (a fake clock; a short poll).
    """

    def __init__(
        self,
        db: Database,
        tables: TableSet,
        *,
        settings: OutboxSettings | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        poll_interval: float = 1.0,
    ) -> None:
        self.db = db
        self.sql = outbox_sql(tables)
        self.store = OutboxStore(db, self.sql)
        self.settings = settings or OutboxSettings()
        self.clock = clock
        self.poll_interval = poll_interval
        self.pruner = OutboxPruner(self.store, self.settings, clock=clock)
        # Told of every failed delivery attempt of every subscriber (an error tracker's seam).
        self.failure_listeners: list[FailureListener] = []
        self._subscribers: dict[str, Subscriber] = {}
        self._workers: dict[str, DeliveryWorker] = {}
        self._matching: dict[str, tuple[Subscriber, ...]] = {}  # topic -> its subscribers, until the next (un)register
        self._running = False
        self._retiring: set[asyncio.Task[None]] = set()
        self._observer: DeliveryObserver | None = None
        self._bell: Bell | None = None
        self._listener: Listener | None = None

    def observe(self, observer: DeliveryObserver | None) -> None:
        """Tell ``observer`` of every publish and delivery from now on (tracing); None stops it."""
        self._observer = observer
        for worker in self._workers.values():
            worker.observer = observer

    # -- subscribers -------------------------------------------------------------------------------

    @property
    def subscribers(self) -> Mapping[str, Subscriber]:
        """The registered subscribers by name."""
        return MappingProxyType(self._subscribers)

    def register(self, subscriber: Subscriber) -> Callable[[], None]:
        """Deliver the events written from now on whose topic matches to ``subscriber``.

        Its worker starts at once if the outbox is running. Returns a function that unregisters it
        (events written afterwards get no delivery for it; its worker stops). Names are unique.
        """
        name = subscriber.name
        if name in self._subscribers:
            raise ValueError(f"a subscriber named {name!r} is registered already; give this one another name")
        worker = DeliveryWorker(
            self.store,
            subscriber,
            clock=self.clock,
            poll_interval=self.poll_interval,
            failure_listeners=self.failure_listeners,
            lease=self.settings.lease_seconds,
        )
        worker.observer = self._observer
        self._subscribers[name] = subscriber
        self._workers[name] = worker
        self._matching.clear()
        if self._running:
            worker.start()

        def unregister() -> None:
            if self._subscribers.get(name) is not subscriber:
                return
            del self._subscribers[name]
            self._matching.clear()
            retired = self._workers.pop(name)
            if retired.running:
                task = asyncio.get_running_loop().create_task(retired.stop())
                self._retiring.add(task)
                task.add_done_callback(self._retiring.discard)

        return unregister

    def subscribers_for(self, topic: str) -> tuple[Subscriber, ...]:
        """The subscribers an event of ``topic`` is delivered to, in the order they registered."""
        found = self._matching.get(topic)
        if found is None:
            found = self._matching[topic] = tuple(s for s in self._subscribers.values() if s.matches(topic))
        return found

    def worker(self, name: str) -> DeliveryWorker:
        """This process's worker of the subscriber ``name``."""
        return self._workers[name]

    @property
    def workers(self) -> Mapping[str, DeliveryWorker]:
        """This process's delivery workers by subscriber name (readiness probes ask each if it is ``alive``)."""
        return MappingProxyType(self._workers)

    @property
    def running(self) -> bool:
        """Between ``start`` and ``stop``: the workers are meant to be alive."""
        return self._running

    # -- writing -------------------------------------------------------------------------------------

    async def publish(self, conn: Connection, event: DomainEvent, *, dedupe_key: str | None = None) -> bool:
        """Write ``event`` and its deliveries on ``conn``, inside the transaction of the change behind it.

        ``dedupe_key`` names the action when the event must exist once (a mail): if an event with
        that key exists, nothing is written and False is returned. The subscribers' workers in this
        process are woken once the transaction commits.
        """
        if dedupe_key is not None and not 0 < len(dedupe_key) <= DEDUPE_KEY_LENGTH:
            raise ValueError(f"dedupe_key must be 1-{DEDUPE_KEY_LENGTH} characters")
        subscribers = self.subscribers_for(event.topic)
        if self._observer is not None and event.trace_context is None:
            context = self._observer.publishing()
            if context is not None:
                event = dataclasses.replace(event, trace_context=context[:TRACE_CONTEXT_LENGTH])
        targets = [(s.name, s.ordering_key(event)) for s in subscribers]
        written = await self.store.publish(conn, event, targets, self.clock(), dedupe_key)
        if written and subscribers:
            conn.on_commit(self._waker(subscribers))
        return written

    async def add_deliveries(
        self, conn: Connection, event: DomainEvent, subscribers: Iterable[Subscriber | str]
    ) -> int:
        """Deliver an already written ``event`` to more (registered) subscribers: a fan-out decided later.

        For a subscriber that spreads an event further (one delivery per webhook endpoint, each
        registered as its own subscriber), from its handler. A delivery that exists already is
        kept as it is, so a handler retried after a crash adds nothing twice. Returns how many were added.
        """
        chosen = [self._subscribers[s] if isinstance(s, str) else s for s in subscribers]
        for s in chosen:
            if self._subscribers.get(s.name) is not s:
                raise LookupError(f"subscriber {s.name!r} is not registered on this outbox")
        added = await self.store.add_deliveries(
            conn, event.id, [(s.name, s.ordering_key(event)) for s in chosen], self.clock()
        )
        if added:
            conn.on_commit(self._waker(chosen))
        return added

    def _waker(self, subscribers: Iterable[Subscriber]) -> Callable[[], None]:
        names = [s.name for s in subscribers]

        def wake() -> None:
            if self._running:
                self.wake(names)
            elif self._bell is not None:
                self._bell.ring(names)

        return wake

    def ring_elsewhere(self, bell: Bell | None) -> None:
        """While this process runs no workers, wake those of other processes through ``bell``."""
        self._bell = bell

    def wake(self, names: Iterable[str] | None = None) -> None:
        """Wake this process's workers of the subscribers ``names`` (None: every one)."""
        if names is None:
            names = list(self._workers)
        for name in names:
            found = self._workers.get(name)
            if found is not None:
                found.wake()

    # -- delivery --------------------------------------------------------------------------------------

    def start(self, *, listen: str | None = None) -> None:
        """Start every subscriber's worker and the pruner (call from the running event loop).

        ``listen``: a PostgreSQL DSN on which to hear the bells of processes that run no workers.
        """
        self._running = True
        for worker in self._workers.values():
            worker.start()
        self.pruner.start()
        if listen is not None:
            self._listener = Listener(listen, self.wake)
            self._listener.start()

    async def stop(self, grace: float = 10.0) -> None:
        """Stop the workers (handlers in flight finish within ``grace``; the rest is handed back) and the pruner."""
        self._running = False
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()
        await asyncio.gather(*(w.stop(grace) for w in self._workers.values()), self.pruner.stop(grace))
        bell, self._bell = self._bell, None
        if bell is not None:
            await bell.close()
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)

    async def deliver_pending(self) -> DeliveryReport:
        """One pass of every subscriber's worker, here and now: what is due is delivered (tests, tools)."""
        report = DeliveryReport()
        for worker in list(self._workers.values()):
            report.add(await worker.deliver_pending())
        return report

    async def prune(self) -> PruneReport:
        """One prune pass with the settings' retentions (the pruner runs this every interval)."""
        return await self.pruner.work(until_stopped=False)
