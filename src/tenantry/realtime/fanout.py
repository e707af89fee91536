"""Pushes across nodes through Redis (python-socketio's Redis manager), held back while Redis is away.

python-socketio's manager logs every push it cannot publish and drops it, and its listener waits up
to a minute between attempts to subscribe again. Here:

- a push (an ``emit``) that cannot be published raises ``PushesHeld``: the outbox's realtime
  subscriber hands the event back (``DeliveryDeferred``, not counted as an attempt) and delivers it,
  and everything after it in order, once Redis is back;
- while this node's own listener is not subscribed, or subscribed again for less than
  ``SETTLE_SECONDS`` after an outage, pushes are held before anything is emitted, so no node misses
  a push because its listener had not come back yet (every node's listener retries every
  ``LISTEN_RETRY_SECONDS``);
- the outage is logged once when it starts and once when it ends (``tenantry.outage.Outage``).

Other messages between nodes (a socket's disconnection, a room change) are best effort, as before:
they are not held, and a failure to publish them is only counted in the outage.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import socketio

from tenantry.events import DeliveryDeferred
from tenantry.outage import Outage

log = logging.getLogger("tenantry.realtime")

# An internal broadcast: "every node, re-check your sockets' sessions now" (never reaches a client).
RECHECK_EVENT = "tenantry:recheck"
RECHECK_ROOM = "tenantry:nodes"
# How long a node's listener waits before subscribing again after losing Redis.
LISTEN_RETRY_SECONDS = 0.5
# After an outage, how long this node's listener must have been back before pushes resume: time
# for every other node's listener (retrying as often) to have subscribed again too.
SETTLE_SECONDS = 1.5
OUTAGE_CONSEQUENCE = "pushes to other nodes are held in the outbox until it is back"
# When the outbox tries a held push again.
HELD_RETRY_SECONDS = 1.0


class PushesHeld(DeliveryDeferred):
    """Redis is away (or just back): the push was not sent to other nodes; the outbox tries it again later."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retry_after=HELD_RETRY_SECONDS)


class RedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's Redis manager with held pushes, quick resubscription, and one more message:
    re-check sessions on every node.

    A revocation or an organization switch is served by one node; the sockets of that session may
    be on any node. The serving node broadcasts ``RECHECK_EVENT`` through the same channel, and
    each node (itself included) re-checks its own sockets at once instead of at its next pass.
    """

    connected: bool  # python-socketio's: whether ``redis`` and ``pubsub`` are set up

    def __init__(self, url: str, on_recheck: Callable[[], None], **options: Any) -> None:
        super().__init__(url, **options)
        self.on_recheck = on_recheck
        self.outage = Outage("Redis (realtime)", log)
        # When this node's listener last subscribed; None while it is not subscribed.
        self.subscribed_at: float | None = None
        self._after_outage = False

    def ensure_ready(self) -> None:
        """Raise ``PushesHeld`` unless a push now would reach every node (call before emitting)."""
        if self.subscribed_at is None:
            raise PushesHeld("Redis is unavailable; the push is held until it is back")
        if self._after_outage and time.monotonic() - self.subscribed_at < SETTLE_SECONDS:
            raise PushesHeld("Redis is back; the push waits until every node listens again")

    async def _publish(self, data: dict[str, Any]) -> Any:
        try:
            if not self.connected:
                self._redis_connect()
            published = await self.redis.publish(self.channel, self.json.dumps(data))
        except Exception as exc:
            self.connected = False
            # Only the listener decides whether this node is subscribed: a publish that failed on
            # its own (a timeout) must not hold pushes while the listener never noticed a thing.
            self.outage.failed(exc, OUTAGE_CONSEQUENCE)
            if data.get("method") == "emit":
                raise PushesHeld(f"Redis is unavailable ({exc}); the push is held until it is back") from exc
            return None
        self.outage.recovered()
        return published

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        # python-socketio's own doubles its pause up to a minute and logs every attempt.
        while True:
            try:
                self._redis_connect()
                await self.pubsub.subscribe(self.channel)
                self.subscribed_at = time.monotonic()
                self.outage.recovered()
                async for message in self.pubsub.listen():
                    yield message
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed_at = None
                self._after_outage = True
                self.outage.failed(exc, OUTAGE_CONSEQUENCE)
                await asyncio.sleep(LISTEN_RETRY_SECONDS)

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        if message.get("event") == RECHECK_EVENT and message.get("room") == RECHECK_ROOM:
            self.on_recheck()
            return
        await super()._handle_emit(message)
