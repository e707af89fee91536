"""Endpoints, messages and attempts as the webhooks code passes them around, and as the API shows them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tenantry.db.codecs import format_timestamp


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


@dataclass(frozen=True)
class Endpoint:
    """One receiver of an organization. ``event_types`` None: every type of the catalogue."""

    id: str
    org_id: str
    url: str
    description: str
    event_types: tuple[str, ...] | None
    enabled: bool
    disabled_reason: str | None
    secret: str
    previous_secret: str | None
    previous_secret_until: dt.datetime | None
    failing_since: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    def wants(self, event_type: str) -> bool:
        """Whether this endpoint asked for events of ``event_type``."""
        return self.event_types is None or event_type in self.event_types

    def signing_secrets(self, now: dt.datetime) -> list[str]:
        """The secrets signing a message sent at ``now``: the current one, and the previous one in its grace period."""
        found = [self.secret]
        if self.previous_secret and self.previous_secret_until is not None and now < self.previous_secret_until:
            found.append(self.previous_secret)
        return found

    def to_json(self) -> dict[str, Any]:
        """The endpoint as the API returns it: never a secret."""
        return {
            "id": self.id,
            "url": self.url,
            "description": self.description,
            "event_types": None if self.event_types is None else list(self.event_types),
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "failing_since": _time(self.failing_since),
            "created_at": _time(self.created_at),
            "updated_at": _time(self.updated_at),
        }

    def audited(self) -> dict[str, Any]:
        """What the audit log records of the endpoint (no secret, no times the log has anyway)."""
        shown = self.to_json()
        return {k: shown[k] for k in ("url", "description", "event_types", "enabled", "disabled_reason")}


@dataclass(frozen=True)
class Message:
    """One event for one endpoint: the exact body every attempt sends."""

    id: str
    endpoint_id: str
    org_id: str
    event_id: str
    event_type: str
    payload: str
    status: str
    attempts: int
    created_at: dt.datetime
    delivered_at: dt.datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "endpoint_id": self.endpoint_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "status": self.status,
            "attempts": self.attempts,
            "created_at": _time(self.created_at),
            "delivered_at": _time(self.delivered_at),
        }


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt at a message."""

    id: str
    message_id: str
    endpoint_id: str
    org_id: str
    attempt: int
    status: str
    response_status: int | None
    response_body: str | None
    error: str | None
    latency_ms: int
    created_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "message_id": self.message_id,
            "endpoint_id": self.endpoint_id,
            "attempt": self.attempt,
            "status": self.status,
            "response_status": self.response_status,
            "response_body": self.response_body,
            "error": self.error,
            "latency_ms": self.latency_ms,
            "created_at": _time(self.created_at),
        }
