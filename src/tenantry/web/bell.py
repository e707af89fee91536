"""The header's notification bell: the unread count and recent notifications of the signed-in user,
loaded with every page (``Web.viewer``); ``notifications`` has its "mark all read" route.

``static/web/realtime.js`` keeps it live: it connects to ``/socket.io`` with the session cookie,
raises the count and shows a toast on each ``notification``, and refreshes lists on row events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tenantry.web.services import Services

RECENT = 8


@dataclass(frozen=True)
class Bell:
    """What the bell shows: the unread count and the newest notifications."""

    unread: int = 0
    recent: list[dict[str, Any]] = field(default_factory=list)


async def load_bell(runtime: Services, user_id: str) -> Bell:
    """The user's bell, from the realtime notification store (one query)."""
    if runtime.realtime is None:
        return Bell()
    recent, unread = await runtime.realtime.store.recent(user_id, RECENT)
    return Bell(unread=unread, recent=recent)
