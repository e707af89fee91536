"""Per-seat plans: the subscription's quantity follows the organization's member count, through Stripe."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

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
        await asyncio.sleep(0.1)


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
