"""Sending one message again, on an admin's request: the same id and body, queued behind the endpoint's others."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenantry.context import RequestContext
from tenantry.db.ids import uuid7
from tenantry.webhooks.fanout import PENDING, queue_message
from tenantry.webhooks.records import Message

if TYPE_CHECKING:
    from tenantry.webhooks.service import EndpointService


class Resender:
    """``POST …/messages/{id}/resend``: the message goes out again (receivers deduplicate by its id)."""

    def __init__(self, service: EndpointService) -> None:
        self.service = service

    async def resend(self, ctx: RequestContext, endpoint_id: str, message_id: str) -> Message:
        service = self.service
        endpoint, message = await service.message(ctx, endpoint_id, message_id)
        async with service.app.db.transaction() as conn:
            await service.store.set_message_state(
                conn, message.id, status=PENDING, attempts=message.attempts, delivered_at=message.delivered_at
            )
            await queue_message(service.app, conn, message, f"webhook-resend:{message.id}:{uuid7().hex}")
            await service.audit_action(
                conn, ctx, "webhook_resend", endpoint.id, endpoint.org_id, new={"message_id": message.id}
            )
        return await service.store.message(None, message.id) or message
