"""Delivering one message: sign, post, record the attempt, and decide what follows.

The ``webhooks.delivery`` subscriber of the outbox calls ``Dispatcher`` once per attempt, one
message at a time per endpoint (its deliveries are ordered by endpoint), so a receiver sees its
messages in order and a failing one holds up only its own queue. Each attempt is kept (status,
latency, the first KB of the answer, the error) in the transaction that also records the outcome:

- 2xx: delivered, and the endpoint is no longer failing;
- ``410 Gone``: the endpoint is disabled at once, its admins are told by e-mail;
- anything else: retried on the schedule (``schedule.SCHEDULE``) by the outbox; the endpoint is
  failing since its first failure after its last success, and once that reaches
  ``disable_after_days`` it is disabled and its admins are told.

Messages queued for a disabled endpoint are marked failed without a request. A message that is
given up (its last attempt failed, or its endpoint is now disabled) ends its outbox delivery as
done: a receiver's failure is the organization's to see (its attempts), not an error of the app's
to report to error tracking.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Final

from tenantry.db import Connection
from tenantry.db.ids import uuid7
from tenantry.events import DeliveryError, DomainEvent, current_delivery
from tenantry.webhooks.fanout import DELIVERED, FAILED, PENDING
from tenantry.webhooks.records import Attempt, Endpoint, Message
from tenantry.webhooks.schedule import ATTEMPTS
from tenantry.webhooks.sender import Outcome, Sender
from tenantry.webhooks.signing import signed_headers
from tenantry.webhooks.store import WebhookStore

if TYPE_CHECKING:
    from tenantry.core import App
    from tenantry.webhooks.notices import DisabledNotice

log = logging.getLogger("tenantry.webhooks")

GONE: Final = "gone"
FAILING: Final = "failing"


class Dispatcher:
    """The ``webhooks.delivery`` handler."""

    def __init__(
        self, app: App, store: WebhookStore, sender: Sender, *, disable_after: dt.timedelta, notice: DisabledNotice
    ) -> None:
        self.app = app
        self.store = store
        self.sender = sender
        self.disable_after = disable_after
        self.notice = notice

    async def __call__(self, event: DomainEvent) -> str | None:
        message_id = str((event.data or {}).get("message_id", ""))
        message = await self.store.message(None, message_id)
        if message is None:
            return "message pruned or its endpoint deleted"
        endpoint = await self.store.endpoint(None, message.endpoint_id)
        if endpoint is None:
            return "endpoint deleted"
        if not endpoint.enabled:
            async with self.app.db.transaction() as conn:
                await self.store.set_message_state(
                    conn, message.id, status=FAILED, attempts=message.attempts, delivered_at=None
                )
            return "endpoint disabled"
        now = self.app.clock()
        headers = signed_headers(endpoint.signing_secrets(now), message.id, now, message.payload)
        outcome = await self.sender.post(endpoint.url, headers, message.payload.encode())
        last = current_delivery().attempt >= ATTEMPTS
        async with self.app.db.transaction() as conn:
            await self._keep(conn, message, outcome, now)
            if outcome.succeeded:
                await self.store.set_message_state(
                    conn, message.id, status=DELIVERED, attempts=message.attempts + 1, delivered_at=now
                )
                await self.store.record_success(conn, endpoint.id)
                return f"HTTP {outcome.status}"
            reason = await self._failed(conn, endpoint, outcome, now)
            status = FAILED if (last or reason) else PENDING
            await self.store.set_message_state(
                conn, message.id, status=status, attempts=message.attempts + 1, delivered_at=None
            )
        error = outcome.error or "failed"
        if reason is not None:
            return f"{error}; endpoint disabled ({reason})"
        if last:
            return f"{error}; gave up after {ATTEMPTS} attempts"
        raise DeliveryError(error)

    async def _keep(self, conn: Connection, message: Message, outcome: Outcome, now: dt.datetime) -> None:
        await self.store.insert_attempt(
            conn,
            Attempt(
                id=str(uuid7()),
                message_id=message.id,
                endpoint_id=message.endpoint_id,
                org_id=message.org_id,
                attempt=message.attempts + 1,
                status="succeeded" if outcome.succeeded else "failed",
                response_status=outcome.status,
                response_body=outcome.body,
                error=outcome.error,
                latency_ms=outcome.latency_ms,
                created_at=now,
            ),
        )

    async def _failed(self, conn: Connection, endpoint: Endpoint, outcome: Outcome, now: dt.datetime) -> str | None:
        """Record the failure on the endpoint; the reason it is now disabled, if it is."""
        failing_since = await self.store.record_failure(conn, endpoint.id, now)
        if outcome.gone:
            reason = GONE
        elif now - failing_since >= self.disable_after:
            reason = FAILING
        else:
            return None
        if await self.store.disable(conn, endpoint.id, reason, now):
            log.warning("webhook endpoint %s disabled: %s", endpoint.id, reason)
            await self.notice.send(conn, endpoint, reason, now)
        return reason
