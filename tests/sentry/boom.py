"""A capability made for the error-tracking tests: routes, a subscriber and a worker that fail."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tenantry.core import App, Capability, Worker
from tenantry.errors import ApiError
from tenantry.events import DeliveryError, DomainEvent, RetryPolicy, Subscriber
from tenantry.worker import PollingWorker

SUBSCRIBER = "boom.projects"
FLAKY = "boom.flaky"


class BoomError(RuntimeError):
    """What the failing parts raise: an unexpected error (a bug)."""


class FailingOnce(PollingWorker):
    """A background worker whose first pass fails (as a database hiccup would); later passes note they ran."""

    def __init__(self, fail: bool) -> None:
        super().__init__("boom-worker", 0.01, logging.getLogger("tests.sentry.boom"))
        self.fail = fail
        self.passes = 0
        self.recovered = asyncio.Event()

    async def work(self, *, until_stopped: bool) -> object:
        self.passes += 1
        if self.fail and self.passes == 1:
            raise BoomError("the worker's pass failed")
        self.recovered.set()  # the first pass's failure was logged before this pass began
        return None


class Boom(Capability):
    """``/api/boom`` raises after learning who asks; ``/api/boom/client`` answers a 400; a new
    project's delivery to ``boom.projects`` raises (a bug) and to ``boom.flaky`` fails as expected;
    the worker's first pass fails if ``fail_worker``."""

    name = "boom"
    after = ("auth", "tenancy")
    before = ("api",)

    def __init__(self, *, fail_worker: bool = False) -> None:
        self.worker = FailingOnce(fail_worker)

    def install(self, app: App) -> None:
        self.app = app

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route("/api/boom", self.explode, methods=["GET", "POST"]),
            Route("/api/boom/client", self.refuse, methods=["GET", "POST"]),
            Route("/api/boom/early", self.explode_early, methods=["GET", "POST"]),
        ]

    def subscribers(self) -> Sequence[Subscriber]:
        return [
            Subscriber(
                name=SUBSCRIBER,
                patterns=("projects.created",),
                handler=self.project_created,
                # Two attempts, the second due at once: the test drives it without waiting.
                retry=RetryPolicy(delays=(0.0,), max_attempts=2, jitter=0.0),
            ),
            Subscriber(
                name=FLAKY,
                patterns=("projects.created",),
                handler=self.provider_down,
                retry=RetryPolicy(delays=(0.0,), max_attempts=2, jitter=0.0),
            ),
        ]

    def workers(self) -> Sequence[Worker]:
        return [self.worker]

    async def explode(self, request: Request) -> Response:
        await self.app.context(request)
        if request.method == "POST":
            await request.body()  # the body was read: it must still not be reported
        raise BoomError("the route exploded")

    async def explode_early(self, request: Request) -> Response:
        """Raises before authenticating (credentials a test sends would be refused by the authenticators)."""
        raise BoomError("the route exploded early")

    async def refuse(self, request: Request) -> Response:
        await self.app.context(request)
        raise ApiError(400, "BOOM_REFUSED", "The client asked for something impossible")

    async def project_created(self, event: DomainEvent) -> None:
        raise BoomError(f"the subscriber exploded on {event.row_id}")

    async def provider_down(self, event: DomainEvent) -> None:
        raise DeliveryError("the provider is down")  # expected: retried, reported only when given up
