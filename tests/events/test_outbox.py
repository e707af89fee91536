"""Domain events: written with every change, delivered once, in order, after the commit, to subscribers."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest

from tenantry.db import create_database
from tenantry.db.codecs import utc_now
from tenantry.events import DomainEvent, EventBus, EventDispatcher, Events, EventSQL
from tests.audit.helpers import eventually, outbox, person
from tests.auth.helpers import BASE, NO_VERIFICATION, runtime

SETTINGS = {"auth": NO_VERIFICATION, "base_url": BASE, "TENANTRY_OPEN_API": False}


class Recorder:
    """A subscriber that keeps what it receives."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    async def __call__(self, event: DomainEvent) -> None:
        self.events.append(event)

    @property
    def topics(self) -> list[str]:
        return [e.topic for e in self.events]


# -- the bus alone -------------------------------------------------------------------------------


def test_topic_patterns() -> None:
    bus = EventBus()

    async def a(event: DomainEvent) -> None: ...
    async def b(event: DomainEvent) -> None: ...
    async def c(event: DomainEvent) -> None: ...

    bus.subscribe("projects.*", a)
    bus.subscribe("*.deleted", b)
    stop = bus.subscribe("*", c)
    assert bus.handlers_for("projects.created") == [a, c]
    assert bus.handlers_for("projects.deleted") == [a, b, c]
    assert bus.handlers_for("organizations.deleted") == [b, c]
    stop()
    stop()  # twice is harmless
    assert bus.handlers_for("users.updated") == []
    with pytest.raises(ValueError):
        bus.subscribe("", a)


# -- through the app -----------------------------------------------------------------------------


