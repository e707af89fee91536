"""The billing endpoints' refusals and shapes, with the app calling the Stripe emulator through the SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tenantry.emulators.stripe import StripeEmulator, start_stripe_emulator
from tests.auth.helpers import BASE, NO_VERIFICATION
from tests.billing.helpers import PRICE_PRO, PRICE_PRO_YEARLY, SECRET, billing_schema, stripe
from tests.conftest import ClientFactory
from tests.tenancy.helpers import create_org, join, new_user


@pytest.fixture
async def stripe_and_client(
    make_client: ClientFactory,
) -> AsyncIterator[tuple[StripeEmulator, httpx.AsyncClient]]:
    emulator, server = start_stripe_emulator(prices={PRICE_PRO: 1500, PRICE_PRO_YEARLY: 15000})
    billing = stripe(SECRET, secret_key="sk_test_endpoints", api_base=server.base_url)
    with server:
        async with make_client(billing_schema(), auth=NO_VERIFICATION, base_url=BASE, billing=billing) as client:
            yield emulator, client


async def test_checkout_by_price_id_with_trial_and_metadata(
    stripe_and_client: tuple[StripeEmulator, httpx.AsyncClient],
) -> None:
    emulator, client = stripe_and_client
    owner = await new_user(client, "owner@example.com")
    org = await create_org(client, owner, "Acme", slug="acme")
    r = await client.post("/api/billing/checkout", json={"priceId": PRICE_PRO_YEARLY}, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"url", "id"}
    session = emulator.objects("checkout.session")[0]
    assert session["_line"] == {"price": PRICE_PRO_YEARLY, "quantity": 1}
    assert session["metadata"]["org_id"] == org["id"] and session["client_reference_id"] == org["id"]
    assert session["_subscription_data"]["trial_period_days"] == "14"
    assert session["_subscription_data"]["metadata"]["org_id"] == org["id"]
    assert session["success_url"].startswith(f"{BASE}/settings/billing?checkout=success")
    assert session["cancel_url"] == f"{BASE}/settings/billing?checkout=canceled"
    # The organization now has its customer, with its id in Stripe's metadata.
    orgs = (await client.get(f"/api/organizations/{org['id']}", headers=owner.headers)).json()
    customer = emulator.objects("customer")[0]
    assert orgs["stripe_customer_id"] == customer["id"] and customer["metadata"] == {"org_id": org["id"]}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "REQUIRED"),
        ({"plan": "free"}, "UNKNOWN_PLAN"),
        ({"plan": "platinum"}, "UNKNOWN_PLAN"),
        ({"plan": "pro", "interval": "weekly"}, "INVALID_VALUE"),
        ({"priceId": "price_unknown"}, "UNKNOWN_PRICE"),
        ({"plan": 7}, "REQUIRED"),
    ],
)
async def test_checkout_refuses_what_is_not_a_plan(
    stripe_and_client: tuple[StripeEmulator, httpx.AsyncClient], body: dict[str, object], code: str
) -> None:
    emulator, client = stripe_and_client
    owner = await new_user(client, "owner@example.com")
    await create_org(client, owner, "Acme", slug="acme")
    r = await client.post("/api/billing/checkout", json=body, headers=owner.headers)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == code, r.text
    assert emulator.objects("checkout.session") == []


async def test_who_may_call_what(stripe_and_client: tuple[StripeEmulator, httpx.AsyncClient]) -> None:
    _, client = stripe_and_client
    assert (await client.get("/api/billing")).status_code == 401
    assert (await client.post("/api/billing/checkout", json={"plan": "pro"})).status_code == 401
    lonely = await new_user(client, "lonely@example.com")
    r = await client.get("/api/billing", headers=lonely.headers)
    assert r.status_code == 400 and r.json()["code"] == "NO_ACTIVE_ORGANIZATION"
    owner = await new_user(client, "owner@example.com")
    org = await create_org(client, owner, "Acme", slug="acme")
    viewer = await new_user(client, "viewer@example.com")
    await join(client, owner, org, viewer, "viewer")
    assert (await client.get("/api/billing", headers=viewer.headers)).status_code == 200
    for path in ("/api/billing/checkout", "/api/billing/portal"):
        r = await client.post(path, json={"plan": "pro"}, headers=viewer.headers)
        assert r.status_code == 403 and r.json()["code"] == "BILLING_ADMIN_ONLY"
    # No customer yet: nothing to manage in the portal.
    r = await client.post("/api/billing/portal", headers=owner.headers)
    assert r.status_code == 409 and r.json()["code"] == "NO_BILLING_ACCOUNT"


async def test_without_stripe_keys_checkout_says_billing_is_not_configured(make_client: ClientFactory) -> None:
    async with make_client(billing_schema(), auth=NO_VERIFICATION, base_url=BASE, billing=stripe(SECRET)) as client:
        owner = await new_user(client, "owner@example.com")
        await create_org(client, owner, "Acme", slug="acme")
        r = await client.post("/api/billing/checkout", json={"plan": "pro"}, headers=owner.headers)
        assert r.status_code == 503 and r.json()["code"] == "BILLING_NOT_CONFIGURED"
        assert (await client.get("/api/billing", headers=owner.headers)).json()["plan"]["id"] == "free"
