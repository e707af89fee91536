"""Plan limits, read-only states and features, enforced in the API's write path (both databases)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tenantry.errors import ApiError
from tests.auth.helpers import BASE, NO_VERIFICATION
from tests.billing.helpers import SECRET, billing, billing_schema, deliver, event, stripe, subscription_object
from tests.conftest import ClientFactory
from tests.tenancy.helpers import User, create_org, new_user

READ_ONLY = """
settings:
  billing:
    past_due: read_only
    plans:
      free:
        limits: {projects: 1}
      pro:
        price_monthly: price_pro_monthly
        limits: {projects: 5}
        features: [exports]
"""


@pytest.fixture
async def client(make_client: ClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(billing_schema(), auth=NO_VERIFICATION, base_url=BASE, billing=stripe(SECRET)) as c:
        yield c


async def create(client: httpx.AsyncClient, user: User, name: str) -> httpx.Response:
    return await client.post("/api/projects", json={"name": name}, headers=user.headers)


async def test_limits_count_per_organization_and_lift_with_the_plan(client: httpx.AsyncClient) -> None:
    alice = await new_user(client, "alice@example.com")
    org = await create_org(client, alice, "Acme", slug="acme")
    bob = await new_user(client, "bob@example.com")
    await create_org(client, bob, "Other", slug="other")
    for name in ("a", "b"):
        assert (await create(client, alice, name)).status_code == 201
    refused = await create(client, alice, "c")
    assert refused.status_code == 402
    body = refused.json()
    assert (body["code"], body["limit"], body["allowed"], body["plan"]) == ("PLAN_LIMIT_REACHED", "projects", 2, "free")
    # Another organization's count is its own.
    assert (await create(client, bob, "b1")).status_code == 201
    # Bulk creation is all-or-nothing under the limit too.
    r = await client.post("/api/projects/bulk", json={"bulk": [{"name": "x"}, {"name": "y"}]}, headers=bob.headers)
    assert r.status_code == 402
    assert len((await client.get("/api/projects", headers=bob.headers)).json()) == 1
    # Deleting one frees a slot.
    first = (await client.get("/api/projects", headers=alice.headers)).json()[0]
    assert (await client.delete(f"/api/projects/{first['id']}", headers=alice.headers)).status_code == 200
    assert (await create(client, alice, "c")).status_code == 201

    await deliver(client, event("customer.subscription.created", subscription_object(org["id"]), int(time.time())))
    for name in ("d", "e", "f"):
        assert (await create(client, alice, name)).status_code == 201
    state = (await client.get("/api/billing", headers=alice.headers)).json()
    assert state["plan"]["id"] == "pro" and state["usage"]["projects"] == {"used": 5, "limit": 50}
    assert state["features"] == ["exports"]
    await billing(client).require_feature(org["id"], "exports")


async def test_features_are_refused_on_a_plan_without_them(client: httpx.AsyncClient) -> None:
    alice = await new_user(client, "alice@example.com")
    org = await create_org(client, alice, "Acme", slug="acme")
    with pytest.raises(ApiError) as refused:
        await billing(client).require_feature(org["id"], "exports")
    assert refused.value.status == 402 and refused.value.code == "FEATURE_NOT_AVAILABLE"


async def test_past_due_keeps_the_plan_during_the_grace_period_only(client: httpx.AsyncClient) -> None:
    now = int(time.time())
    states = []
    # Grace is 3 days from when the subscription became past due (the event that made it so).
    for name, became_past_due in (("recent", now - 86_400), ("long-ago", now - 5 * 86_400)):
        user = await new_user(client, f"{name}@example.com")
        org = await create_org(client, user, name, slug=name)
        sub = f"sub_{name}"
        await deliver(
            client,
            event("customer.subscription.created", subscription_object(org["id"], sub_id=sub), now - 30 * 86_400),
        )
        late = subscription_object(org["id"], sub_id=sub, status="past_due", period_end=now + 20 * 86_400)
        await deliver(client, event("customer.subscription.updated", late, became_past_due))
        # Still past due a day later: the grace period keeps counting from the first time.
        await deliver(client, event("customer.subscription.updated", late, became_past_due + 3600))
        states.append((await client.get("/api/billing", headers=user.headers)).json())
    recent, long_ago = states
    assert recent["plan"]["id"] == "pro" and recent["status"] == "past_due"
    assert long_ago["plan"]["id"] == "free" and long_ago["subscribedPlan"] == "pro" and long_ago["status"] == "past_due"


async def test_read_only_setting_refuses_every_change_while_past_due(make_client: ClientFactory) -> None:
    async with make_client(
        billing_schema(READ_ONLY), auth=NO_VERIFICATION, base_url=BASE, billing=stripe(SECRET)
    ) as client:
        alice = await new_user(client, "alice@example.com")
        org = await create_org(client, alice, "Acme", slug="acme")
        project = (await create(client, alice, "a")).json()
        t = int(time.time())
        await deliver(client, event("customer.subscription.created", subscription_object(org["id"]), t))
        assert (await create(client, alice, "b")).status_code == 201
        await deliver(
            client, event("customer.subscription.updated", subscription_object(org["id"], status="past_due"), t + 1)
        )
        for r in (
            await create(client, alice, "c"),
            await client.patch(f"/api/projects/{project['id']}", json={"name": "z"}, headers=alice.headers),
            await client.delete(f"/api/projects/{project['id']}", headers=alice.headers),
        ):
            assert r.status_code == 402 and r.json()["code"] == "SUBSCRIPTION_INACTIVE", r.text
        assert (await client.get("/api/projects", headers=alice.headers)).status_code == 200  # reads go on
        state = (await client.get("/api/billing", headers=alice.headers)).json()
        assert state["readOnly"] is True
        await deliver(client, event("customer.subscription.updated", subscription_object(org["id"]), t + 2))
        assert (await create(client, alice, "c")).status_code == 201
