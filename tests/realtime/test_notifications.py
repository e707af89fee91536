"""Stored notifications: the notify API and ``/api/notifications``, on both databases."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import redis

from tenantry.auth import AuthSettings
from tenantry.errors import ApiError
from tenantry.events import DomainEvent
from tenantry.realtime import Realtime, RealtimeSettings
from tests.audit.helpers import eventually
from tests.auth.helpers import BASE, ORIGIN, runtime
from tests.auth.test_rate_limit_processes import REDIS_URL
from tests.conftest import ClientFactory, require_service
from tests.tenancy.helpers import User, create_org, join, new_user

AUTH = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_RATE_LIMIT="off")


async def notify(client: httpx.AsyncClient, user: User, title: str, **extra: Any) -> dict[str, Any] | None:
    realtime = runtime(client).get(Realtime)
    return await realtime.notify_user(user.id, type="test", title=title, message=f"{title}!", **extra)


async def get(client: httpx.AsyncClient, user: User | None, path: str, **params: Any) -> httpx.Response:
    headers = user.headers if user is not None else ORIGIN
    return await client.get(path, params=params, headers=headers)


async def post(client: httpx.AsyncClient, user: User | None, path: str) -> httpx.Response:
    headers = user.headers if user is not None else ORIGIN
    return await client.post(path, headers=headers)


async def test_a_user_reads_only_their_own_notifications_newest_first(make_client: ClientFactory) -> None:
    async with make_client(auth=AUTH, base_url=BASE) as client:
        alice = await new_user(client, "alice@example.com")
        bob = await new_user(client, "bob@example.com")
        for n in range(5):
            await notify(client, alice, f"A{n}")
        await notify(client, bob, "B0")
        r = await get(client, alice, "/api/notifications", limit=2, page=2)
        assert r.status_code == 200, r.text
        page = r.json()
        assert [n["title"] for n in page["data"]] == ["A2", "A1"]
        assert (page["count"], page["total"], page["page"], page["pageCount"], page["unread"]) == (2, 5, 2, 3, 5)
        first = page["data"][0]
        assert first["user_id"] == alice.id and first["type"] == "test" and first["message"] == "A2!"
        assert first["read"] is False and first["read_at"] is None and first["created_at"].endswith("Z")
        everything = (await get(client, bob, "/api/notifications")).json()
        assert [n["title"] for n in everything["data"]] == ["B0"]


async def test_marking_read_one_and_all_and_the_unread_count(make_client: ClientFactory) -> None:
    async with make_client(auth=AUTH, base_url=BASE) as client:
        alice = await new_user(client, "alice@example.com")
        bob = await new_user(client, "bob@example.com")
        notes = [await notify(client, alice, f"A{n}") for n in range(3)]
        bobs = await notify(client, bob, "B0")
        assert all(notes) and bobs is not None
        assert (await get(client, alice, "/api/notifications/unread-count")).json() == {"count": 3}
        target = notes[1]
        assert target is not None
        r = await post(client, alice, f"/api/notifications/{target['id']}/read")
        assert r.status_code == 200 and r.json() == {"id": target["id"], "read": True}
        # Again: still fine (it is read); someone else's or an unknown id: not found, alike.
        assert (await post(client, alice, f"/api/notifications/{target['id']}/read")).status_code == 200
        for path in (f"/api/notifications/{bobs['id']}/read", f"/api/notifications/{uuid.uuid4()}/read"):
            r = await post(client, alice, path)
            assert r.status_code == 404 and r.json()["code"] == "NOTIFICATION_NOT_FOUND", r.text
        r = await post(client, alice, "/api/notifications/not-an-id/read")
        assert r.status_code == 404 and r.json()["code"] == "NOTIFICATION_NOT_FOUND"
        assert (await get(client, alice, "/api/notifications/unread-count")).json() == {"count": 2}
        unread = (await get(client, alice, "/api/notifications", unread="true")).json()
        assert [n["title"] for n in unread["data"]] == ["A2", "A0"] and unread["total"] == 2
        listed = (await get(client, alice, "/api/notifications")).json()["data"]
        assert [n["read"] for n in listed] == [False, True, False] and listed[1]["read_at"].endswith("Z")
        assert (await post(client, alice, "/api/notifications/read-all")).json() == {"updated": 2}
        assert (await get(client, alice, "/api/notifications/unread-count")).json() == {"count": 0}
        # Bob's stays unread.
        assert (await get(client, bob, "/api/notifications/unread-count")).json() == {"count": 1}


async def test_signed_out_callers_and_bad_queries_get_clear_errors(make_client: ClientFactory) -> None:
    async with make_client(auth=AUTH, base_url=BASE) as client:
        alice = await new_user(client, "alice@example.com")
        for path in ("/api/notifications", "/api/notifications/unread-count"):
            r = await get(client, None, path)
            assert r.status_code == 401 and r.json()["code"] == "UNAUTHORIZED", r.text
        r = await post(client, None, "/api/notifications/read-all")
        assert r.status_code == 401
        for params in ({"limit": "0"}, {"limit": "101"}, {"page": "x"}, {"unread": "maybe"}, {"page": "-1"}):
            r = await get(client, alice, "/api/notifications", **params)
            assert r.status_code == 400 and r.json()["code"] == "INVALID_QUERY", (params, r.text)


async def test_notify_is_idempotent_by_key_and_validated(make_client: ClientFactory) -> None:
    async with make_client(auth=AUTH, base_url=BASE) as client:
        alice = await new_user(client, "alice@example.com")
        assert await notify(client, alice, "Once", dedupe_key="event-1") is not None
        assert await notify(client, alice, "Once", dedupe_key="event-1") is None
        assert await notify(client, alice, "Other key", dedupe_key="event-2") is not None
        assert (await get(client, alice, "/api/notifications")).json()["total"] == 2
        for bad in ({"title": ""}, {"title": "x" * 256}, {"type": ""}):
            with pytest.raises(ApiError) as caught:
                realtime = runtime(client).get(Realtime)
                await realtime.notify_user(alice.id, **{"type": "t", "title": "t", "message": ""} | bad)
            assert caught.value.code == "INVALID_NOTIFICATION"


async def test_a_rolled_back_notification_is_neither_stored_nor_announced(make_client: ClientFactory) -> None:
    async with make_client(auth=AUTH, base_url=BASE) as client:
        alice = await new_user(client, "alice@example.com")
        rt = runtime(client)
        heard: list[DomainEvent] = []

        async def listen(event: DomainEvent) -> None:
            heard.append(event)

        rt.events.subscribe("notifications.*", listen)
        with pytest.raises(RuntimeError):
            async with rt.db.transaction() as conn:
                await rt.get(Realtime).notify_user(alice.id, type="t", title="Lost", message="", conn=conn)
                raise RuntimeError("the caller's transaction fails")
        kept = await rt.get(Realtime).notify_user(alice.id, type="t", title="Kept", message="")
        await rt.outbox.deliver_pending()
        await eventually(lambda: heard)  # by this pass, or by the app's own worker of the subscriber
        await rt.outbox.deliver_pending()
        assert [e.data["title"] for e in heard if e.data] == ["Kept"]
        assert kept is not None and heard[0].row_id == kept["id"]
        assert [n["title"] for n in (await get(client, alice, "/api/notifications")).json()["data"]] == ["Kept"]


async def test_notify_org_reaches_every_member_once(make_client: ClientFactory) -> None:
    async with make_client(auth=AUTH, base_url=BASE) as client:
        alice = await new_user(client, "alice@example.com")
        bob = await new_user(client, "bob@example.com")
        carol = await new_user(client, "carol@example.com")
        org = await create_org(client, alice, "Acme", slug="acme")
        await join(client, alice, org, bob, "member")
        sent = (
            await runtime(client)
            .get(Realtime)
            .notify_org(org["id"], type="maintenance", title="Downtime tonight", message="From 22:00", dedupe_key="m-1")
        )
        assert sorted(n["user_id"] for n in sent) == sorted([alice.id, bob.id])
        assert all(n["org_id"] == org["id"] for n in sent)
        again = (
            await runtime(client)
            .get(Realtime)
            .notify_org(org["id"], type="maintenance", title="Downtime tonight", message="From 22:00", dedupe_key="m-1")
        )
        assert again == []
        for user, count in ((alice, 1), (bob, 1), (carol, 0)):
            assert (await get(client, user, "/api/notifications/unread-count")).json() == {"count": count}


async def test_a_node_with_redis_and_no_socket_yet_still_pushes(make_client: ClientFactory) -> None:
    """Pushes wait for the node's Redis listener (held while it is not subscribed): it must run from
    the start, not from the first socket's handshake, or a node nobody connected to would hold them."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        require_service("Redis", f"cannot reach {REDIS_URL}: {exc}")
    realtime = RealtimeSettings(TENANTRY_REALTIME_CHANNEL=f"tenantry-test-{uuid.uuid4().hex}")
    async with make_client(auth=AUTH, base_url=BASE, REDIS_URL=REDIS_URL, realtime=realtime) as client:
        alice = await new_user(client, "alice@example.com")
        await notify(client, alice, "Pushed")
        rt = runtime(client)

        async def delivered() -> bool:
            async with rt.db.connection() as conn:
                rows = await conn.fetch("SELECT status FROM outbox_deliveries WHERE subscriber = 'realtime'")
            return bool(rows) and {r[0] for r in rows} == {"done"}

        await eventually(delivered)
