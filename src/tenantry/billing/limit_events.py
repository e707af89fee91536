"""``billing.plan_limit_reached``: an event when billing refuses a create beyond the organization's plan.

The refused write's transaction rolls back, so the event is published in a short transaction of its
own, started once the refusal is decided and run beside the request (on SQLite it waits for the
refused transaction to release the single writer). It exists once per organization, entity and
day (a dedupe key), so a client retrying in a loop writes one event, not thousands. Product
analytics turns it into PostHog's ``plan limit reached``; a project's subscriber may e-mail sales.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from tenantry.core import App
from tenantry.db.actor import SYSTEM, acting_as
from tenantry.db.codecs import utc_now
from tenantry.db.ids import uuid7
from tenantry.events import DomainEvent

log = logging.getLogger("tenantry.billing")

PLAN_LIMIT_TOPIC: Final = "billing.plan_limit_reached"


class LimitEvents:
    """Publishes ``billing.plan_limit_reached`` beside the refused request; ``drain`` awaits those in flight."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._tasks: set[asyncio.Task[None]] = set()

    def reached(self, org_id: Any, entity: str, allowed: int, plan: str, actor_id: Any) -> None:
        """Record (soon, in its own transaction) that ``org_id`` hit ``plan``'s limit of ``allowed`` ``entity`` rows."""
        now = utc_now()
        event = DomainEvent(
            id=str(uuid7()),
            topic=PLAN_LIMIT_TOPIC,
            entity="billing",
            row_id=entity[:64],
            org_id=str(org_id),
            data={"limit": entity, "allowed": allowed, "plan": plan},
            old=None,
            actor_id=None if actor_id is None else str(actor_id),
            created_at=now,
        )
        key = f"plan_limit:{org_id}:{entity}:{now.date().isoformat()}"
        task = asyncio.get_running_loop().create_task(self._publish(event, key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, event: DomainEvent, dedupe_key: str) -> None:
        try:
            with acting_as(SYSTEM):
                async with self.app.db.transaction() as conn:
                    await self.app.outbox.publish(conn, event, dedupe_key=dedupe_key)
        except Exception:
            # Only the event is lost (the refusal stands): say so, never fail the request over it.
            log.exception("could not record that organization %s reached its plan limit", event.org_id)

    async def drain(self) -> None:
        """Wait for the events being published (at shutdown; tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
