"""``DeliveryObserver``: the seam through which tracing follows an event from its request to its deliveries.

The outbox knows nothing of tracing. An observer set on it (``Outbox.observe``) is asked, when an
event is published, for the caller's context as an opaque string (a W3C ``traceparent``), which is
stored with the event; each delivery's handler then runs inside the observer's context manager,
given that string back, so the delivery can be traced as caused by the request. Without an
observer nothing is asked, stored or wrapped.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from tenantry.events.event import DomainEvent


class DeliveryObserver(Protocol):
    """Told of each publish and each delivery (tracing's hook into the outbox)."""

    def publishing(self) -> str | None:
        """The caller's context, stored with the event it is publishing (None: nothing to store)."""
        ...

    def delivering(self, subscriber: str, event: DomainEvent, attempt: int) -> AbstractContextManager[object]:
        """Entered around one call of ``subscriber``'s handler; sees the handler's exception, if any."""
        ...
