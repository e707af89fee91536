"""Domain events through the app: written with every change, delivered after the commit to each subscriber."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest
import sqlalchemy as sa

from tenantry.db import TableSet, create_database
from tenantry.db.codecs import utc_now
from tenantry.db.ids import uuid7
from tenantry.db.tables import NAMING_CONVENTION
from tenantry.events import (
    DeliveryWorker,
    DomainEvent,
    Outbox,
    OutboxStore,
    Subscriber,
    events_tables,
    subscriber_name,
)
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


# -- topics and subscribers alone ------------------------------------------------------------------


def _outbox() -> Outbox:
    tables = TableSet(sa.MetaData(naming_convention=NAMING_CONVENTION), "sqlite")
    events_tables(tables, None)  # type: ignore[arg-type]
    return Outbox(create_database("sqlite:///:memory:"), tables)  # never opened: nothing here touches it


def test_topic_patterns() -> None:
    box = _outbox()

    async def a(event: DomainEvent) -> None: ...
    async def b(event: DomainEvent) -> None: ...
    async def c(event: DomainEvent) -> None: ...
    async def mail(event: DomainEvent) -> None: ...

    box.register(Subscriber("a", ("projects.*",), a))
    box.register(Subscriber("b", ("*.deleted",), b))
    stop = box.register(Subscriber("c", ("*",), c))
    box.register(Subscriber("mail", ("$mail.*",), mail, ordering="none"))
    names = lambda topic: [s.name for s in box.subscribers_for(topic)]  # noqa: E731
    assert names("projects.created") == ["a", "c"]
    assert names("projects.deleted") == ["a", "b", "c"]
    assert names("organizations.deleted") == ["b", "c"]
    # A capability's own topics ($…) reach only patterns that name them: '*' never sees a mail.
    assert names("$mail.requested") == ["mail"]
    stop()
    stop()  # twice is harmless
    assert names("users.updated") == []
    with pytest.raises(ValueError, match="registered already"):
        box.register(Subscriber("a", ("x",), a))
    with pytest.raises(ValueError, match="pattern"):
        Subscriber("d", ("",), a)
    with pytest.raises(ValueError, match="ordering"):
        Subscriber("d", ("*",), a, ordering="random")  # type: ignore[arg-type]


def test_subscribe_derives_a_stable_name() -> None:
    async def handler(event: DomainEvent) -> None: ...

    assert subscriber_name(handler, "projects.*") == (
        "tests.events.test_outbox.test_subscribe_derives_a_stable_name.<locals>.handler:projects.*"
    )
    assert subscriber_name(Recorder(), "*") == "tests.events.test_outbox.Recorder:*"
    long = subscriber_name(handler, "x" * 200)
    assert len(long) == 100 and long == subscriber_name(handler, "x" * 200)


def test_the_lease_must_outlast_a_subscriber() -> None:
    async def handler(event: DomainEvent) -> None: ...

    with pytest.raises(ValueError, match="lease"):
        Subscriber("s", ("*",), handler, lease=10, handler_timeout=6)


# -- through the app -----------------------------------------------------------------------------


async def test_every_write_is_one_event_delivered_once_after_commit(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        rt = runtime(client)
        projects, everything = Recorder(), Recorder()
        rt.events.subscribe("projects.*", projects)
        rt.events.subscribe("*", everything)
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
        # Signing up is an event too (``users.created``, written by authentication), then the organization.
        await eventually(lambda: len(everything.events) == 7)
        assert everything.topics[:2] == ["users.created", "organizations.created"]
        assert everything.topics[2:] == projects.topics
        signed_up = everything.events[0]
        assert (signed_up.row_id, signed_up.actor_id, signed_up.org_id) == (ada.id, ada.id, None)
        assert signed_up.data is not None and signed_up.data["email"] == "ada@example.com"
        assert not {"password", "token", "secret"} & {k.lower() for k in signed_up.data}

        # A subscriber has an event before its worker marks it done: wait for the marks.
        async def all_marked() -> bool:
            return all(e["delivered"] for e in await outbox(client))

        await eventually(all_marked)
        stored = await outbox(client)
        assert len(stored) == 7
        # Each subscriber's own delivery, each made once.
        mine = (subscriber_name(projects, "projects.*"), subscriber_name(everything, "*"))
        assert all(set(mine[1:]) | {"realtime"} <= set(e["deliveries"]) for e in stored)
        assert all(mine[0] in e["deliveries"] for e in stored[2:])
        assert not any(mine[0] in e["deliveries"] for e in stored[:2])
        assert {(d["status"], d["attempts"]) for e in stored for d in e["deliveries"].values()} == {("done", 1)}
        assert stored[2]["payload"] == {"data": created, "old": None, "actor_id": ada.id}
        # Nothing is left to deliver, and nothing is delivered twice.
        report = await rt.outbox.deliver_pending()
        assert report.attempted == 0
        await asyncio.sleep(0.1)
        assert len(projects.events) == 5


async def test_a_rolled_back_write_is_never_delivered(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        rt = runtime(client)
        received = Recorder()
        rt.events.subscribe("organizations.*", received)
        ada = await person(client, "ada@example.com", org="acme")
        await eventually(lambda: received.topics == ["organizations.created"])
        dup = await client.post(
            "/api/organizations/bulk",
            json={"bulk": [{"name": "B", "slug": "beta"}, {"name": "C", "slug": "acme"}]},
            headers=ada.headers,
        )
        assert dup.status_code == 409
        await rt.outbox.deliver_pending()
        await asyncio.sleep(0.1)
        assert received.topics == ["organizations.created"]
        assert [e["topic"] for e in await outbox(client)] == ["users.created", "organizations.created"]


def _event(topic: str, org_id: str | None, n: int = 0) -> DomainEvent:
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


async def _write_events(client: httpx.AsyncClient, count: int, topic: str = "things.created") -> list[str]:
    rt = runtime(client)
    ids = []
    async with rt.db.transaction() as conn:
        for n in range(count):
            event = _event(topic, None, n)
            await rt.events.writer.record(conn, event)
            ids.append(event.id)
    return ids


async def _probe(client: httpx.AsyncClient, **options: object) -> Subscriber:
    """A subscriber ``probe`` of ``things.*`` on the app's outbox, its own worker stopped: the test drives delivery."""

    async def never(event: DomainEvent) -> None:
        raise AssertionError("the app's own worker of the probe must not deliver")

    rt = runtime(client)
    subscriber = Subscriber("probe", ("things.*",), never, **options)  # type: ignore[arg-type]
    rt.outbox.register(subscriber)
    await rt.outbox.worker("probe").stop()
    return subscriber