async def test_every_write_is_one_event_delivered_once_after_commit(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        rt = runtime(client)
        projects, everything = Recorder(), Recorder()
        rt.get(Events).subscribe("projects.*", projects)
        rt.get(Events).subscribe("*", everything)
        ada = await person(client, "ada@example.com", org="acme")

        created = (await client.post("/api/projects", json={"name": "Apollo"}, headers=ada.headers)).json()
        url = f"/api/projects/{created['id']}"
        updated = (await client.patch(url, json={"name": "Artemis"}, headers=ada.headers)).json()
        await client.delete(url, headers=ada.headers)
        bulk = (
            await client.post("/api/projects/bulk", json={"bulk": [{"name": "X"}, {"name": "Y"}]}, headers=ada.headers)
        ).json()

        await eventually(lambda: len(projects.events) == 5)
        assert projects.topics == [
            "projects.created",
            "projects.updated",
            "projects.deleted",
            "projects.created",
            "projects.created",
        ]
        create, update, delete = projects.events[:3]
        assert (create.data, create.old, create.row_id) == (created, None, created["id"])
        assert (update.data, update.old) == (updated, created)
        assert (delete.data, delete.old) == (updated, None)
        assert [e.data["id"] for e in projects.events[3:]] == [p["id"] for p in bulk]  # type: ignore[index]
        assert {(e.org_id, e.actor_id, e.entity) for e in projects.events} == {(ada.org_id, ada.id, "projects")}
        assert [e.id for e in projects.events] == sorted(e.id for e in projects.events)  # in written order
        assert everything.topics[0] == "organizations.created" and everything.topics[1:] == projects.topics

        # A subscriber has an event before the dispatcher marks it published: wait for the marks.
        async def all_marked() -> bool:
            return all(e["published_at"] is not None for e in await outbox(client))

        await eventually(all_marked)
        stored = await outbox(client)
        assert len(stored) == 6 and all(e["attempts"] == 1 for e in stored)
        assert stored[1]["payload"] == {"data": created, "old": None, "actor_id": ada.id}
        # Nothing is left to deliver, and nothing is delivered twice.
        report = await rt.get(Events).dispatcher.deliver_pending()
        assert report.delivered == 0
        await asyncio.sleep(0.1)
        assert len(projects.events) == 5


async def test_a_rolled_back_write_is_never_delivered(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        rt = runtime(client)
        received = Recorder()
        rt.get(Events).subscribe("organizations.*", received)
        ada = await person(client, "ada@example.com", org="acme")
        await eventually(lambda: received.topics == ["organizations.created"])
        dup = await client.post(
            "/api/organizations/bulk",
            json={"bulk": [{"name": "B", "slug": "beta"}, {"name": "C", "slug": "acme"}]},
            headers=ada.headers,
        )
        assert dup.status_code == 409
        await rt.get(Events).dispatcher.deliver_pending()
        await asyncio.sleep(0.1)
        assert received.topics == ["organizations.created"]
        assert [e["topic"] for e in await outbox(client)] == ["organizations.created"]


async def test_nothing_is_delivered_before_the_commit(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        rt = runtime(client)
        await rt.get(Events).dispatcher.stop()  # this test drives delivery itself
        received = Recorder()
        rt.get(Events).subscribe("*", received)
        ada = await person(client, "ada@example.com", org="acme")
        await rt.get(Events).dispatcher.deliver_pending()
        received.events.clear()
        other = EventDispatcher(create_database(rt.db.url), rt.get(Events).sql, rt.get(Events).bus)
        await other.db.open()
        try:
            async with rt.db.transaction() as conn:
                await rt.get(Events).writer.record(conn, _event("projects.created", ada.org_id))
                # Another connection sees nothing yet (on SQLite it waits for the writer to finish).
                pending = asyncio.create_task(other.deliver_pending())
                await asyncio.sleep(0.3)
                assert received.events == []
            report = await pending
            report2 = await other.deliver_pending()
            assert report.delivered + report2.delivered == 1
            assert received.topics == ["projects.created"]
        finally:
            await other.db.close()


def _event(topic: str, org_id: str | None, n: int = 0) -> DomainEvent:
    from tenantry.db.ids import uuid7

    return DomainEvent(
        id=str(uuid7()),
        topic=topic,
        entity=topic.split(".")[0],
        row_id=str(n),
        org_id=org_id,
        data={"n": n},
        old=None,
        actor_id=None,
        created_at=utc_now(),
    )


async def _write_events(client: httpx.AsyncClient, count: int) -> list[str]:
    rt = runtime(client)
    ids = []
    async with rt.db.transaction() as conn:
        for n in range(count):
            event = _event("things.created", None, n)
            await rt.get(Events).writer.record(conn, event)
            ids.append(event.id)
    return ids


async def test_two_dispatchers_deliver_each_event_once_and_in_order(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        rt = runtime(client)
        await rt.get(Events).dispatcher.stop()
        ids = await _write_events(client, 30)
        workers = []
        for _ in range(2):  # two "processes": their own pools, buses and subscribers
            db = create_database(rt.db.url)
            await db.open()
            bus, seen = EventBus(), Recorder()
            bus.subscribe("*", seen)
            workers.append((db, EventDispatcher(db, EventSQL(rt.tables, rt.pipeline.sql), bus, batch_size=4), seen))
        try:

            async def drain(dispatcher: EventDispatcher) -> None:
                for _ in range(20):
                    await dispatcher.deliver_pending()
                    await asyncio.sleep(0)

            await asyncio.gather(*(drain(d) for _, d, _ in workers))
        finally:
            for db, _, _ in workers:
                await db.close()
        delivered = [e.id for _, _, seen in workers for e in seen.events]
        assert sorted(delivered) == sorted(ids) and len(delivered) == len(set(delivered))
        for _, _, seen in workers:
            mine = [e.id for e in seen.events]
            assert mine == sorted(mine, key=ids.index)
        assert all(e["published_at"] is not None for e in await outbox(client))


async def test_a_dead_dispatchers_claim_is_taken_over_when_its_lease_runs_out(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        rt = runtime(client)
        await rt.get(Events).dispatcher.stop()
        ids = await _write_events(client, 5)
        now = [utc_now()]

        def clock() -> dt.datetime:
            return now[0]

        sql = rt.get(Events).sql
        dead_bus, live_bus, live = EventBus(), EventBus(), Recorder()
        live_bus.subscribe("*", live)
        dead = EventDispatcher(rt.db, sql, dead_bus, clock=clock, lease=30, batch_size=3)
        alive = EventDispatcher(rt.db, sql, live_bus, clock=clock, lease=30, batch_size=10)

        claim_id, taken = await dead.claim()  # ... and its process dies
        assert [e.id for e in taken] == ids[:3]
        assert (await alive.deliver_pending()).delivered == 0  # its claim is live: order waits for it
        now[0] += dt.timedelta(seconds=31)
        report = await alive.deliver_pending()
        assert report.delivered == 5 and [e.id for e in live.events] == ids
        stored = await outbox(client)
        assert [e["attempts"] for e in stored] == [2, 2, 2, 1, 1]
        # The dead dispatcher, back to life, can no longer mark anything.
        assert not await dead._publish(claim_id, taken[-1])


async def test_a_stopping_dispatcher_hands_back_what_it_has_not_delivered(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        rt = runtime(client)
        await rt.get(Events).dispatcher.stop()
        ids = await _write_events(client, 3)
        gate, started, got = asyncio.Event(), asyncio.Event(), []

        async def slow(event: DomainEvent) -> None:
            got.append(event.id)
            started.set()
            await gate.wait()

        bus = EventBus()
        bus.subscribe("*", slow)
        first = EventDispatcher(rt.db, rt.get(Events).sql, bus)
        first.start()
        await asyncio.wait_for(started.wait(), 5)
        stopping = asyncio.create_task(first.stop())
        await asyncio.sleep(0.05)
        gate.set()  # the event in hand finishes; the other two are not started
        await stopping
        assert got == ids[:1]
        assert [e["published_at"] is not None for e in await outbox(client)] == [True, False, False]
        # Handed back: the next dispatcher takes them at once, without waiting for a lease to run out.
        nxt, received = EventBus(), Recorder()
        nxt.subscribe("*", received)
        assert (await EventDispatcher(rt.db, rt.get(Events).sql, nxt).deliver_pending()).delivered == 2
        assert [e.id for e in received.events] == ids[1:]


async def test_a_failing_subscriber_holds_up_nobody(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        rt = runtime(client)
        received = Recorder()

        async def broken(event: DomainEvent) -> None:
            raise RuntimeError("subscriber bug")

        rt.get(Events).subscribe("projects.*", broken)
        rt.get(Events).subscribe("projects.*", received)
        ada = await person(client, "ada@example.com", org="acme")
        await client.post("/api/projects", json={"name": "One"}, headers=ada.headers)
        await client.post("/api/projects", json={"name": "Two"}, headers=ada.headers)
        await eventually(lambda: len(received.events) == 2)
        assert [e.data["name"] for e in received.events] == ["One", "Two"]  # type: ignore[index]
        await eventually(lambda: _published(client, "projects.created", 2))
        failed = [e for e in await outbox(client) if e["topic"] == "projects.created"]
        assert all("RuntimeError: subscriber bug" in (e["last_error"] or "") for e in failed)


async def _published(client: httpx.AsyncClient, topic: str, count: int) -> bool:
    return len([e for e in await outbox(client) if e["topic"] == topic and e["published_at"] is not None]) == count


async def test_published_events_can_be_pruned(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        rt = runtime(client)
        await rt.get(Events).dispatcher.stop()
        await _write_events(client, 3)
        dispatcher = rt.get(Events).dispatcher
        assert await dispatcher.prune(dt.timedelta(0)) == 0  # unpublished events are never pruned
        await dispatcher.deliver_pending()
        assert await dispatcher.prune(dt.timedelta(hours=1)) == 0
        await asyncio.sleep(0.01)
        assert await dispatcher.prune(dt.timedelta(0)) == 3
        assert await outbox(client) == []


def test_the_lease_must_outlast_a_subscriber() -> None:
    with pytest.raises(ValueError):
        EventDispatcher(None, None, EventBus(), lease=10, handler_timeout=6)  # type: ignore[arg-type]
