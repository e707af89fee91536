"""Deliveries to a live receiver: signatures verified by the official libraries, payloads, isolation, order.

Both databases; the receiver is a real HTTP server (``receiver.py``) and every request goes over a
real socket through the app's own delivery path (outbox, fan-out, signing, httpx).
"""

from __future__ import annotations

from typing import Any

import orjson
import svix.webhooks
from standardwebhooks.webhooks import Webhook

from tests.audit.helpers import eventually
from tests.auth.helpers import BASE
from tests.conftest import ClientFactory
from tests.tenancy.helpers import create_org, join, new_user
from tests.webhooks.helpers import API, AUTH, LOCAL, create_endpoint, create_project, webhooks
from tests.webhooks.receiver import Inbox, Received, Receiver


def verified(received: Received, secret: str) -> dict[str, Any]:
    """The payload, once both the Standard Webhooks and the Svix library accepted its signature."""
    svix.webhooks.Webhook(secret).verify(received.body, received.headers)
    payload: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    return payload


async def arrived(inbox: Inbox, count: int, within: float = 5.0) -> list[Received]:
    await eventually(lambda: len(inbox.received) >= count, within)
    return inbox.received


async def test_signed_payloads_reach_each_organization_s_own_endpoints_only(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    async with make_client(auth=AUTH, base_url=BASE, webhooks=LOCAL) as client:
        ada = await new_user(client, "ada@example.com")
        acme = await create_org(client, ada, "Acme", slug="acme")
        bob = await new_user(client, "bob@example.com")
        await create_org(client, bob, "Beta", slug="beta")
        acme_box, beta_box, narrow_box = receiver.inbox(), receiver.inbox(), receiver.inbox()
        acme_ep = await create_endpoint(client, ada, acme_box.url)
        beta_ep = await create_endpoint(client, bob, beta_box.url)
        narrow = await create_endpoint(client, ada, narrow_box.url, event_types=["projects.deleted"])

        project = await create_project(client, ada, "Apollo")
        r = await client.patch(f"/api/projects/{project['id']}", json={"name": "Artemis"}, headers=ada.headers)
        assert r.status_code == 200
        await create_project(client, bob, "Bravo")
        mia = await new_user(client, "mia@example.com")
        await join(client, ada, acme, mia, "member")
        assert (await client.delete(f"/api/projects/{project['id']}", headers=ada.headers)).status_code == 200

        # Acme's endpoint: every Acme event in order (the membership's invitation, acceptance, member),
        # signed with its own secret; none of Beta's.
        await eventually(lambda: any(b"projects.deleted" in m.body for m in acme_box.received))
        payloads = [verified(m, acme_ep["secret"]) for m in acme_box.received]
        types = [p["type"] for p in payloads]
        assert types[:2] == ["projects.created", "projects.updated"] and types[-1] == "projects.deleted"
        assert "members.created" in types and "invitations.created" in types
        created, updated = payloads[0], payloads[1]
        assert created["data"]["name"] == "Apollo" and created["data"]["org_id"] == acme["id"]
        assert created["timestamp"].endswith("Z")
        assert updated["data"]["name"] == "Artemis" and updated["previous"] == {"name": "Apollo"} | {
            k: v for k, v in updated["previous"].items() if k != "name"
        }
        assert "Bravo" not in str(payloads) and "beta" not in str(payloads).lower()
        ids = [m.headers["webhook-id"] for m in acme_box.received]
        assert len(set(ids)) == len(ids) and all(i.startswith("msg_") for i in ids)
        # Beta's endpoint: Beta's project only.
        beta = [verified(m, beta_ep["secret"]) for m in await arrived(beta_box, 1)]
        assert [p["type"] for p in beta] == ["projects.created"] and beta[0]["data"]["name"] == "Bravo"
        # Another endpoint's secret does not verify.
        try:
            Webhook(beta_ep["secret"]).verify(acme_box.received[0].body, acme_box.received[0].headers)
        except Exception as exc:
            assert "signature" in str(exc).lower()
        else:
            raise AssertionError("a message verified with another endpoint's secret")
        # The narrow endpoint asked for deletions only.
        narrow_payloads = [verified(m, narrow["secret"]) for m in await arrived(narrow_box, 1)]
        assert [p["type"] for p in narrow_payloads] == ["projects.deleted"]

        # Messages and attempts are listed for admins.
        listing = f"{API}/endpoints/{acme_ep['id']}/messages"

        async def all_delivered() -> bool:
            found = (await client.get(listing, headers=ada.headers)).json()["data"]
            return all(m["status"] == "delivered" and m["attempts"] == 1 for m in found)

        await eventually(all_delivered)  # the outcome is recorded just after the receiver answered
        messages = (await client.get(listing, headers=ada.headers)).json()
        assert len(messages["data"]) == len(acme_box.received)
        first = messages["data"][-1]
        attempts = (
            await client.get(f"{API}/endpoints/{acme_ep['id']}/messages/{first['id']}/attempts", headers=ada.headers)
        ).json()["data"]
        assert [(a["status"], a["response_status"]) for a in attempts] == [("succeeded", 204)]
        r = await client.get(f"{API}/endpoints/{acme_ep['id']}/messages", headers=bob.headers)
        assert r.status_code == 404


async def test_a_rotated_secret_signs_beside_the_new_one(make_client: ClientFactory, receiver: Receiver) -> None:
    async with make_client(auth=AUTH, base_url=BASE, webhooks=LOCAL) as client:
        ada = await new_user(client, "ada@example.com")
        await create_org(client, ada, "Acme", slug="acme")
        box = receiver.inbox()
        endpoint = await create_endpoint(client, ada, box.url, event_types=["projects.created"])
        rotated = (await client.post(f"{API}/endpoints/{endpoint['id']}/rotate-secret", headers=ada.headers)).json()
        await create_project(client, ada, "Apollo")
        (message,) = await arrived(box, 1)
        assert len(message.headers["webhook-signature"].split(" ")) == 2
        assert verified(message, rotated["secret"]) == verified(message, endpoint["secret"])


async def test_the_address_is_checked_again_when_connecting(make_client: ClientFactory, receiver: Receiver) -> None:
    async with make_client(auth=AUTH, base_url=BASE, webhooks=LOCAL) as client:
        ada = await new_user(client, "ada@example.com")
        await create_org(client, ada, "Acme", slug="acme")
        box = receiver.inbox()
        endpoint = await create_endpoint(client, ada, box.url, event_types=["projects.created"])
        # As if the address had been allowed when registered (or its name now resolved elsewhere).
        webhooks(client).sender.allow_private = False
        await create_project(client, ada, "Apollo")
        path = f"{API}/endpoints/{endpoint['id']}/attempts"

        async def refused() -> bool:
            data = (await client.get(path, headers=ada.headers)).json()["data"]
            return bool(data) and "loopback" in (data[0]["error"] or "")

        await eventually(refused)
        assert box.received == []


async def test_a_slow_endpoint_holds_up_no_other(make_client: ClientFactory, receiver: Receiver) -> None:
    async with make_client(auth=AUTH, base_url=BASE, webhooks=LOCAL) as client:
        ada = await new_user(client, "ada@example.com")
        await create_org(client, ada, "Acme", slug="acme")
        slow, fast = receiver.inbox(held=True), receiver.inbox()
        await create_endpoint(client, ada, slow.url, event_types=["projects.created"])
        await create_endpoint(client, ada, fast.url, event_types=["projects.created"])
        await create_project(client, ada, "One")
        await arrived(fast, 1)
        await create_project(client, ada, "Two")
        await arrived(fast, 2)
        # Both reached the fast endpoint while the slow one still holds the first request open.
        assert slow.received == []
        assert slow.gate is not None
        slow.gate.set()
        names = [orjson.loads(m.body)["data"]["name"] for m in await arrived(slow, 2)]
        assert names == ["One", "Two"]  # and the slow one got them in order
