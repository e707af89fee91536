"""Errors kept in memory instead of sent: what ``tenantry dev`` lists at ``/dev/errors``.

``LocalTransport`` is a Sentry SDK transport that hands each envelope's error event to an
``ErrorLog`` (the newest ``capacity`` events of this process), so development sees the same events,
scrubbed the same way, that Sentry would receive in production.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

CAPACITY = 200


@dataclass(frozen=True)
class Frame:
    """One line of a stack trace."""

    filename: str
    function: str
    lineno: int | None
    context_line: str | None
    in_app: bool


@dataclass(frozen=True)
class CapturedError:
    """An error event as the development pages show it."""

    id: str
    timestamp: dt.datetime
    level: str
    type: str
    message: str
    route: str | None
    method: str | None
    url: str | None
    user_id: str | None
    org_id: str | None
    tags: dict[str, str]
    frames: list[Frame]
    event: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """The error as ``/dev/errors.json`` lists it (the whole event under ``event``)."""
        return {
            "id": self.id,
            "timestamp": self.timestamp.isoformat(),
            "level": self.level,
            "type": self.type,
            "message": self.message,
            "route": self.route,
            "method": self.method,
            "url": self.url,
            "user_id": self.user_id,
            "org_id": self.org_id,
            "tags": self.tags,
            "event": self.event,
        }


def captured(event: dict[str, Any]) -> CapturedError:
    """``event`` (a Sentry error event) read into what the pages show."""
    values = (event.get("exception") or {}).get("values") or []
    last = values[-1] if values else {}  # the last is the one raised; earlier ones are its causes
    logentry = event.get("logentry") or {}
    message = last.get("value") or logentry.get("formatted") or logentry.get("message") or event.get("message") or ""
    frames = [
        Frame(
            filename=str(f.get("filename") or f.get("abs_path") or "?"),
            function=str(f.get("function") or "?"),
            lineno=f.get("lineno"),
            context_line=f.get("context_line"),
            in_app=bool(f.get("in_app")),
        )
        for f in ((last.get("stacktrace") or {}).get("frames") or [])
    ]
    request = event.get("request") or {}
    tags = {str(k): str(v) for k, v in (event.get("tags") or {}).items()}
    raw_time = event.get("timestamp")
    timestamp = raw_time if isinstance(raw_time, dt.datetime) else dt.datetime.now(dt.UTC)
    if isinstance(raw_time, str):
        with contextlib.suppress(ValueError):
            timestamp = dt.datetime.fromisoformat(raw_time)
    return CapturedError(
        id=str(event.get("event_id") or ""),
        timestamp=timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=dt.UTC),
        level=str(event.get("level") or "error"),
        type=str(last.get("type") or ("Message" if not values else "Error")),
        message=str(message),
        route=event.get("transaction"),
        method=request.get("method"),
        url=request.get("url"),
        user_id=(event.get("user") or {}).get("id"),
        org_id=tags.get("organization.id"),
        tags=tags,
        frames=frames,
        event=event,
    )


class ErrorLog:
    """The newest error events of this process, newest first."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._errors: deque[CapturedError] = deque(maxlen=capacity)
        # The SDK may capture from any thread (a request's task, a worker thread).
        self._lock = threading.Lock()

    def add(self, event: dict[str, Any]) -> None:
        """Keep ``event``."""
        error = captured(event)
        with self._lock:
            self._errors.appendleft(error)

    def list(self) -> list[CapturedError]:
        """Every kept error, newest first."""
        with self._lock:
            return list(self._errors)

    def get(self, error_id: str) -> CapturedError | None:
        """The kept error ``error_id``, if still kept."""
        with self._lock:
            return next((e for e in self._errors if e.id == error_id), None)

    def clear(self) -> None:
        """Forget every kept error."""
        with self._lock:
            self._errors.clear()


class LocalTransport(Transport):
    """An SDK transport keeping each envelope's error event in an ``ErrorLog``; sends nothing."""

    def __init__(self, log: ErrorLog) -> None:
        super().__init__(None)
        self.log = log

    def capture_envelope(self, envelope: Envelope) -> None:
        """Keep the envelope's error event (sessions and client reports are dropped)."""
        event = envelope.get_event()
        if event is not None:
            self.log.add(dict(event))
