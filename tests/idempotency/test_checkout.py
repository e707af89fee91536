"""``Idempotency-Key`` on billing's checkout, with the app calling the Stripe emulator through the SDK:
a retry gets the same session, and a retry after a process died between Stripe's answer and storing
it asks Stripe again with the same key of ours, so Stripe answers the same session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tenantry.emulators.stripe import StripeEmulator, start_stripe_emulator
from tenantry.idempotency import KEYS_TABLE
from tests.auth.helpers import BASE, NO_VERIFICATION, sql
from tests.billing.helpers import PRICE_PRO, PRICE_PRO_YEARLY, SECRET, billing_schema, stripe
from tests.conftest import ClientFactory
from tests.tenancy.helpers import create_org, new_user


@pytest.fixture
async def stripe_and_client(make_client: ClientFactory) -> AsyncIterator[tuple[StripeEmulator, httpx.AsyncClient]]:
    emulator, server = start_stripe_emulator(prices={PRICE_PRO: 1500, PRICE_PRO_YEARLY: 15000})
    billing = stripe(SECRET, secret_key="sk_test_idempotency", api_base=server.base_url)
    with server:
        async with make_client(billing_schema(), auth=NO_VERIFICATION, base_url=BASE, billing=billing) as client:
            yield emulator, client


async def test_a_retried_checkout_gets_the_same_session(
    stripe_and_client: tuple[StripeEmulator, httpx.AsyncClient],
) -> None:
    emulator, client = stripe_and_client
    owner = await new_user(client, "owner@example.com")
    await create_org(client, owner, "Acme", slug="acme")
    headers = {**owner.headers, "idempotency-key": "checkout-1"}
    first = await client.post("/api/billing/checkout", json={"plan": "pro"}, headers=headers)
    assert first.status_code == 200, first.text
    again = await client.post("/api/billing/checkout", json={"plan": "pro"}, headers=headers)
    assert (again.status_code, again.json(), again.headers["idempotent-replayed"]) == (200, first.json(), "true")
    assert len(emulator.objects("checkout.session")) == 1
    other = await client.post("/api/billing/checkout", json={"plan": "pro", "interval": "yearly"}, headers=headers)
    assert (other.status_code, other.json()["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")

    # As if the process had died after Stripe answered and before the answer was stored: the key is
    # left running with its lease run out. The retry carries the request on; Stripe, asked with the
    # same key of ours, answers the session it made.
    await sql(client, f"UPDATE {KEYS_TABLE} SET state = 'running', status = NULL, body = NULL, locked_until = NULL")
    carried = await client.post("/api/billing/checkout", json={"plan": "pro"}, headers=headers)
    assert carried.status_code == 200 and "idempotent-replayed" not in carried.headers
    assert carried.json() == first.json()
    assert len(emulator.objects("checkout.session")) == 1
    replay = await client.post("/api/billing/checkout", json={"plan": "pro"}, headers=headers)
    assert replay.json() == first.json() and replay.headers["idempotent-replayed"] == "true"

    # Without a key, every checkout is a new session, as before.
    plain = await client.post("/api/billing/checkout", json={"plan": "pro"}, headers=owner.headers)
    assert plain.status_code == 200 and plain.json()["id"] != first.json()["id"]
    assert len(emulator.objects("checkout.session")) == 2
