"""Product events reach PostHog (the emulator, through the official SDK) from the outbox, on both databases."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import httpx

from tenantry.analytics import SUBSCRIBER
from tests.analytics.conftest import PostHog, all_delivered, deliveries, eventually, until
from tests.auth.helpers import PASSWORD, runtime, sql, ts
from tests.billing.helpers import deliver, event, subscription_object
from tests.tenancy.helpers import create_org, new_user, ok


def named(posthog: PostHog, name: str) -> list[dict[str, Any]]:
    return posthog.emulator.named(name)


async def one(posthog: PostHog, name: str, distinct_id: str) -> dict[str, Any]:
    """The one capture called ``name`` by ``distinct_id``, once it arrived (and never a second)."""
    found = await eventually(lambda: [e for e in named(posthog, name) if e["distinct_id"] == distinct_id])
    assert len(found) == 1, found
    return found[0]


async def test_each_action_is_captured_once_with_its_actor_and_organization(
    client: httpx.AsyncClient, posthog: PostHog
) -> None:
    alice = await new_user(client, "alice@example.com", name="Alice Liddell")
    signed_up = await one(posthog, "user signed up", alice.id)
    assert "$groups" not in signed_up["properties"]
    # The SDK's own wire format: the project key with the batch, the event's time and library.
    assert signed_up["api_key"] == "phc_test_project_key"
    assert signed_up["properties"]["$lib"] == "posthog-python"

    org = await create_org(client, alice, "Acme Corp")
    group = {"organization": org["id"]}
    created = await one(posthog, "organization created", alice.id)
    assert created["properties"]["$groups"] == group
    # Sent right after the capture, in a request of its own: it may arrive a moment later.
    [identify] = await eventually(lambda: named(posthog, "$groupidentify"))
    assert identify["properties"]["$group_type"] == "organization"
    assert identify["properties"]["$group_key"] == org["id"]
    assert identify["properties"]["$group_set"] == {"name": "Acme Corp"}
    # Renamed: the group gets its new name (another change, none).
    await ok(client, alice, "update", {"organizationId": org["id"], "data": {"name": "Acme Inc"}})
    await ok(client, alice, "update", {"organizationId": org["id"], "data": {"logo": "https://img.example/a.png"}})
    renamed = await eventually(lambda: [e for e in named(posthog, "$groupidentify") if e is not identify])
    assert [r["properties"]["$group_set"] for r in renamed] == [{"name": "Acme Inc"}]
    assert renamed[0]["properties"]["$group_key"] == org["id"] and renamed[0]["distinct_id"] == alice.id

    bob = await new_user(client, "bob@example.com")
    invitation = await ok(
        client, alice, "invite-member", {"email": bob.email, "role": "member", "organizationId": org["id"]}
    )
    invited = await one(posthog, "member invited", alice.id)
    assert invited["properties"]["$groups"] == group
    assert invited["properties"]["role"] == "member"
    await ok(client, bob, "accept-invitation", {"invitationId": invitation["id"]})
    joined = await one(posthog, "member joined", bob.id)
    assert joined["properties"]["$groups"] == group

    # The free plan allows two projects; the third is refused, and so is a retry the same day.
    for name in ("a", "b"):
        assert (await client.post("/api/projects", json={"name": name}, headers=alice.headers)).status_code == 201
    for _ in range(3):
        refused = await client.post("/api/projects", json={"name": "c"}, headers=alice.headers)
        assert refused.status_code == 402 and refused.json()["code"] == "PLAN_LIMIT_REACHED"
    limit = await one(posthog, "plan limit reached", alice.id)
    assert limit["properties"]["$groups"] == group
    assert {k: limit["properties"][k] for k in ("limit", "allowed", "plan")} == {
        "limit": "projects",
        "allowed": 2,
        "plan": "free",
    }

    # Stripe's webhooks (signed as Stripe signs them) start, change and cancel the subscription.
    org_actor = f"organization:{org['id']}"
    now = int(time.time())
    await deliver(client, event("customer.subscription.created", subscription_object(org["id"]), now))
    started = await one(posthog, "subscription started", org_actor)
    assert started["properties"]["$groups"] == group
    assert started["properties"]["plan"] == "pro"
    assert started["properties"]["$process_person_profile"] is False
    team = subscription_object(org["id"], price="price_team_monthly")
    await deliver(client, event("customer.subscription.updated", team, now + 1))
    changed = await one(posthog, "subscription changed", org_actor)
    assert (changed["properties"]["plan"], changed["properties"]["previous_plan"]) == ("team", "pro")
    await deliver(client, event("customer.subscription.deleted", {**team, "status": "canceled"}, now + 2))
    canceled = await one(posthog, "subscription canceled", org_actor)
    assert canceled["properties"]["previous_plan"] == "team"

    await all_delivered(client)
    names = sorted(e["event"] for e in posthog.emulator.events)
    assert names == sorted(
        [
            "user signed up",
            "user signed up",
            "organization created",
            "$groupidentify",
            "$groupidentify",
            "member invited",
            "member joined",
            "plan limit reached",
            "subscription started",
            "subscription changed",
            "subscription canceled",
        ]
    )
    # Nothing personal left: no address, name or password in anything PostHog received.
    wire = json.dumps(posthog.emulator.received).lower()
    for secret in ("alice@example.com", "bob@example.com", "alice liddell", PASSWORD.lower(), "password"):
        assert secret not in wire


async def test_personal_data_only_when_allowed(make_client: Any, posthog: PostHog) -> None:
    from tests.auth.helpers import BASE, NO_VERIFICATION

    settings = posthog.settings(TENANTRY_ANALYTICS_PERSONAL_DATA=True)
    async with make_client(None, auth=NO_VERIFICATION, base_url=BASE, analytics=settings) as client:
        ada = await new_user(client, "ada@example.com", name="Ada")
        signed_up = await one(posthog, "user signed up", ada.id)
    assert signed_up["properties"]["$set"] == {"email": "ada@example.com", "name": "Ada"}


async def test_an_outage_loses_nothing_and_a_lost_answer_makes_no_duplicate(
    client: httpx.AsyncClient, posthog: PostHog
) -> None:
    # PostHog down: the first attempt fails with 503 and the delivery waits for its retry.
    posthog.emulator.fail_next(1, status=503)
    ada = await new_user(client, "ada@example.com")
    await eventually(lambda: posthog.emulator.requests >= 1)
    state = await until(lambda: deliveries(client), lambda d: d and d[0][1] >= 1)
    assert state == [("pending", 1)]
    assert named(posthog, "user signed up") == []

    # Back up, but the answer to the retry is lost after PostHog stored the event: a third attempt.
    posthog.emulator.fail_next(1, status=503, keep=True)
    await make_due(client)
    await runtime(client).outbox.worker(SUBSCRIBER).deliver_pending()
    # (The background worker may be the one that made the attempt, and on a slow machine the next one
    # too: wait for the second attempt's outcome, or for a third already done.)
    await until(
        lambda: deliveries(client),
        lambda d: (d == [("pending", 2)] and len(sent_signups(posthog)) == 1) or d == [("done", 3)],
    )
    await make_due(client)
    await runtime(client).outbox.worker(SUBSCRIBER).deliver_pending()
    await until(lambda: deliveries(client), lambda d: d == [("done", 3)])

    # Sent twice with one uuid (the outbox event's id): PostHog keeps it once.
    sent = sent_signups(posthog)
    assert len(sent) == 2 and sent[0]["uuid"] == sent[1]["uuid"]
    [kept] = named(posthog, "user signed up")
    assert kept["distinct_id"] == ada.id
    [(event_id,)] = await sql(client, "SELECT event_id FROM outbox_deliveries WHERE subscriber = ?", SUBSCRIBER)
    assert kept["uuid"] == str(event_id)


async def test_a_request_never_waits_for_posthog(client: httpx.AsyncClient, posthog: PostHog) -> None:
    posthog.emulator.hold()
    try:
        # The sign-up answers while PostHog has not answered the upload of its event: the capture
        # is made by the outbox worker, after the commit, never by the request.
        ada = await new_user(client, "ada@example.com")
        await eventually(posthog.emulator.arrived.is_set)
        # The worker holds the delivery (its first attempt, in flight) while the request is long done.
        assert await deliveries(client) == [("pending", 1)]
        assert named(posthog, "user signed up") == []
    finally:
        posthog.emulator.release()
    await one(posthog, "user signed up", ada.id)
    await all_delivered(client)


def sent_signups(posthog: PostHog) -> list[dict[str, Any]]:
    """Every ``user signed up`` PostHog received, repeats included."""
    return [e for e in posthog.emulator.received if e["event"] == "user signed up"]


async def make_due(client: httpx.AsyncClient) -> None:
    """Bring the analytics deliveries' retry forward to now (instead of waiting out the backoff)."""
    past = ts(client, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    await sql(client, "UPDATE outbox_deliveries SET next_attempt_at = ? WHERE subscriber = ?", past, SUBSCRIBER)