def _worker(store: OutboxStore, subscriber: Subscriber, handler: object, **options: object) -> DeliveryWorker:
    """A worker of ``subscriber`` with another handler: what another process running the same subscriber has."""
    from dataclasses import replace

    return DeliveryWorker(store, replace(subscriber, handler=handler), **options)  # type: ignore[arg-type]


async def test_nothing_is_delivered_before_the_commit(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        rt = runtime(client)
        probe = await _probe(client)
        received = Recorder()
        other_db = create_database(rt.db.url)
        await other_db.open()
        other = _worker(OutboxStore(other_db, rt.outbox.sql), probe, received)
        try:
            async with rt.db.transaction() as conn:
                await rt.events.writer.record(conn, _event("things.created", None))
                # Another connection sees nothing yet (on SQLite it waits for the writer to finish).
                pending = asyncio.create_task(other.deliver_pending())
                await asyncio.sleep(0.3)
                assert received.events == []
            report = await pending
            report2 = await other.deliver_pending()
            assert report.done + report2.done == 1
            assert received.topics == ["things.created"]
        finally:
            await other_db.close()


async def test_two_workers_deliver_each_event_once_and_in_order(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        rt = runtime(client)
        probe = await _probe(client, ordering="global", batch_size=4)
        ids = await _write_events(client, 30)
        merged: list[str] = []  # both "processes" append here: the order events were handed over in
        workers, pools = [], []
        for _ in range(2):  # two "processes": their own pools and workers of the same subscriber
            db = create_database(rt.db.url)
            await db.open()
            pools.append(db)
            seen = Recorder()

            async def handler(event: DomainEvent, seen: Recorder = seen) -> None:
                merged.append(event.id)
                await seen(event)
                await asyncio.sleep(0)

            workers.append((_worker(OutboxStore(db, rt.outbox.sql), probe, handler), seen))
        try:

            async def drain(worker: DeliveryWorker) -> None:
                for _ in range(20):
                    await worker.deliver_pending()
                    await asyncio.sleep(0)

            await asyncio.gather(*(drain(w) for w, _ in workers))
        finally:
            for db in pools:
                await db.close()
        # Each event once, and in written order across both workers (one ordered run at a time).
        assert merged == ids
        for _, seen in workers:
            mine = [e.id for e in seen.events]
            assert mine == sorted(mine, key=ids.index)
        stored = [e for e in await outbox(client) if e["topic"] == "things.created"]
        assert all(e["deliveries"]["probe"]["status"] == "done" for e in stored)


async def test_a_dead_workers_claim_is_taken_over_when_its_lease_runs_out(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        rt = runtime(client)
        probe = await _probe(client, ordering="global", lease=30, handler_timeout=10)
        ids = await _write_events(client, 5)
        now = [utc_now()]

        def clock() -> dt.datetime:
            return now[0]

        live = Recorder()
        dead = _worker(rt.outbox.store, probe, Recorder(), clock=clock)
        alive = _worker(rt.outbox.store, probe, live, clock=clock)

        claim = await dead.store.claim("probe", ordered=True, now=clock(), until=clock() + dead.lease, limit=3)
        assert [c.event.id for c in claim.items] == ids[:3]  # ... and its process dies
        assert (await alive.deliver_pending()).attempted == 0  # its claim is live: order waits for it
        now[0] += dt.timedelta(seconds=31)
        report = await alive.deliver_pending()
        assert report.done == 5 and [e.id for e in live.events] == ids
        stored = [e for e in await outbox(client) if e["topic"] == "things.created"]
        assert [e["deliveries"]["probe"]["attempts"] for e in stored] == [2, 2, 2, 1, 1]
        # The dead worker, back to life, can no longer mark anything.
        assert not await dead.store.mark_done(claim, claim.items[-1], clock(), None)
        assert not await dead.store.mark_retry(claim, claim.items[0], clock(), "late")
        assert await dead.store.renew(claim, clock() + dead.lease) == set()


async def test_a_stopping_worker_hands_back_what_it_has_not_delivered(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        rt = runtime(client)
        probe = await _probe(client, ordering="global")
        ids = await _write_events(client, 3)
        gate, started, got = asyncio.Event(), asyncio.Event(), []

        async def slow(event: DomainEvent) -> None:
            got.append(event.id)
            started.set()
            await gate.wait()

        first = _worker(rt.outbox.store, probe, slow)
        first.start()
        await asyncio.wait_for(started.wait(), 5)
        stopping = asyncio.create_task(first.stop())
        await asyncio.sleep(0.05)
        gate.set()  # the event in hand finishes; the other two are not started
        await stopping
        assert got == ids[:1]
        stored = [e["deliveries"]["probe"] for e in await outbox(client) if e["topic"] == "things.created"]
        assert [(d["status"], d["attempts"]) for d in stored] == [("done", 1), ("pending", 0), ("pending", 0)]
        # Handed back: the next worker takes them at once, without waiting for a lease to run out.
        received = Recorder()
        assert (await _worker(rt.outbox.store, probe, received).deliver_pending()).done == 2
        assert [e.id for e in received.events] == ids[1:]


async def test_a_failing_subscriber_holds_up_nobody(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        rt = runtime(client)
        received = Recorder()

        async def broken(event: DomainEvent) -> None:
            raise RuntimeError("subscriber bug")

        rt.events.subscribe("projects.*", broken)
        rt.events.subscribe("projects.*", received)
        ada = await person(client, "ada@example.com", org="acme")
        await client.post("/api/projects", json={"name": "One"}, headers=ada.headers)
        await client.post("/api/projects", json={"name": "Two"}, headers=ada.headers)
        await eventually(lambda: len(received.events) == 2)
        assert [e.data["name"] for e in received.events] == ["One", "Two"]  # type: ignore[index]
        # The broken subscriber's deliveries keep their error and wait for their retry; the others are done.
        name = subscriber_name(broken, "projects.*")

        async def recorded() -> bool:
            # Every other subscriber's delivery too (webhooks' fan-out may still be in hand when the
            # recorder has its events): what is asserted below is that none of them waits.
            events = [e for e in await outbox(client) if e["topic"] == "projects.created"]
            return len(events) == 2 and all(
                e["deliveries"][name]["last_error"]
                and all(d["status"] == "done" for s, d in e["deliveries"].items() if s != name)
                for e in events
            )

        await eventually(recorded)
        for event in [e for e in await outbox(client) if e["topic"] == "projects.created"]:
            mine = event["deliveries"][name]
            assert mine["status"] == "pending" and mine["attempts"] == 1
            assert mine["last_error"] == "RuntimeError: subscriber bug"
            others = [d for s, d in event["deliveries"].items() if s != name]
            assert others and all(d["status"] == "done" for d in others)
