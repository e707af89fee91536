"""Sending captures with the official ``posthog`` SDK, synchronously, so the outbox knows they arrived.

The SDK normally queues events for a background thread and reports failures only to a callback: a
handler that returned after queueing could lose events on a restart. In ``sync_mode`` each call
uploads before it returns, and a failed upload makes it return None instead of the event's UUID;
the handler turns that into a ``DeliveryError`` and the outbox retries. The calls block, so they run
in a thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from tenantry.analytics.captures import Capture
from tenantry.analytics.settings import AnalyticsSettings
from tenantry.events import DeliveryError

log = logging.getLogger("tenantry.analytics")


class PostHogSink:
    """Uploads captures to ``POSTHOG_HOST`` with ``POSTHOG_API_KEY``; ``send`` returns once PostHog accepted them."""

    def __init__(self, settings: AnalyticsSettings) -> None:
        if settings.api_key is None:
            raise ValueError("POSTHOG_API_KEY is required to send events to PostHog")
        # Imported only when events are sent: the SDK (with requests) is a tenth of a worker's memory.
        from posthog import Posthog

        self.host = settings.host
        self.client = Posthog(
            settings.api_key,
            host=settings.host,
            sync_mode=True,
            gzip=True,
            timeout=settings.timeout,
            # The outbox retries with its own backoff; the SDK must not sleep in the handler.
            max_retries=0,
            disable_geoip=True,
            enable_exception_autocapture=False,
        )

    async def send(self, captures: Sequence[Capture]) -> None:
        """Upload ``captures`` in order; ``DeliveryError`` if PostHog refused one or could not be reached."""
        if captures:
            await asyncio.to_thread(self._send, captures)

    def _send(self, captures: Sequence[Capture]) -> None:
        for c in captures:
            if c.group is not None:
                sent = self.client.group_identify(
                    c.group[0],
                    c.group[1],
                    c.properties,
                    timestamp=c.timestamp,
                    uuid=c.uuid,
                    distinct_id=c.distinct_id,
                )
            else:
                sent = self.client.capture(
                    c.event,
                    distinct_id=c.distinct_id,
                    properties=c.properties,
                    timestamp=c.timestamp,
                    uuid=c.uuid,
                    groups=c.groups or None,
                )
            if sent is None:
                # The SDK logged the cause (the status PostHog answered, a timeout).
                raise DeliveryError(f"PostHog at {self.host} did not accept {c.event!r}")

    async def close(self) -> None:
        """Stop the SDK's threads (there is no queue to flush in sync mode)."""
        await asyncio.to_thread(self.client.shutdown)
