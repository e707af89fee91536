"""What the outbox carries: ``DomainEvent``, and how a topic pattern chooses events.

Topics are ``<entity>.<past tense of its action>`` (``projects.created``) for changes to rows.
Capabilities that use the outbox for their own work (mail) publish under topics that start with
``$`` (``$mail.requested``): a pattern matches those only when it starts with ``$`` itself, so
``*`` (realtime, a webhook for everything) never receives a rendered sign-in link. MQTT keeps its
``$SYS`` topics away from wildcard subscriptions the same way.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from typing import Any

# The topic of a change: ``<entity>.<past tense of its action>``.
TOPIC_SUFFIX = {"create": "created", "update": "updated", "delete": "deleted"}

# Topics of a capability's own work start with this; only patterns starting with it match them.
INTERNAL_PREFIX = "$"


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Something that happened, as subscribers receive it.

    For a change to a row: ``data`` is the row as the API returns it (after a create or update; as
    it was, for a delete); ``old`` the row before an update. ``actor_id`` is the user who made the
    change, if any. Ids are UUIDv7: they sort in the order the events were written.
    """

    id: str
    topic: str
    entity: str
    row_id: str
    org_id: str | None
    data: dict[str, Any] | None
    old: dict[str, Any] | None
    actor_id: str | None
    created_at: dt.datetime
    # Where the event came from, for tracing (a W3C ``traceparent``): opaque to the outbox, written
    # by ``Outbox.publish`` from its observer and handed back to it around each delivery.
    trace_context: str | None = None

    @property
    def action(self) -> str:
        """``created``, ``updated`` or ``deleted``."""
        return self.topic.rpartition(".")[2]


def check_pattern(pattern: str) -> str:
    """``pattern`` when it is a usable topic pattern; ``ValueError`` otherwise."""
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("a topic pattern is required ('*' for every event)")
    return pattern


def topic_matches(topic: str, pattern: str) -> bool:
    """Whether ``topic`` matches ``pattern`` (shell-style wildcards: ``projects.*``, ``*.deleted``, ``*``).

    A topic starting with ``$`` is matched only by a pattern starting with ``$``.
    """
    if topic.startswith(INTERNAL_PREFIX) and not pattern.startswith(INTERNAL_PREFIX):
        return False
    return fnmatch.fnmatchcase(topic, pattern)
