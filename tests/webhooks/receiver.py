"""A webhook receiver on a real port: records every request it gets, answers as each test scripts it.

One server serves the whole test session (in a background thread); each test takes a path of its
own (``Receiver.inbox()``), so tests never see each other's deliveries.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tenantry.emulators.server import RunningServer, run_in_thread


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it."""

    headers: dict[str, str]
    body: bytes


@dataclass
class Inbox:
    """One test's path on the receiver: what arrived there, and the answers still to give (then 204)."""

    base_url: str
    path: str
    received: list[Received] = field(default_factory=list)
    # Requests that reached the receiver, held or not (a held one is in ``received`` once let go).
    arrived: int = 0
    answers: list[int] = field(default_factory=list)
    # Set: each request waits until the test opens it (an endpoint that takes its time).
    gate: threading.Event | None = None

    @property
    def url(self) -> str:
        return self.base_url + self.path


class Receiver:
    """The server and its inboxes by path."""

    def __init__(self) -> None:
        self.inboxes: dict[str, Inbox] = {}
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])
        self.server: RunningServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return self.server.base_url

    def inbox(self, *answers: int, held: bool = False) -> Inbox:
        """A new path that answers ``answers`` in turn (then 204); ``held``: only once its ``gate`` is set."""
        gate = threading.Event() if held else None
        box = Inbox(self.base_url, f"/hooks/{uuid.uuid4().hex}", answers=list(answers), gate=gate)
        self.inboxes[box.path] = box
        return box

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        box = self.inboxes.get(request.url.path)
        if box is None:
            return Response(status_code=404)
        box.arrived += 1
        if box.gate is not None:
            await asyncio.to_thread(box.gate.wait, 10)
        with self._lock:
            box.received.append(Received({k.lower(): v for k, v in request.headers.items()}, body))
            status = box.answers.pop(0) if box.answers else 204
        return Response(b"x" * 3000 if status >= 400 else b"", status_code=status)


def serve_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    with run_in_thread(receiver.app) as server:
        receiver.server = server
        yield receiver
