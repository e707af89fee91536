"""Sending messages again on an admin's request: one (resend), or every one since a moment (replay).

A message goes out with the same id and body (receivers deduplicate by ``webhook-id``), queued
behind the endpoint's others, so order per endpoint holds.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Final

from tenantry.context import RequestContext
from tenantry.db import Connection
from tenantry.db.codecs import format_timestamp
from tenantry.db.ids import uuid7
from tenantry.webhooks import errors
from tenantry.webhooks.fanout import PENDING, queue_message
from tenantry.webhooks.records import Message

if TYPE_CHECKING:
    from tenantry.webhooks.service import EndpointService

# One replay queues at most this many messages; the answer says whether more are left (call again
# with ``since`` just after the last one queued).
REPLAY_LIMIT: Final = 1000


class Resender:
    """``POST …/messages/{id}/resend``: the message goes out again (receivers deduplicate by its id)."""

    def __init__(self, service: EndpointService) -> None:
        self.service = service

    async def resend(self, ctx: RequestContext, endpoint_id: str, message_id: str) -> Message:
        service = self.service
        endpoint, message = await service.message(ctx, endpoint_id, message_id)
        async with service.app.db.transaction() as conn:
            await self._again(conn, message)
            await service.audit_action(
                conn, ctx, "webhook_resend", endpoint.id, endpoint.org_id, new={"message_id": message.id}
            )
        return await service.store.message(None, message.id) or message

    async def replay(self, ctx: RequestContext, endpoint_id: str, body: Any) -> dict[str, Any]:
        """Every message of the endpoint made since ``body["since"]`` (only failed ones with
        ``"failed_only": true``), oldest first, at most ``REPLAY_LIMIT`` per call."""
        service = self.service
        org_id = service.admin_org(ctx)
        since, failed_only = _replay_body(body)
        endpoint = await service.get(ctx, endpoint_id)
        async with service.app.db.transaction() as conn:
            found = await service.store.messages_since(
                conn, endpoint.id, since, failed_only=failed_only, limit=REPLAY_LIMIT + 1
            )
            chosen = found[:REPLAY_LIMIT]
            for message in chosen:
                await self._again(conn, message)
            await service.audit_action(
                conn,
                ctx,
                "webhook_replay",
                endpoint.id,
                org_id,
                new={"since": format_timestamp(since), "failed_only": failed_only, "queued": len(chosen)},
            )
        return {
            "queued": len(chosen),
            "more": len(found) > REPLAY_LIMIT,
            "last_created_at": format_timestamp(chosen[-1].created_at) if chosen else None,
        }

    async def _again(self, conn: Connection, message: Message) -> None:
        await self.service.store.set_message_state(
            conn, message.id, status=PENDING, attempts=message.attempts, delivered_at=message.delivered_at
        )
        await queue_message(self.service.app, conn, message, f"webhook-resend:{message.id}:{uuid7().hex}")


def _replay_body(body: Any) -> tuple[dt.datetime, bool]:
    if not isinstance(body, dict):
        raise errors.invalid("", "the body must be a JSON object", "INVALID_TYPE")
    unknown = sorted(set(body) - {"since", "failed_only"})
    if unknown:
        raise errors.invalid(unknown[0], "is not a field of a replay (since, failed_only)", "UNKNOWN_FIELD")
    raw = body.get("since")
    if not isinstance(raw, str) or not raw:
        raise errors.invalid("since", "is required: an ISO-8601 time", "REQUIRED")
    try:
        since = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise errors.invalid("since", "must be an ISO-8601 time (2026-12-06T08:00:00Z)", "INVALID_TIME") from None
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    failed_only = body.get("failed_only", False)
    if not isinstance(failed_only, bool):
        raise errors.invalid("failed_only", "must be true or false", "INVALID_TYPE")
    return since.astimezone(dt.UTC), failed_only
