"""One PostHog emulator on a real port for the module's tests (reset before each), and an app sending to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tenantry.analytics import SUBSCRIBER, AnalyticsSettings
from tenantry.emulators.posthog import PostHogEmulator
from tenantry.emulators.server import RunningServer, run_in_thread
from tests.auth.helpers import BASE, NO_VERIFICATION, sql
from tests.billing.helpers import SECRET, billing_schema, stripe
from tests.conftest import ClientFactory

API_KEY = "phc_test_project_key"

# Two paid plans, so that a subscription can change plan; the free plan allows two projects.
PLANS = """
settings:
  billing:
    plans:
      free:
        limits: {projects: 2}
      pro:
        price_monthly: price_pro_monthly
        limits: {projects: 50}
      team:
        price_monthly: price_team_monthly
        limits: {projects: 500}
"""


@dataclass
class PostHog:
    """The running emulator and where it listens."""

    emulator: PostHogEmulator
    server: RunningServer

    @property
    def url(self) -> str:
        return self.server.base_url

    def settings(self, **extra: Any) -> AnalyticsSettings:
        return AnalyticsSettings(POSTHOG_API_KEY=API_KEY, POSTHOG_HOST=self.url, **extra)


@pytest.fixture(scope="session")
def posthog_server() -> Iterator[PostHog]:
    emulator = PostHogEmulator(API_KEY)
    with run_in_thread(emulator) as server:
        yield PostHog(emulator, server)
        emulator.reset()  # nothing left held when the server stops


@pytest.fixture
def posthog(posthog_server: PostHog) -> Iterator[PostHog]:
    posthog_server.emulator.reset()
    yield posthog_server
    posthog_server.emulator.reset()


@pytest.fixture
async def client(make_client: ClientFactory, posthog: PostHog) -> AsyncIterator[httpx.AsyncClient]:
    """The seed app with billing, sending product events to the emulator."""
    async with make_client(
        billing_schema(PLANS), auth=NO_VERIFICATION, base_url=BASE, billing=stripe(SECRET), analytics=posthog.settings()
    ) as c:
        yield c


async def eventually(check: Callable[[], Any]) -> Any:
    """``check()`` once it is truthy: the outbox worker delivers in the background, in its own time."""
    async with asyncio.timeout(10):
        while True:
            if value := check():
                return value
            await asyncio.sleep(0.02)


async def until(fetch: Callable[[], Awaitable[Any]], check: Callable[[Any], Any]) -> Any:
    """``await fetch()`` once ``check`` accepts it (a state read from the database)."""
    async with asyncio.timeout(10):
        while True:
            if check(value := await fetch()):
                return value
            await asyncio.sleep(0.02)


async def deliveries(client: httpx.AsyncClient) -> list[tuple[str, int]]:
    """``(status, attempts)`` of every analytics delivery."""
    rows = await sql(
        client, "SELECT status, attempts FROM outbox_deliveries WHERE subscriber = ? ORDER BY event_id", SUBSCRIBER
    )
    return [(r[0], int(r[1])) for r in rows]


async def all_delivered(client: httpx.AsyncClient) -> None:
    """Wait until every analytics delivery is done."""
    await until(lambda: deliveries(client), lambda found: found and all(status == "done" for status, _ in found))
