"""Checkout to paid plan end to end: the app's official SDK against the Stripe emulator, signed webhooks back.

Both servers listen on real ports: the app calls the emulator with ``stripe.StripeClient``, the
emulator's hosted checkout page creates the subscription when "Pay" is pressed and delivers
signed events to the app's webhook endpoint, and the plan's limits follow.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tenantry.app import app_tables, create_app
from tenantry.config import Settings
from tenantry.db import create_database
from tenantry.db.migrations import sync_schema
from tenantry.emulators.server import RunningServer, bind_socket, format_base_url, run_in_thread
from tenantry.emulators.stripe import StripeEmulator
from tenantry.schema import load_schema_text
from tests.auth.helpers import BASE, NO_VERIFICATION
from tests.billing.helpers import PRICE_PRO, PRICE_PRO_YEARLY, SECRET, billing_schema
from tests.tenancy.helpers import create_org, join, new_user


class Servers:
    def __init__(self, app: RunningServer, stripe: RunningServer, emulator: StripeEmulator, db_url: str) -> None:
        self.app = app
        self.stripe = stripe
        self.emulator = emulator
        self.db_url = db_url

    async def verify_email(self, user_id: str) -> None:
        """Mark a user's address verified (invitations need it) on the app's database."""
        db = create_database(self.db_url)
        await db.open()
        try:
            async with db.transaction() as conn:
                if db.dialect_name == "postgresql":
                    await conn.execute("UPDATE users SET email_verified = true WHERE id = $1", [uuid.UUID(user_id)])
                else:
                    await conn.execute("UPDATE users SET email_verified = 1 WHERE id = ?", [user_id])
        finally:
            await db.close()


@pytest.fixture
def servers(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Servers]:
    app_sock, stripe_sock = bind_socket(), bind_socket()
    app_url = format_base_url(*app_sock.getsockname()[:2])
    stripe_url = format_base_url(*stripe_sock.getsockname()[:2])
    emulator = StripeEmulator(
        webhook_url=f"{app_url}/api/billing/webhook",
        webhook_secret=SECRET,
        prices={PRICE_PRO: 1500, PRICE_PRO_YEARLY: 15000},
        base_url=stripe_url,
    )
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_checkout_flow")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("STRIPE_API_BASE", stripe_url)
    schema = load_schema_text(billing_schema(), "test.yaml")
    settings = Settings(DATABASE_URL=database_url, TENANTRY_BASE_URL=BASE)
    sync_schema(database_url, app_tables(schema, settings.dialect, NO_VERIFICATION))
    stripe_server = run_in_thread(emulator, sock=stripe_sock)
    app_server = run_in_thread(create_app(schema, settings, auth_settings=NO_VERIFICATION), sock=app_sock)
    try:
        yield Servers(app_server, stripe_server, emulator, database_url)
    finally:
        app_server.stop()
        stripe_server.stop()


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
