"""From domain events to webhook messages: one per event and endpoint that asked for it.

The ``webhooks.fanout`` subscriber of the outbox receives every event of the catalogue, in order
per organization. For each enabled endpoint of the event's organization that wants its type, it
writes a message (the payload as an admin of that organization reads the row through the API)
and queues it as a ``$webhooks.message`` event, all in one transaction: a fan-out retried after a
crash finds its messages there and adds nothing. Deliveries are the ``webhooks.delivery``
subscriber's, ordered per endpoint (see ``dispatch``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import orjson

from tenantry.audit import redact
from tenantry.context import Principal, RequestContext
from tenantry.db import Connection
from tenantry.db.codecs import format_timestamp
from tenantry.db.ids import uuid7
from tenantry.events import DomainEvent
from tenantry.webhooks.catalogue import Catalogue
from tenantry.webhooks.records import Message
from tenantry.webhooks.store import WebhookStore
from tenantry.webhooks.tables import ENDPOINTS_TABLE

if TYPE_CHECKING:
    from tenantry.core import App
    from tenantry.schema import Entity

# The internal topic of a message to deliver (``$``: no ``*`` subscriber ever sees it).
MESSAGE_TOPIC: Final = "$webhooks.message"
PENDING: Final = "pending"
DELIVERED: Final = "delivered"
FAILED: Final = "failed"


def new_message_id() -> str:
    """``msg_`` and a UUIDv7 in hex: unique, and sorted in the order messages were made."""
    return f"msg_{uuid7().hex}"


def is_message_id(value: str) -> bool:
    """Whether ``value`` has the shape of a message id (anything else names no message)."""
    return len(value) == 36 and value.startswith("msg_") and all(c in "0123456789abcdef" for c in value[4:])


async def queue_message(app: App, conn: Connection, message: Message, dedupe_key: str) -> bool:
    """Queue ``message`` for delivery on ``conn`` (inside the transaction that made or resends it)."""
    event = DomainEvent(
        id=str(uuid7()),
        topic=MESSAGE_TOPIC,
        entity=ENDPOINTS_TABLE,
        # The delivery subscriber orders by entity and row: one queue per endpoint.
        row_id=message.endpoint_id,
        org_id=message.org_id,
        data={"message_id": message.id},
        old=None,
        actor_id=None,
        created_at=app.clock(),
    )
    return await app.outbox.publish(conn, event, dedupe_key=dedupe_key)


class FanOut:
    """The ``webhooks.fanout`` handler."""

    def __init__(self, app: App, store: WebhookStore, catalogue: Catalogue) -> None:
        self.app = app
        self.store = store
        self.catalogue = catalogue
        self.top_role = app.schema.roles[0]

    async def __call__(self, event: DomainEvent) -> str | None:
        kind = self.catalogue.get(event.topic)
        if kind is None or event.org_id is None:
            return None
        endpoints = [
            e
            for e in await self.store.endpoints(None, event.org_id)
            # An endpoint hears of what happens from its registration on, not of what came before.
            if e.enabled and e.wants(event.topic) and e.created_at <= event.created_at
        ]
        if not endpoints:
            return None
        payload = await self.payload(event, kind.entity)
        now = self.app.clock()
        made = 0
        async with self.app.db.transaction() as conn:
            for endpoint in endpoints:
                message = Message(
                    id=new_message_id(),
                    endpoint_id=endpoint.id,
                    org_id=event.org_id,
                    event_id=event.id,
                    event_type=event.topic,
                    payload=payload,
                    status=PENDING,
                    attempts=0,
                    created_at=now,
                    delivered_at=None,
                )
                if await self.store.insert_message(conn, message):
                    await queue_message(self.app, conn, message, f"webhook:{message.id}")
                    made += 1
        return f"{made} message(s)"

    async def payload(self, event: DomainEvent, entity: Entity | None) -> str:
        """The body every attempt sends: Standard Webhooks' ``{type, timestamp, data}`` (and ``previous``)."""
        if entity is not None:
            ctx = RequestContext(Principal("user", org_id=event.org_id, role=self.top_role))
            data = await self.app.pipeline.presented(ctx, entity, event.data)
            old = await self.app.pipeline.presented(ctx, entity, event.old)
        else:
            data, old = redact(event.data), redact(event.old)
        body: dict[str, Any] = {"type": event.topic, "timestamp": format_timestamp(event.created_at), "data": data}
        if event.action == "updated":
            body["previous"] = _previous(old or {}, data or {})
        return orjson.dumps(body, default=str).decode()


def _previous(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The fields an update changed, as they were."""
    return {k: old.get(k) for k in dict.fromkeys([*new, *old]) if k in new and old.get(k) != new.get(k)}
