"""The webhook endpoint on both databases: forgeries refused, replays and reordering harmless."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from tenantry.emulators.stripe import sign_payload
from tests.auth.helpers import BASE, NO_VERIFICATION, sql
from tests.billing.helpers import (
    OTHER_SECRET,
    SECRET,
    billing_schema,
    count,
    deliver,
    encode,
    event,
    stripe,
    subscription_object,
    subscription_rows,
)
from tests.conftest import ClientFactory
from tests.tenancy.helpers import create_org, new_user


@pytest.fixture
async def client(make_client: ClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    billing = stripe(f"{SECRET},{OTHER_SECRET}")
    async with make_client(billing_schema(), auth=NO_VERIFICATION, base_url=BASE, billing=billing) as c:
        yield c


async def org_of(client: httpx.AsyncClient, email: str = "owner@example.com") -> dict[str, Any]:
    owner = await new_user(client, email)
    return await create_org(client, owner, "Acme", slug="acme")


async def test_forged_or_stale_signatures_are_refused_and_change_nothing(client: httpx.AsyncClient) -> None:
    org = await org_of(client)
    good = event("customer.subscription.created", subscription_object(org["id"]), int(time.time()))
    attempts = [
        await deliver(client, good, secret="whsec_not_ours"),  # forged
        await deliver(client, good, timestamp=int(time.time()) - 3600),  # stale (tolerance 300 s)
        await deliver(client, good, header=""),  # unsigned
        await deliver(client, good, header="t=123,v0=abc"),  # no v1 scheme
    ]
    # A correctly signed body with its content changed afterwards.
    signed = sign_payload(encode(good), SECRET)
    tampered = dict(good, data={"object": subscription_object(org["id"], status="trialing")})
    attempts.append(await deliver(client, tampered, header=signed))
    for r in attempts:
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "INVALID_SIGNATURE"
    assert await subscription_rows(client) == []
    assert await count(client, "SELECT count(*) FROM stripe_events") == 0


async def test_multiple_signatures_and_rotated_secrets_are_accepted(client: httpx.AsyncClient) -> None:
    org = await org_of(client)
    now = int(time.time())
    first = event("customer.subscription.created", subscription_object(org["id"]), now)
    body = encode(first)
    valid = sign_payload(body, SECRET, now).split(",")[1]
    # Several v1 signatures (Stripe sends one per live secret): one of them matching is enough.
    r = await deliver(client, first, header=f"t={now},v1={'0' * 64},{valid}")
    assert r.status_code == 200, r.text
    # The second configured secret (the new one during a rotation) verifies as well.
    second = event("customer.subscription.updated", subscription_object(org["id"], quantity=3), now + 1)
    r = await deliver(client, second, secret=OTHER_SECRET)
    assert r.status_code == 200, r.text
    rows = await subscription_rows(client)
    assert len(rows) == 1 and rows[0][5] == 3


async def test_the_same_event_ten_times_changes_once(client: httpx.AsyncClient) -> None:
    org = await org_of(client)
    e = event("customer.subscription.created", subscription_object(org["id"]), int(time.time()))
    outcomes = []
    for _ in range(10):
        r = await deliver(client, e)
        assert r.status_code == 200, r.text
        outcomes.append(r.json()["outcome"])
    assert outcomes == ["applied"] + ["duplicate"] * 9
    rows = await subscription_rows(client)
    assert len(rows) == 1
    assert (rows[0][1], rows[0][2], rows[0][3]) == ("sub_test_1", "pro", "active")
    # One audit row and one domain event for the one change.
    assert await count(client, "SELECT count(*) FROM audit_logs WHERE resource_type = 'subscriptions'") == 1
    assert await count(client, "SELECT count(*) FROM outbox_events WHERE topic = 'subscriptions.created'") == 1
    assert await count(client, "SELECT count(*) FROM stripe_events") == 1


async def test_events_in_reverse_order_leave_the_newest_state(client: httpx.AsyncClient) -> None:
    org = await org_of(client)
    t = int(time.time())
    created = event("customer.subscription.created", subscription_object(org["id"], status="trialing"), t)
    paid = event("customer.subscription.updated", subscription_object(org["id"], status="active", quantity=2), t + 5)
    failing = event(
        "customer.subscription.updated", subscription_object(org["id"], status="past_due", quantity=2), t + 9
    )
    failed_invoice = event(
        "invoice.payment_failed",
        {
            "id": "in_1",
            "object": "invoice",
            "customer": "cus_test_1",
            "parent": {"subscription_details": {"subscription": "sub_test_1"}},
        },
        t + 8,
    )
    outcomes = [(await deliver(client, e)).json()["outcome"] for e in (failing, failed_invoice, paid, created)]
    assert outcomes == ["applied", "stale", "stale", "stale"]
    rows = await subscription_rows(client)
    assert len(rows) == 1
    assert rows[0][3] == "past_due" and rows[0][5] == 2 and int(rows[0][6]) == t + 9
    # Delivered in order, the same events end in the same state.
    await sql(client, "DELETE FROM subscriptions")
    await sql(client, "DELETE FROM stripe_events")
    for e in (created, paid, failed_invoice, failing):
        assert (await deliver(client, dict(e, id=e["id"] + "_again"))).json()["outcome"] == "applied"
    rows = await subscription_rows(client)
    assert rows[0][3] == "past_due"


async def test_cancellation_then_a_late_update_keeps_it_canceled(client: httpx.AsyncClient) -> None:
    org = await org_of(client)
    t = int(time.time())
    await deliver(client, event("customer.subscription.created", subscription_object(org["id"]), t))
    deleted = event("customer.subscription.deleted", subscription_object(org["id"], status="canceled"), t + 20)
    late = event("customer.subscription.updated", subscription_object(org["id"], cancel_at_period_end=True), t + 10)
    assert (await deliver(client, deleted)).json()["outcome"] == "applied"
    assert (await deliver(client, late)).json()["outcome"] == "stale"
    rows = await subscription_rows(client)
    assert rows[0][3] == "canceled"


async def test_unknown_types_are_acknowledged_and_ignored(client: httpx.AsyncClient) -> None:
    await org_of(client)
    r = await deliver(client, event("customer.tax_id.created", {"id": "txi_1", "object": "tax_id"}, int(time.time())))
    assert r.status_code == 200 and r.json()["outcome"] == "ignored"
    assert await subscription_rows(client) == []


async def test_an_event_for_an_unknown_organization_changes_nothing(client: httpx.AsyncClient) -> None:
    await org_of(client)
    obj = subscription_object("00000000-0000-4000-8000-000000000000", customer="cus_nobody")
    r = await deliver(client, event("customer.subscription.created", obj, int(time.time())))
    assert r.status_code == 200 and r.json()["outcome"] == "unmatched"
    assert await subscription_rows(client) == []


async def test_subscriptions_are_read_only_through_the_crud_api(client: httpx.AsyncClient) -> None:
    owner = await new_user(client, "admin@example.com")
    org = await create_org(client, owner, "Acme", slug="acme")
    body = {"org_id": org["id"], "stripe_subscription_id": "sub_fake", "plan_id": "pro", "status": "active"}
    r = await client.post("/api/subscriptions", json=body, headers=owner.headers)
    assert r.status_code == 403 and r.json()["code"] == "SUBSCRIPTION_READ_ONLY"
    await deliver(client, event("customer.subscription.created", subscription_object(org["id"]), int(time.time())))
    rows = await sql(client, "SELECT id FROM subscriptions")
    r = await client.patch(f"/api/subscriptions/{rows[0][0]}", json={"plan_id": "free"}, headers=owner.headers)
    assert r.status_code == 403
    r = await client.get("/api/subscriptions", headers=owner.headers)
    assert r.status_code == 200 and len(r.json()) == 1


MALFORMED: list[tuple[str, Any]] = [
    ("customer.subscription.created", {"object": "subscription"}),  # no id
    ("customer.subscription.updated", {"id": 42, "items": "many"}),
    ("customer.subscription.updated", {"id": "sub_x", "items": {"data": [{"quantity": "lots"}]}}),
    ("customer.subscription.updated", {"id": "sub_x", "items": {"data": [{"quantity": 10**12}]}}),
    ("customer.subscription.deleted", {"id": "sub_" + "x" * 300}),
    ("customer.subscription.created", {"id": "sub_x", "metadata": {"org_id": ["a"]}, "customer": {"id": 1}}),
    ("customer.subscription.created", {"id": "sub_x", "metadata": {"org_id": "not-a-uuid"}}),
    ("customer.subscription.created", {"id": "sub_x", "trial_end": "soon"}),
    ("checkout.session.completed", {"id": "cs_1", "customer": ["x"], "metadata": "no"}),
    ("invoice.paid", {"id": "in_1", "parent": "x", "customer": 7}),
    ("invoice.payment_failed", {"id": "in_1", "parent": {"subscription_details": []}}),
    ("customer.subscription.created", []),
]


@pytest.mark.parametrize(("kind", "obj"), MALFORMED)
async def test_signed_but_malformed_events_never_fail_the_endpoint(
    client: httpx.AsyncClient, kind: str, obj: Any
) -> None:
    await org_of(client)
    r = await deliver(client, event(kind, obj, int(time.time())))
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] in ("invalid", "unmatched", "ignored")
    assert await subscription_rows(client) == []


@pytest.mark.parametrize(
    "body",
    [
        {"id": "evt_1", "type": "invoice.paid"},  # no created
        {"id": "evt_1", "type": "invoice.paid", "created": "yesterday"},
        {"id": ["evt_1"], "type": "invoice.paid", "created": 1},
        {"type": "invoice.paid", "created": 1},
        ["not", "an", "event"],
    ],
)
async def test_signed_bodies_that_are_not_events_are_refused(client: httpx.AsyncClient, body: Any) -> None:
    payload = orjson.dumps(body)
    r = await client.post(
        "/api/billing/webhook",
        content=payload,
        headers={"stripe-signature": sign_payload(payload, SECRET), "content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["code"] == "INVALID_SIGNATURE"
    assert await count(client, "SELECT count(*) FROM stripe_events") == 0


async def test_users_cannot_set_their_organizations_stripe_customer(client: httpx.AsyncClient) -> None:
    owner = await new_user(client, "admin@example.com")
    org = await create_org(client, owner, "Acme", slug="acme")
    r = await client.patch(
        f"/api/organizations/{org['id']}", json={"stripe_customer_id": "cus_someone_else"}, headers=owner.headers
    )
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "FIELD_NOT_ALLOWED", r.text
    r = await client.patch(
        f"/api/organizations/{org['id']}", json={"billing_email": "b@example.com"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["stripe_customer_id"] is None


async def test_the_same_event_ten_times_at_once_changes_once(client: httpx.AsyncClient) -> None:
    org = await org_of(client)
    e = event("customer.subscription.created", subscription_object(org["id"]), int(time.time()))
    responses = await asyncio.gather(*(deliver(client, e) for _ in range(10)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes == ["applied"] + ["duplicate"] * 9
    assert len(await subscription_rows(client)) == 1
    assert await count(client, "SELECT count(*) FROM audit_logs WHERE resource_type = 'subscriptions'") == 1
    assert await count(client, "SELECT count(*) FROM outbox_events WHERE topic = 'subscriptions.created'") == 1
