"""Checkout to paid plan end to end: the app's official SDK against the Stripe emulator, signed webhooks back.

Both servers listen on real ports: the app calls the emulator with ``stripe.StripeClient``, the
emulator's hosted checkout page creates the subscription when "Pay" is pressed and delivers
signed events to the app's webhook endpoint, and the plan's limits follow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.auth.helpers import BASE
from tests.billing.live import Servers, live_servers
from tests.conftest import PrepareDatabase
from tests.tenancy.helpers import create_org, join, new_user


@pytest.fixture
def servers(prepare_database: PrepareDatabase, monkeypatch: pytest.MonkeyPatch) -> Iterator[Servers]:
    with live_servers(prepare_database, monkeypatch) as running:
        yield running


async def summary(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    r = await client.get("/api/billing", headers=headers)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def test_checkout_pay_webhook_lifts_the_limit(servers: Servers) -> None:
    async with httpx.AsyncClient(base_url=servers.app.base_url, timeout=30) as client:
        owner = await new_user(client, "owner@example.com", verified=False)
        org = await create_org(client, owner, "Acme", slug="acme")
        member = await new_user(client, "member@example.com", verified=False)
        await servers.verify_email(member.id)
        await join(client, owner, org, member, "member")

        # The free plan: two projects, the third refused with 402 naming the limit.
        for name in ("One", "Two"):
            r = await client.post("/api/projects", json={"name": name}, headers=owner.headers)
            assert r.status_code == 201, r.text
        r = await client.post("/api/projects", json={"name": "Three"}, headers=owner.headers)
        assert r.status_code == 402, r.text
        assert r.json()["code"] == "PLAN_LIMIT_REACHED" and r.json()["limit"] == "projects"
        before = await summary(client, owner.headers)
        assert before["plan"]["id"] == "free" and before["status"] is None
        assert before["usage"]["projects"] == {"used": 2, "limit": 2}

        # Only the organization's admins open a checkout.
        r = await client.post("/api/billing/checkout", json={"plan": "pro"}, headers=member.headers)
        assert r.status_code == 403 and r.json()["code"] == "BILLING_ADMIN_ONLY"
        r = await client.post("/api/billing/checkout", json={"priceId": "price_nope"}, headers=owner.headers)
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "UNKNOWN_PRICE"

        r = await client.post("/api/billing/checkout", json={"plan": "pro"}, headers=owner.headers)
        assert r.status_code == 200, r.text
        url = r.json()["url"]
        assert url.startswith(servers.stripe.base_url + "/checkout/")
        customers = servers.emulator.objects("customer")
        assert len(customers) == 1 and customers[0]["metadata"] == {"org_id": org["id"]}
        # A second checkout before paying reuses the organization's customer.
        r = await client.post(
            "/api/billing/checkout", json={"plan": "pro", "interval": "yearly"}, headers=owner.headers
        )
        assert r.status_code == 200, r.text
        assert len(servers.emulator.objects("customer")) == 1

        page = await client.get(url)
        assert page.status_code == 200 and "Pay" in page.text
        paid = await client.post(url + "/pay")
        assert paid.status_code == 303
        assert paid.headers["location"].startswith(BASE + "/settings/billing?checkout=success")
        deliveries = servers.emulator.deliveries
        assert [d.status for d in deliveries] == [200, 200, 200], deliveries

        after = await summary(client, owner.headers)
        assert after["plan"]["id"] == "pro" and after["status"] == "trialing"
        assert after["trialEnd"] is not None and after["currentPeriodEnd"] is not None
        assert after["usage"]["projects"] == {"used": 2, "limit": 50}
        r = await client.post("/api/projects", json={"name": "Three"}, headers=owner.headers)
        assert r.status_code == 201, r.text

        # Already subscribed: the next checkout is refused; the portal manages the subscription.
        r = await client.post("/api/billing/checkout", json={"plan": "pro"}, headers=owner.headers)
        assert r.status_code == 409 and r.json()["code"] == "ALREADY_SUBSCRIBED"
        r = await client.post("/api/billing/portal", headers=owner.headers)
        assert r.status_code == 200, r.text
        portal = await client.get(r.json()["url"])
        assert portal.status_code == 200 and after["stripeSubscriptionId"] in portal.text

        sub_id = after["stripeSubscriptionId"]
        control = f"{servers.stripe.base_url}/__emulator__/subscriptions/{sub_id}"
        # A failed payment: past_due, still Pro within the grace period.
        assert (await client.post(f"{control}/fail_payment")).status_code == 200
        failing = await summary(client, owner.headers)
        assert failing["status"] == "past_due" and failing["plan"]["id"] == "pro"
        # Renewal pays it: active again.
        assert (await client.post(f"{control}/renew")).status_code == 200
        assert (await summary(client, owner.headers))["status"] == "active"
        # Canceled: back to the free plan's limits (three projects exist, two allowed).
        assert (await client.post(f"{control}/cancel")).status_code == 200
        canceled = await summary(client, owner.headers)
        assert canceled["status"] == "canceled" and canceled["plan"]["id"] == "free"
        r = await client.post("/api/projects", json={"name": "Four"}, headers=owner.headers)
        assert r.status_code == 402 and r.json()["code"] == "PLAN_LIMIT_REACHED"
        assert all(d.status == 200 for d in servers.emulator.deliveries)


async def test_concurrent_creates_cannot_both_take_the_last_slot(servers: Servers) -> None:
    async with httpx.AsyncClient(base_url=servers.app.base_url, timeout=30) as client:
        owner = await new_user(client, "owner@example.com", verified=False)
        await create_org(client, owner, "Acme", slug="acme")
        r = await client.post("/api/projects", json={"name": "One"}, headers=owner.headers)
        assert r.status_code == 201
        # One slot left; ten requests race for it on a real server.
        results = await asyncio.gather(
            *(client.post("/api/projects", json={"name": f"P{i}"}, headers=owner.headers) for i in range(10))
        )
        statuses = sorted(r.status_code for r in results)
        assert statuses == [201] + [402] * 9, [r.text for r in results]
        assert (await summary(client, owner.headers))["usage"]["projects"]["used"] == 2
