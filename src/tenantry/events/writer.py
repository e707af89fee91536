"""Recording domain events: the pipeline's ``WriteListener`` that publishes one event per change."""

from __future__ import annotations

from typing import Any

from tenantry.db import Connection
from tenantry.db.ids import uuid7
from tenantry.events.event import TOPIC_SUFFIX, DomainEvent
from tenantry.events.outbox import Outbox
from tenantry.pipeline import OrganizationChange, WriteEvent, organization_of


class EventWriter:
    """Publishes ``<entity>.<created|updated|deleted>`` to the outbox in the transaction of every CRUD write.

    The event and its deliveries exist exactly when the change committed; the subscribers'
    workers are woken after that commit, so they hear of it at once rather than at their next poll.
    """

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def on_write(self, conn: Connection, event: WriteEvent) -> None:
        row = event.new if event.new is not None else event.old
        domain = DomainEvent(
            id=str(uuid7()),
            topic=f"{event.entity.name}.{TOPIC_SUFFIX[event.action]}",
            entity=event.entity.name,
            row_id=str(event.id),
            org_id=_text(organization_of(event)),
            data=row,
            old=event.old if event.action == "update" else None,
            actor_id=_text(event.context.principal.user_id),
            created_at=self.outbox.clock(),
        )
        await self.record(conn, domain)

    async def record(self, conn: Connection, event: DomainEvent) -> None:
        """Publish ``event`` on ``conn`` (inside the transaction of its change)."""
        await self.outbox.publish(conn, event)


class OrganizationEventWriter:
    """The organization plugin's changes as domain events: ``<organizations>.*``, ``members.*``, ``invitations.*``.

    An observer of the plugin (it does not go through the CRUD pipeline). Organizations share the
    CRUD topics (``organizations.created`` …); ``data`` is then the plugin's JSON (camelCase, as
    Better Auth answers), which has the same ``id``, ``name`` and ``slug``.
    """

    def __init__(self, events: EventWriter, organizations_entity: str) -> None:
        self.events = events
        self.entities = {"organization": organizations_entity, "member": "members", "invitation": "invitations"}

    async def __call__(self, conn: Connection, change: OrganizationChange) -> None:
        entity = self.entities.get(change.resource_type, change.resource_type)
        await self.events.record(
            conn,
            DomainEvent(
                id=str(uuid7()),
                topic=f"{entity}.{TOPIC_SUFFIX[change.action]}",
                entity=entity,
                row_id=str(change.resource_id),
                org_id=_text(change.organization_id),
                data=change.new if change.new is not None else change.old,
                old=change.old if change.action == "update" else None,
                actor_id=_text(change.actor_id),
                created_at=self.events.outbox.clock(),
            ),
        )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
