"""Domain events through an outbox: written with the change, delivered after the commit.

Every CRUD write adds an ``outbox_events`` row (``<entity>.<created|updated|deleted>``, the row as
the API returns it, the old row for updates) in its own transaction (``EventWriter``), so an event
exists exactly when its change committed. After the commit an ``EventDispatcher`` hands committed
events, in order, to the subscribers of this process's ``EventBus`` and marks them published;
several processes share the outbox safely (claims with leases, as the mail outbox).

Public face: ``events_tables`` (the table contributor), ``Events`` (installs the writer and the
dispatcher into an app; ``subscribe`` is what realtime, webhooks and other consumers call),
``EventBus``, ``DomainEvent``, ``EventDispatcher``. Project hooks' ``after_*`` callbacks are
separate and unchanged: they run in the request, right after its commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tenantry.core import App, Capabilities, Capability, Worker
from tenantry.events.bus import DomainEvent, EventBus, Handler
from tenantry.events.dispatcher import DispatchReport, EventDispatcher
from tenantry.events.sql import EventSQL
from tenantry.events.tables import EVENTS_TABLE, events_tables
from tenantry.events.writer import EventWriter, OrganizationEventWriter

if TYPE_CHECKING:
    from tenantry.db.tables import TableSet
    from tenantry.schema import Schema

__all__ = [
    "EVENTS_TABLE",
    "DispatchReport",
    "DomainEvent",
    "EventBus",
    "EventDispatcher",
    "EventSQL",
    "EventWriter",
    "Events",
    "Handler",
    "OrganizationEventWriter",
    "events_tables",
]


class Events(Capability):
    """The domain events of one app: the outbox writer in its pipeline, a bus and its dispatcher."""

    name = "events"
    # Its pipeline listener and its observer of organization changes run after the audit log's.
    after = ("audit", "tenancy")

    def contribute(self, ts: TableSet, schema: Schema, capabilities: Capabilities) -> None:
        events_tables(ts, schema)

    def install(self, app: App) -> None:
        self.sql = EventSQL(app.tables, app.pipeline.sql)
        self.bus = EventBus()
        self.dispatcher = EventDispatcher(app.db, self.sql, self.bus)
        self.writer = EventWriter(self.sql, wake=self.dispatcher.wake)
        app.pipeline.listeners.append(self.writer)
        organizations = app.schema.system_entity("organizations")
        # An observer for the organization plugin's changes (memberships, invitations …).
        self.organization_change = OrganizationEventWriter(
            self.writer, organizations.name if organizations is not None else "organizations"
        )
        app.pipeline.change_observers.append(self.organization_change)

    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]:
        """Call ``handler`` (async) with every committed event whose topic matches ``pattern``.

        Register subscribers at start-up in every process (any process may deliver an event).
        Returns a function that unsubscribes.
        """
        return self.bus.subscribe(pattern, handler)

    def workers(self) -> Sequence[Worker]:
        return [self.dispatcher]
