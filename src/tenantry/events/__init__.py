"""Domain events through one durable outbox: written with the change, delivered to each subscriber after the commit.

Every CRUD write (and every change of the organization plugin) publishes an event in its own
transaction (``EventWriter``): one ``outbox_events`` row, and one ``outbox_deliveries`` row per
named subscriber whose topic pattern matches. After the commit each subscriber's worker delivers
its rows with its own state: a failing subscriber is retried on its backoff schedule (within an
ordering group, later events wait for it), and never holds up another subscriber. Several
processes share the outbox safely (claims with leases, fenced marks). Mail is a subscriber too:
its messages are events (``$mail.requested``) that exist once per action (a dedupe key).

Public face:

- ``events_tables``: the table contributor (``outbox_events``, ``outbox_deliveries``; ``outbox_tables``
  finds them, for capabilities that read their own events back, as the dev mail outbox does);
- ``Outbox``: ``register(Subscriber)``, ``publish(conn, event, dedupe_key=…)``,
  ``add_deliveries(conn, event, subscribers)``, ``start``/``stop``, ``deliver_pending``, ``prune``;
- ``Subscriber`` (name, patterns, handler, ordering ``none``/``aggregate``/``global``, key,
  ``RetryPolicy``, handler timeout, lease, batch size, concurrency), ``current_delivery``,
  ``DeliveryError``/``PermanentDeliveryError`` (a failure to retry / not to retry);
  ``DeliveryDeferred`` (a dependency away: try again later, not counted as an attempt);
- ``Events``: the writer in an app's pipeline (and its observer of organization changes) and
  ``subscribe(pattern, handler)``, the short way to add a subscriber; ``DomainEvent``;
  ``OutboxSettings`` (the prune policy);
- ``DeliveryObserver``: told of each publish and delivery (``Outbox.observe``), how tracing links a
  delivery to the request that published its event;
- ``Outbox.failure_listeners``: told of every failed attempt (``DeliveryFailure``: the subscriber,
  the event, the attempt, the exception, whether it was expected and whether it was the last),
  for an error tracker;
- ``DeliveryWorker``/``OutboxStore``: one subscriber's worker on a database of its own (what
  another process runs; tests and tools).

Project hooks' ``after_*`` callbacks are separate and unchanged: they run in the request, right
after its commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tenantry.events.event import DomainEvent, topic_matches
from tenantry.events.observer import DeliveryObserver
from tenantry.events.outbox import Outbox
from tenantry.events.retry import RetryPolicy
from tenantry.events.settings import OutboxSettings
from tenantry.events.store import Backlog, OutboxStore, PruneReport
from tenantry.events.subscriber import (
    MAX_NAME,
    Delivery,
    DeliveryDeferred,
    DeliveryError,
    Handler,
    Ordering,
    PermanentDeliveryError,
    Subscriber,
    aggregate_key,
    current_delivery,
)
from tenantry.events.tables import DELIVERIES_TABLE, DONE, EVENTS_TABLE, FAILED, PENDING, events_tables, outbox_tables
from tenantry.events.worker import DeliveryFailure, DeliveryReport, DeliveryWorker, FailureListener
from tenantry.events.writer import EventWriter, OrganizationEventWriter

if TYPE_CHECKING:
    from tenantry.pipeline import Pipeline
    from tenantry.schema import Schema

__all__ = [
    "DELIVERIES_TABLE",
    "DONE",
    "EVENTS_TABLE",
    "FAILED",
    "PENDING",
    "Backlog",
    "Delivery",
    "DeliveryDeferred",
    "DeliveryError",
    "DeliveryFailure",
    "DeliveryObserver",
    "DeliveryReport",
    "DeliveryWorker",
    "DomainEvent",
    "EventWriter",
    "Events",
    "FailureListener",
    "Handler",
    "Ordering",
    "OrganizationEventWriter",
    "Outbox",
    "OutboxSettings",
    "OutboxStore",
    "PermanentDeliveryError",
    "PruneReport",
    "RetryPolicy",
    "Subscriber",
    "aggregate_key",
    "current_delivery",
    "events_tables",
    "outbox_tables",
    "subscriber_name",
    "topic_matches",
]


class Events:
    """The domain events of one app: every change through its pipeline, and every change the
    organization plugin reports, published to its outbox in the change's transaction.

    Part of the core every capability sees (``App.events``, beside ``App.outbox``).
    """

    def __init__(self, outbox: Outbox, pipeline: Pipeline, schema: Schema) -> None:
        self.outbox = outbox
        self.writer = EventWriter(self.outbox)
        pipeline.listeners.append(self.writer)
        organizations = schema.system_entity("organizations")
        # The organization plugin's changes (memberships, invitations …) come through the pipeline's observers.
        self.organization_change = OrganizationEventWriter(
            self.writer, organizations.name if organizations is not None else "organizations"
        )
        pipeline.change_observers.append(self.organization_change)

    def subscribe(
        self,
        pattern: str,
        handler: Handler,
        *,
        name: str | None = None,
        ordering: Ordering = "aggregate",
        **options: Any,
    ) -> Callable[[], None]:
        """Deliver every event written from now on whose topic matches ``pattern`` to ``handler`` (async).

        A durable subscriber: ``name`` (default ``subscriber_name(handler, pattern)``) keys its
        deliveries, so it must be the same in every process and across deploys; pass one when the
        handler may move or be renamed. Delivery is at least once, in event order per row by
        default (``ordering``); a handler that raises is retried with backoff. ``options`` are the
        other fields of ``Subscriber`` (``retry``, ``handler_timeout``, ``key`` …). Register at
        start-up in every process. Returns a function that unsubscribes.
        """
        subscriber = Subscriber(
            name=name or subscriber_name(handler, pattern),
            patterns=(pattern,),
            handler=handler,
            ordering=ordering,
            **options,
        )
        return self.outbox.register(subscriber)


def subscriber_name(handler: Callable[..., Any], pattern: str) -> str:
    """A stable name for a subscriber given by its handler: ``<module>.<qualified name>:<pattern>``.

    Functions and methods name themselves; a callable object is named by its class. Two
    subscriptions of one handler to one pattern need explicit names.
    """
    owner: Any = handler if hasattr(handler, "__qualname__") else type(handler)
    name = f"{getattr(owner, '__module__', '?')}.{owner.__qualname__}:{pattern}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}~{digest}"
