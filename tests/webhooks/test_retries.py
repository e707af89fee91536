"""Retries on Standard Webhooks' schedule, ``410 Gone``, the five-day rule and resending, on a clock the test moves.

The app runs on ``FakeClock``: a retry is due only once the test moved the clock past its delay, so
"not yet" is checked with one delivery pass (``deliver_pending``, which finds nothing due) and
"now" by waking the workers and waiting for the receiver.
"""

from __future__ import annotations

import httpx

from tenantry.mail import list_outbox
from tenantry.webhooks import DELIVERY_SUBSCRIBER
from tenantry.webhooks.schedule import DELAYS
from tests.audit.helpers import eventually
from tests.auth.helpers import BASE, runtime, sql
from tests.clock import FakeClock
from tests.conftest import ClientFactory
from tests.tenancy.helpers import User, create_org, new_user
from tests.webhooks.helpers import API, AUTH, LOCAL, create_endpoint, create_project, wake, webhooks
from tests.webhooks.receiver import Inbox, Receiver


async def settled(client: httpx.AsyncClient, box: Inbox, count: int) -> None:
    """Wait until ``count`` requests arrived and the last attempt's outcome is recorded (no claim in hand)."""

    async def done() -> bool:
        if len(box.received) < count:
            return False
        rows = await sql(
            client,
            "SELECT count(*) FROM outbox_deliveries WHERE subscriber = ? AND claim_id IS NOT NULL",
            DELIVERY_SUBSCRIBER,
        )
        return int(rows[0][0]) == 0

    await eventually(done)
    assert len(box.received) == count


async def nothing_due(client: httpx.AsyncClient) -> bool:
    report = await runtime(client).outbox.worker(DELIVERY_SUBSCRIBER).deliver_pending()
    return report.attempted == 0


async def next_attempt(client: httpx.AsyncClient, clock: FakeClock, box: Inbox, seconds: float) -> None:
    """Move the clock by ``seconds``: just short of it nothing is due; at it, one more request arrives."""
    before = len(box.received)
    clock.advance(seconds - 0.5)
    assert await nothing_due(client), "a retry came before its delay"
    clock.advance(0.5)
    wake(client)
    await settled(client, box, before + 1)


async def endpoint_state(client: httpx.AsyncClient, admin: User, endpoint_id: str) -> dict[str, object]:
    r = await client.get(f"{API}/endpoints/{endpoint_id}", headers=admin.headers)
    state: dict[str, object] = r.json()
    return state


