"""Per-seat plans: the subscription's quantity follows the organization's member count, through Stripe."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.billing.live import Servers, live_servers
from tests.conftest import PrepareDatabase
from tests.tenancy.helpers import ORG, create_org, join, new_user

PER_SEAT = """
settings:
  billing:
    per_seat: true
    plans:
      free:
        limits: {projects: 2}
      team:
        price_monthly: price_pro_monthly
        limits: {projects: 100}
"""


@pytest.fixture
def servers(prepare_database: PrepareDatabase, monkeypatch: pytest.MonkeyPatch) -> Iterator[Servers]:
    with live_servers(prepare_database, monkeypatch, PER_SEAT) as running:
        yield running


async def quantity_becomes(client: httpx.AsyncClient, headers: dict[str, str], expected: int) -> dict[str, Any]:
    """Seats follow membership after the commit (an event subscriber): wait a bounded time for them."""
    deadline = time.monotonic() + 15
    while True:
        state: dict[str, Any] = (await client.get("/api/billing", headers=headers)).json()
        if state["quantity"] == expected or time.monotonic() > deadline:
            return state
        await asyncio.sleep(0.05)


async def test_member_count_is_synced_to_the_subscription_quantity(servers: Servers) -> None:
    async with httpx.AsyncClient(base_url=servers.app.base_url, timeout=30) as client:
        owner = await new_user(client, "owner@example.com", verified=False)
        org = await create_org(client, owner, "Acme", slug="acme")
        second = await new_user(client, "second@example.com", verified=False)
        await servers.verify_email(second.id)
        await join(client, owner, org, second, "member")

        # Checkout bills for the members there are: two seats.
        url = (await client.post("/api/billing/checkout", json={"plan": "team"}, headers=owner.headers)).json()["url"]
        assert (await client.post(url + "/pay")).status_code == 303
        state = await quantity_becomes(client, owner.headers, 2)
        assert state["plan"]["id"] == "team" and state["quantity"] == 2

        # A third member: Stripe's subscription is resized, its webhook brings the quantity back.
        third = await new_user(client, "third@example.com", verified=False)
        await servers.verify_email(third.id)
        member = await join(client, owner, org, third, "member")
        assert (await quantity_becomes(client, owner.headers, 3))["quantity"] == 3
        sub = servers.emulator.objects("subscription")[0]
        assert sub["items"]["data"][0]["quantity"] == 3

        # A member leaves: back to two.
        r = await client.post(
            f"{ORG}/remove-member",
            json={"memberIdOrEmail": member["id"], "organizationId": org["id"]},
            headers=owner.headers,
        )
        assert r.status_code == 200, r.text
        assert (await quantity_becomes(client, owner.headers, 2))["quantity"] == 2
        assert servers.emulator.objects("subscription")[0]["items"]["data"][0]["quantity"] == 2


class FailingSubscriptionUpdates:
    """In front of the emulator: the next ``failures`` subscription updates answer 500 (and say not to retry)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.failures = 0
        self.failed = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        updating = scope["type"] == "http" and scope["method"] == "POST"
        updating = updating and scope["path"].startswith("/v1/subscriptions/")
        if updating and self.failures > 0:
            self.failures -= 1
            self.failed += 1
            # The SDK's own retries stop here: what retries is the outbox's seat-sync delivery.
            body = {"error": {"type": "api_error", "message": "an outage at Stripe"}}
            await JSONResponse(body, status_code=500, headers={"Stripe-Should-Retry": "false"})(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def test_a_seat_sync_that_stripe_refused_is_retried(
    prepare_database: PrepareDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing: list[FailingSubscriptionUpdates] = []

    def wrap(app: ASGIApp) -> ASGIApp:
        failing.append(FailingSubscriptionUpdates(app))
        return failing[0]

    with live_servers(prepare_database, monkeypatch, PER_SEAT, wrap_stripe=wrap) as servers:
        async with httpx.AsyncClient(base_url=servers.app.base_url, timeout=30) as client:
            owner = await new_user(client, "owner@example.com", verified=False)
            org = await create_org(client, owner, "Acme", slug="acme")
            url = (await client.post("/api/billing/checkout", json={"plan": "team"}, headers=owner.headers)).json()
            assert (await client.post(url["url"] + "/pay")).status_code == 303
            assert (await quantity_becomes(client, owner.headers, 1))["quantity"] == 1

            failing[0].failures = 1  # Stripe fails the resize once: the delivery is retried after its backoff
            second = await new_user(client, "second@example.com", verified=False)
            await servers.verify_email(second.id)
            await join(client, owner, org, second, "member")
            assert (await quantity_becomes(client, owner.headers, 2))["quantity"] == 2
            assert failing[0].failed == 1
            assert servers.emulator.objects("subscription")[0]["items"]["data"][0]["quantity"] == 2
