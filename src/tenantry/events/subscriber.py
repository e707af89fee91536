"""A named, durable subscriber of the outbox: what it wants, how it is delivered to, how it is retried.

A ``Subscriber`` is registered on the ``Outbox`` at start-up in every process. Writing an event
adds one delivery row per subscriber whose pattern matches; that row keeps the subscriber's own
state (attempts, next attempt, last error, result), so one subscriber failing never touches
another's delivery, and a failing one is retried on its ``retry`` schedule until it succeeds or
runs out of attempts.

``ordering`` says which deliveries must wait for which:

- ``"none"``: any order, several at once (mail);
- ``"aggregate"`` (the default): in event order within a group; the group is ``key(event)``,
  by default ``<entity>:<row_id>`` (every change of one row, in order). A delivery waiting for a
  retry holds back the later ones of its group only;
- ``"global"``: one group, every event in order (realtime pushes).

The name is the subscriber's identity in the ``outbox_deliveries`` table, so it must stay the same
across processes and deploys; deliveries left under a name no process registers any more wait for
ever (and are never pruned).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Final, Literal

from tenantry.events.event import DomainEvent, check_pattern, topic_matches
from tenantry.events.retry import RetryPolicy

Ordering = Literal["none", "aggregate", "global"]
ORDERINGS: Final = ("none", "aggregate", "global")

# Returns nothing, or a short text kept with the delivery (a mail provider's message id).
Handler = Callable[[DomainEvent], Awaitable[str | None]]
KeyFunction = Callable[[DomainEvent], str]

MAX_NAME = 100
MAX_KEY = 255
# Every event of a "global" subscriber is in this one group.
GLOBAL_KEY: Final = "*"


class DeliveryError(Exception):
    """A failure a handler expects (a provider down, a timeout): retried, logged without a traceback."""


class DeliveryDeferred(DeliveryError):
    """What the handler needs is away for now (Redis for realtime's pushes): try again in ``retry_after``
    seconds, as often as it takes.

    Not an attempt: the delivery's attempts are not counted (so an outage, however long, never makes
    it give up), the failure listeners are not told, and the worker logs nothing above DEBUG (the
    handler's owner logs the outage once). An ordered group waits behind it, so what follows is
    delivered after it, in order, once the dependency is back.
    """

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """This event can never be delivered to this subscriber (a rejected recipient): no retry, marked failed."""


def aggregate_key(event: DomainEvent) -> str:
    """The default group of ``"aggregate"`` ordering: every change of one row."""
    return f"{event.entity}:{event.row_id}"


def _global_key(event: DomainEvent) -> str:
    return GLOBAL_KEY


@dataclass(frozen=True)
class Subscriber:
    """A named consumer of the events whose topic matches one of ``patterns``.

    ``handler`` is called once per event (again after a failure, on ``retry``'s schedule) within
    ``handler_timeout`` seconds. ``lease`` is how long a claimed delivery stays this worker's
    before another process may take it over (a process that died mid-delivery); the worker renews
    it while it works, and it must leave room for two handler calls. A worker claims up to
    ``batch_size`` deliveries at a time and runs up to ``concurrency`` of them (or, when ordered,
    of their groups) at once. ``pipelined``: a worker claims more due deliveries as soon as one of
    those in hand finishes, instead of after its whole batch, so one slow handler call (a webhook
    endpoint that takes its full timeout) never holds up the other groups. ``close`` is awaited when
    the subscriber's worker stops (a backend's connections).
    """

    name: str
    patterns: Sequence[str]
    handler: Handler
    ordering: Ordering = "aggregate"
    key: KeyFunction | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    handler_timeout: float = 30.0
    lease: float = 120.0
    batch_size: int = 50
    concurrency: int = 1
    pipelined: bool = False
    close: Callable[[], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > MAX_NAME:
            raise ValueError(f"a subscriber's name must be 1-{MAX_NAME} characters")
        if isinstance(self.patterns, str):
            object.__setattr__(self, "patterns", (self.patterns,))
        object.__setattr__(self, "patterns", tuple(check_pattern(p) for p in self.patterns))
        if not self.patterns:
            raise ValueError("a subscriber needs at least one topic pattern ('*' for every event)")
        if not callable(self.handler):
            raise TypeError("the handler must be an async function taking a DomainEvent")
        if self.ordering not in ORDERINGS:
            raise ValueError(f"ordering must be one of {', '.join(ORDERINGS)}, not {self.ordering!r}")
        if self.key is not None and self.ordering != "aggregate":
            raise ValueError("a key function groups 'aggregate' ordering only")
        if not 0 < self.handler_timeout * 2 <= self.lease:
            raise ValueError("handler_timeout must be positive and at most half the lease")
        if self.batch_size < 1 or self.concurrency < 1:
            raise ValueError("batch_size and concurrency must be at least 1")

    def matches(self, topic: str) -> bool:
        """Whether events of ``topic`` are delivered to this subscriber."""
        return any(topic_matches(topic, p) for p in self.patterns)

    def ordering_key(self, event: DomainEvent) -> str | None:
        """The group ``event`` is ordered in for this subscriber (None: unordered)."""
        if self.ordering == "none":
            return None
        if self.ordering == "global":
            return _global_key(event)
        key = (self.key or aggregate_key)(event)
        if len(key) > MAX_KEY:
            raise ValueError(f"the ordering key of subscriber {self.name} is longer than {MAX_KEY} characters")
        return key


@dataclass(frozen=True, slots=True)
class Delivery:
    """The delivery a handler is working on (``current_delivery()``): which attempt, since when."""

    event_id: str
    subscriber: str
    attempt: int
    claimed_at: dt.datetime


# Set by the worker around each handler call (a context variable: it follows the handler through its awaits).
delivery_context: ContextVar[Delivery | None] = ContextVar("tenantry_outbox_delivery", default=None)


def current_delivery() -> Delivery:
    """The delivery being handled: for handlers that need the attempt number (a mail's ``attempt``)."""
    delivery = delivery_context.get()
    if delivery is None:
        raise RuntimeError("current_delivery() is only available inside a subscriber's handler")
    return delivery
