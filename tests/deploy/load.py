"""A steady load of mixed reads and writes, each request on a new connection, every outcome kept.

A request is ``ok`` (answered, with its status), ``refused`` (the connection was never made: a
stopped node, which a proxy would route around) or ``failed`` (a connection reset or closed
mid-request: what a graceful stop must never cause).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Outcome:
    kind: str  # ok, refused, failed
    what: str
    at: float
    status: int | None = None
    detail: str = ""


@dataclass
class LoadLoop:
    """One client thread: GET notes, POST a note, POST a password reset (a mail), GET the session."""

    base_url: str
    token: str
    email: str
    origin: str
    stop: threading.Event
    stop_when_refused: bool = False
    pause: float = 0.01
    outcomes: list[Outcome] = field(default_factory=list)

    def run(self) -> None:
        auth = {"authorization": f"Bearer {self.token}", "connection": "close"}
        requests = [
            ("GET notes", "GET", "/api/notes?limit=5", None, auth),
            ("POST note", "POST", "/api/notes", {"title": "load"}, auth),
            (
                "POST reset",
                "POST",
                "/api/auth/request-password-reset",
                {"email": self.email, "redirectTo": "/reset"},
                {"origin": self.origin, "connection": "close"},
            ),
            ("GET session", "GET", "/api/auth/get-session", None, auth),
        ]
        n = 0
        with httpx.Client(base_url=self.base_url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as c:
            while not self.stop.is_set():
                what, method, path, body, headers = requests[n % len(requests)]
                n += 1
                at = time.monotonic()
                try:
                    answer = c.request(method, path, json=body, headers=headers)
                except httpx.ConnectError as exc:
                    self.outcomes.append(Outcome("refused", what, at, detail=repr(exc)))
                    if self.stop_when_refused:
                        return
                except httpx.HTTPError as exc:
                    self.outcomes.append(Outcome("failed", what, at, detail=repr(exc)))
                else:
                    self.outcomes.append(Outcome("ok", what, at, answer.status_code, answer.text[:200]))
                time.sleep(self.pause)


def start_loops(loops: list[LoadLoop]) -> list[threading.Thread]:
    threads = [threading.Thread(target=loop.run, daemon=True) for loop in loops]
    for thread in threads:
        thread.start()
    return threads
