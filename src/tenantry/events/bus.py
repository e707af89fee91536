"""The in-process side of domain events: ``DomainEvent`` and the ``EventBus`` subscribers register on.

A subscriber is an async function and a topic pattern (``projects.created``, ``projects.*``,
``*.deleted``, ``*``; shell-style wildcards). The dispatcher hands each committed event to every
matching subscriber, in the order the events were written, once the transaction that wrote them
has committed.

Subscribers are per process, and any process's dispatcher may deliver a given event (whichever
claims it first), so every process must register the same subscribers: they come from code run at
start-up (realtime fan-out through Redis, webhooks), never from state one process alone holds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fnmatch
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("tenantry.events")

# The topic of a change: ``<entity>.<past tense of its action>``.
TOPIC_SUFFIX = {"create": "created", "update": "updated", "delete": "deleted"}


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Something that happened to a row, as subscribers receive it.

    ``data`` is the row as the API returns it (after a create or update; as it was, for a delete);
    ``old`` the row before an update. ``actor_id`` is the user who made the change, if any.
    """

    id: str
    topic: str
    entity: str
    row_id: str
    org_id: str | None
    data: dict[str, Any] | None
    old: dict[str, Any] | None
    actor_id: str | None
    created_at: dt.datetime

    @property
    def action(self) -> str:
        """``created``, ``updated`` or ``deleted``."""
        return self.topic.rpartition(".")[2]


Handler = Callable[[DomainEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Subscription:
    pattern: str
    handler: Handler


class EventBus:
    """Subscribers by topic pattern, and delivery of one event to the matching ones."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []

    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]:
        """Call ``handler`` for every event whose topic matches ``pattern``; returns the unsubscribe function."""
        if not pattern:
            raise ValueError("a topic pattern is required ('*' for every event)")
        if not callable(handler):
            raise TypeError("the handler must be an async function taking a DomainEvent")
        subscription = Subscription(pattern, handler)
        self._subscriptions.append(subscription)

        def unsubscribe() -> None:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

        return unsubscribe

    def handlers_for(self, topic: str) -> list[Handler]:
        """The handlers subscribed to ``topic``, in the order they subscribed."""
        return [s.handler for s in self._subscriptions if fnmatch.fnmatchcase(topic, s.pattern)]

    async def deliver(self, event: DomainEvent, handler_timeout: float) -> list[str]:
        """Give ``event`` to every matching handler, concurrently, each within ``handler_timeout`` seconds.

        A handler that fails or times out is logged and does not stop the others (nor later
        events): one broken subscriber must not hold up everyone's stream. Returns the failures.
        """
        handlers = self.handlers_for(event.topic)

        async def run(handler: Handler) -> None:
            async with asyncio.timeout(handler_timeout):
                await handler(event)

        outcomes = await asyncio.gather(*(run(h) for h in handlers), return_exceptions=True)
        failures: list[str] = []
        for handler, outcome in zip(handlers, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if isinstance(outcome, asyncio.CancelledError):
                    raise outcome  # the dispatcher is being stopped: not the handler's failure
                name = getattr(handler, "__qualname__", repr(handler))
                log.error("event subscriber %s failed on %s (%s)", name, event.topic, event.id, exc_info=outcome)
                failures.append(f"{name}: {type(outcome).__name__}: {outcome}")
        return failures