async def test_failing_three_times_then_succeeding_delivers_once_on_the_schedule(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    clock = FakeClock()
    async with make_client(auth=AUTH, base_url=BASE, webhooks=LOCAL, clock=clock) as client:
        ada = await new_user(client, "ada@example.com")
        await create_org(client, ada, "Acme", slug="acme")
        box = receiver.inbox(500, 502, 503)
        endpoint = await create_endpoint(client, ada, box.url, event_types=["projects.created"])
        await create_project(client, ada, "Apollo")
        await settled(client, box, 1)
        for delay in DELAYS[:3]:  # 5 s, 5 min, 30 min
            await next_attempt(client, clock, box, delay)
        eid = endpoint["id"]

        async def delivered() -> bool:
            found = (await client.get(f"{API}/endpoints/{eid}/messages", headers=ada.headers)).json()["data"]
            return bool(found[0]["status"] == "delivered")

        await eventually(delivered)
        messages = (await client.get(f"{API}/endpoints/{eid}/messages", headers=ada.headers)).json()["data"]
        assert len(messages) == 1 and messages[0]["attempts"] == 4
        # One message, one id and one body every time: the receiver has it once.
        assert len({(m.headers["webhook-id"], m.body) for m in box.received}) == 1
        attempts = (await client.get(f"{API}/endpoints/{eid}/attempts", headers=ada.headers)).json()["data"]
        assert [(a["attempt"], a["status"], a["response_status"]) for a in attempts] == [
            (4, "succeeded", 204),
            (3, "failed", 503),
            (2, "failed", 502),
            (1, "failed", 500),
        ]
        assert len(attempts[-1]["response_body"]) == 1024 and attempts[-1]["error"] == "HTTP 500"
        assert all(a["latency_ms"] >= 0 for a in attempts)
        state = await endpoint_state(client, ada, eid)
        assert state["enabled"] is True and state["failing_since"] is None
        # Nothing more is due, even much later.
        clock.advance(86400)
        assert await nothing_due(client)

        # An admin resends it: the same id and body once more.
        r = await client.post(f"{API}/endpoints/{eid}/messages/{messages[0]['id']}/resend", headers=ada.headers)
        assert r.status_code == 202, r.text
        await eventually(lambda: len(box.received) == 5)
        assert box.received[-1].body == box.received[0].body
        assert box.received[-1].headers["webhook-id"] == messages[0]["id"]
        r = await client.post(f"{API}/endpoints/{eid}/messages/msg_nope/resend", headers=ada.headers)
        assert (r.status_code, r.json()["code"]) == (404, "WEBHOOK_MESSAGE_NOT_FOUND")
        await settled(client, box, 5)

        # Kept 30 days, then pruned with its attempts.
        pruner = webhooks(client).pruner
        clock.advance(28 * 86400)  # 29 days after it was made
        assert await pruner.work(until_stopped=False) == 0
        clock.advance(2 * 86400)
        assert await pruner.work(until_stopped=False) == 1
        for path in ("messages", "attempts"):
            r = await client.get(f"{API}/endpoints/{eid}/{path}", headers=ada.headers)
            assert r.json() == {"data": [], "next": None}


async def test_a_receiver_failing_every_time_is_tried_eight_times(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    clock = FakeClock()
    async with make_client(auth=AUTH, base_url=BASE, webhooks=LOCAL, clock=clock) as client:
        ada = await new_user(client, "ada@example.com")
        await create_org(client, ada, "Acme", slug="acme")
        box = receiver.inbox(*([500] * 20))
        endpoint = await create_endpoint(client, ada, box.url, event_types=["projects.created"])
        await create_project(client, ada, "Apollo")
        await settled(client, box, 1)
        for delay in DELAYS:
            await next_attempt(client, clock, box, delay)
        clock.advance(10 * 86400)
        assert await nothing_due(client)
        assert len(box.received) == 8
        eid = endpoint["id"]

        async def failed() -> bool:
            found = (await client.get(f"{API}/endpoints/{eid}/messages", headers=ada.headers)).json()["data"]
            return bool(found[0]["status"] == "failed" and found[0]["attempts"] == 8)

        await eventually(failed)
        # 27.5 hours of failures: not yet five days, the endpoint stays on.
        assert (await endpoint_state(client, ada, eid))["enabled"] is True

        # The receiver is fixed: an admin replays what failed since the message was made.
        box.answers.clear()
        made = (await client.get(f"{API}/endpoints/{eid}/messages", headers=ada.headers)).json()["data"][0]
        replay = f"{API}/endpoints/{eid}/replay"
        for bad, code in [({}, "REQUIRED"), ({"since": "yesterday"}, "INVALID_TIME"), ({"since": 5}, "REQUIRED")]:
            r = await client.post(replay, json=bad, headers=ada.headers)
            assert (r.status_code, r.json()["errors"][0]["code"]) == (400, code)
        r = await client.post(replay, json={"since": made["created_at"], "failed_only": True}, headers=ada.headers)
        assert r.status_code == 202 and r.json()["queued"] == 1 and r.json()["more"] is False
        await settled(client, box, 9)
        assert box.received[-1].headers["webhook-id"] == made["id"]
        again = (await client.get(f"{API}/endpoints/{eid}/messages", headers=ada.headers)).json()["data"][0]
        assert (again["status"], again["attempts"]) == ("delivered", 9)
        r = await client.post(replay, json={"since": made["created_at"], "failed_only": True}, headers=ada.headers)
        assert r.json()["queued"] == 0  # nothing failed any more


async def test_410_gone_disables_the_endpoint_at_once_and_tells_the_admins(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    clock = FakeClock()
    async with make_client(auth=AUTH, base_url=BASE, webhooks=LOCAL, clock=clock) as client:
        ada = await new_user(client, "ada@example.com")
        await create_org(client, ada, "Acme", slug="acme")
        box = receiver.inbox(410)
        endpoint = await create_endpoint(client, ada, box.url, event_types=["projects.created"])
        await create_project(client, ada, "Apollo")
        await settled(client, box, 1)

        async def disabled() -> bool:
            return (await endpoint_state(client, ada, endpoint["id"]))["enabled"] is False

        await eventually(disabled)
        assert (await endpoint_state(client, ada, endpoint["id"]))["disabled_reason"] == "gone"
        clock.advance(86400)
        assert await nothing_due(client)  # never retried
        await create_project(client, ada, "Later")  # a disabled endpoint gets nothing new
        await runtime(client).outbox.deliver_pending()
        assert len(box.received) == 1
        mails = [m for m in await list_outbox(runtime(client).db, runtime(client).tables, to=ada.email)]
        notices = [m for m in mails if m.template == "webhook_disabled"]
        assert len(notices) == 1 and box.url in notices[0].text and "410 Gone" in notices[0].text


async def test_five_days_of_failures_disable_the_endpoint_and_tell_the_admins(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    clock = FakeClock()
    async with make_client(auth=AUTH, base_url=BASE, webhooks=LOCAL, clock=clock) as client:
        ada = await new_user(client, "ada@example.com")
        await create_org(client, ada, "Acme", slug="acme")
        box = receiver.inbox(*([500] * 20))
        endpoint = await create_endpoint(client, ada, box.url, event_types=["projects.created"])
        eid = endpoint["id"]
        await create_project(client, ada, "Apollo")
        await settled(client, box, 1)
        await next_attempt(client, clock, box, DELAYS[0])
        state = await endpoint_state(client, ada, eid)
        assert state["enabled"] is True and state["failing_since"] is not None
        # The next attempt comes five days after the first failure (as if everything in between failed).
        clock.advance(5 * 86400)
        wake(client)
        await settled(client, box, 3)

        async def disabled() -> bool:
            return (await endpoint_state(client, ada, eid))["enabled"] is False

        await eventually(disabled)
        assert (await endpoint_state(client, ada, eid))["disabled_reason"] == "failing"
        mails = await list_outbox(runtime(client).db, runtime(client).tables, to=ada.email)
        notices = [m for m in mails if m.template == "webhook_disabled"]
        assert len(notices) == 1 and "5 days" in notices[0].text
        # Turned on again by an admin: the streak starts over.
        r = await client.patch(f"{API}/endpoints/{eid}", json={"enabled": True}, headers=ada.headers)
        assert r.json()["failing_since"] is None and r.json()["disabled_reason"] is None
