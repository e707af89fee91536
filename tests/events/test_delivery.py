"""The outbox's delivery guarantees, on SQLite and PostgreSQL: retries in order, crashes, races, isolation, pruning."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest

from tenantry.db.codecs import utc_now
from tenantry.events import (
    DeliveryDeferred,
    DeliveryFailure,
    DeliveryWorker,
    DomainEvent,
    Outbox,
    OutboxSettings,
    PermanentDeliveryError,
    RetryPolicy,
    Subscriber,
)
from tests.clock import FakeClock
from tests.events.conftest import SCHEMA, OutboxEnv, event

QUICK = RetryPolicy(delays=(1,), max_attempts=8, jitter=0)


class Recorder:
    """A handler keeping what it received, failing the first ``failures[event id]`` attempts of chosen events."""

    def __init__(self, failures: dict[str, int] | None = None) -> None:
        self.failures = dict(failures or {})
        self.calls: list[str] = []
        self.received: list[str] = []

    async def __call__(self, event: DomainEvent) -> str:
        self.calls.append(event.id)
        if self.failures.get(event.id, 0) > 0:
            self.failures[event.id] -= 1
            raise RuntimeError(f"failing on {event.row_id}")
        self.received.append(event.id)
        return f"ok-{event.row_id}"


async def eventually(check: object, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# -- retries, in order per aggregate ----------------------------------------------------------------


async def test_fails_three_times_then_succeeds_once_in_order_per_aggregate(outbox_env: OutboxEnv) -> None:
    env, clock = outbox_env, outbox_env.clock
    a1, a2, b1, a3 = event(row_id="a"), event(row_id="a"), event(row_id="b"), event(row_id="a")
    handler = Recorder(failures={a1.id: 3})
    env.outbox.register(Subscriber("webhook", ("projects.*",), handler, retry=QUICK))
    await env.publish(a1, a2, b1, a3)
    worker = env.outbox.worker("webhook")

    # a1 fails; the rest of aggregate a waits behind it, aggregate b goes on.
    report = await worker.deliver_pending()
    assert (report.done, report.retrying) == (1, 1)
    assert handler.received == [b1.id]
    for attempt in (2, 3):
        assert (await worker.deliver_pending()).attempted == 0  # inside the backoff: nothing of a is due
        clock.advance(1)
        assert (await worker.deliver_pending()).retrying == 1
        assert handler.calls.count(a2.id) == 0, "a later event of the aggregate overtook a failing one"
        assert (await env.deliveries("webhook"))[a1.id] == ("pending", attempt, "RuntimeError: failing on a")
    clock.advance(1)
    assert (await worker.deliver_pending()).done == 3
    # Received once, successfully, and in order within the aggregate.
    assert handler.received == [b1.id, a1.id, a2.id, a3.id]
    assert handler.calls.count(a1.id) == 4 and handler.calls.count(a2.id) == 1
    rows = await env.rows(
        "SELECT event_id, status, attempts, result, last_error FROM outbox_deliveries ORDER BY event_id"
    )
    assert [(str(r[0]), r[1], r[2], r[3], r[4]) for r in rows] == [
        (a1.id, "done", 4, "ok-a", None),
        (a2.id, "done", 1, "ok-a", None),  # handed back while a1 waited: its attempt never counted
        (b1.id, "done", 1, "ok-b", None),
        (a3.id, "done", 1, "ok-a", None),
    ]
    clock.advance(3600)
    assert (await worker.deliver_pending()).attempted == 0


async def test_nothing_failing_one_at_a_time_is_event_order_across_aggregates(outbox_env: OutboxEnv) -> None:
    env = outbox_env
    events = [event(row_id=row) for row in "abacb"]
    handler = Recorder()
    env.outbox.register(Subscriber("webhook", ("projects.*",), handler))  # aggregate ordering, concurrency 1
    await env.publish(*events)
    assert (await env.outbox.worker("webhook").deliver_pending()).done == 5
    assert handler.received == [e.id for e in events]


async def test_a_dead_delivery_stops_holding_its_group_back(outbox_env: OutboxEnv) -> None:
    env, clock = outbox_env, outbox_env.clock
    a1, a2 = event(row_id="a"), event(row_id="a")
    handler = Recorder(failures={a1.id: 100})
    retry = RetryPolicy(delays=(1,), max_attempts=2, jitter=0)
    env.outbox.register(Subscriber("webhook", ("projects.*",), handler, retry=retry))
    await env.publish(a1, a2)
    worker = env.outbox.worker("webhook")
    assert (await worker.deliver_pending()).retrying == 1
    clock.advance(1)
    report = await worker.deliver_pending()
    assert (report.failed, report.done) == (1, 1)  # a1 given up; a2 no longer waits
    assert handler.received == [a2.id]
    status, attempts, error = (await env.deliveries("webhook"))[a1.id]
    assert (status, attempts) == ("failed", 2) and error == "gave up after 2 attempts: RuntimeError: failing on a"


async def test_global_order_waits_for_a_retry_and_a_permanent_error_is_not_retried(outbox_env: OutboxEnv) -> None:
    env, clock = outbox_env, outbox_env.clock
    first, second, third = event(row_id="1"), event(row_id="2"), event(row_id="3")
    handler = Recorder(failures={first.id: 1})

    async def rejecting(event: DomainEvent) -> None:
        raise PermanentDeliveryError("never")

    env.outbox.register(Subscriber("feed", ("projects.*",), handler, ordering="global", retry=QUICK))
    env.outbox.register(Subscriber("dead-end", ("projects.*",), rejecting, ordering="none", retry=QUICK))
    await env.publish(first, second, third)
    assert (await env.outbox.worker("feed").deliver_pending()).retrying == 1
    assert handler.received == []  # every event waits behind the first, whatever its row
    report = await env.outbox.worker("dead-end").deliver_pending()
    assert report.failed == 3  # not retried, and no business of the other subscriber
    clock.advance(1)
    assert (await env.outbox.worker("feed").deliver_pending()).done == 3
    assert handler.received == [first.id, second.id, third.id]
    assert {v[:2] for v in (await env.deliveries("dead-end")).values()} == {("failed", 1)}


async def test_a_deferred_delivery_waits_in_order_and_never_spends_its_attempts(outbox_env: OutboxEnv) -> None:
    env, clock = outbox_env, outbox_env.clock
    first, second = event(row_id="1"), event(row_id="2")
    told: list[DeliveryFailure] = []
    env.outbox.failure_listeners.append(told.append)
    away = {"for": 5}
    received: list[str] = []

    async def push(event: DomainEvent) -> None:
        if away["for"] > 0:
            away["for"] -= 1
            raise DeliveryDeferred("Redis is away", retry_after=2)
        received.append(event.id)

    # Two attempts at most: five deferrals would have given up twice over had they counted.
    retry = RetryPolicy(delays=(1,), max_attempts=2, jitter=0)
    env.outbox.register(Subscriber("pushes", ("projects.*",), push, ordering="global", retry=retry))
    await env.publish(first, second)
    worker = env.outbox.worker("pushes")
    for _ in range(5):
        report = await worker.deliver_pending()
        assert (report.retrying, report.done) == (1, 0)  # the second waits behind the first
        assert (await worker.deliver_pending()).attempted == 0  # not due before retry_after
        clock.advance(2)
    assert (await env.deliveries("pushes"))[first.id] == ("pending", 0, "deferred: Redis is away")
    assert (await worker.deliver_pending()).done == 2
    assert received == [first.id, second.id]
    assert {v[:2] for v in (await env.deliveries("pushes")).values()} == {("done", 1)}
    assert told == []  # a deferral is no failure: error tracking hears nothing


# -- crashes ----------------------------------------------------------------------------------------

KILLED_WORKER = """
import asyncio, os, pathlib, sys
from tenantry.db import build_metadata, create_database, dialect_of
from tenantry.events import Outbox, Subscriber, events_tables
from tenantry.schema import load_schema_text

url, marker, schema = sys.argv[1:4]

async def main() -> None:
    tables = build_metadata(load_schema_text(schema, "outbox.yaml"), dialect_of(url), [events_tables])
    db = create_database(url)
    await db.open()
    outbox = Outbox(db, tables)

    async def handler(event):
        pathlib.Path(marker + ".tmp").write_text(event.id)
        os.replace(marker + ".tmp", marker)  # whole, or not there: the test reads it as soon as it exists
        await asyncio.sleep(3600)  # SIGKILLed here, mid-delivery

    outbox.register(Subscriber("webhook", ("projects.*",), handler, lease=60, handler_timeout=30))
    await outbox.worker("webhook").deliver_pending()

asyncio.run(main())
"""


async def test_a_delivery_of_a_killed_process_is_redelivered_after_its_lease(
    outbox_env: OutboxEnv, tmp_path: Path
) -> None:
    env = outbox_env
    handler = Recorder()
    subscriber = Subscriber("webhook", ("projects.*",), handler, lease=60, handler_timeout=30)
    env.outbox.register(subscriber)
    [published] = [event(row_id="x")]
    await env.publish(published)

    marker = tmp_path / "delivering"
    env_vars = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        KILLED_WORKER,
        env.url,
        str(marker),
        SCHEMA,
        env=env_vars,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            if proc.returncode is not None:
                output = await proc.stdout.read() if proc.stdout else b""
                raise AssertionError(f"the worker process exited: {output.decode()}")
            assert time.monotonic() < deadline, "the worker process never started delivering"
            await asyncio.sleep(0.05)
        assert marker.read_text() == published.id
    finally:
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 30)
    assert proc.returncode == -signal.SIGKILL

    # Its claim holds until the lease runs out: nobody else delivers meanwhile.
    here = DeliveryWorker(env.store(), subscriber, clock=utc_now)
    assert (await here.deliver_pending()).attempted == 0
    assert (await env.deliveries("webhook"))[published.id][:2] == ("pending", 1)
    lease = dt.timedelta(seconds=subscriber.lease + 1)
    later = DeliveryWorker(env.store(), subscriber, clock=lambda: utc_now() + lease)
    assert (await later.deliver_pending()).done == 1
    assert handler.received == [published.id]
    assert (await env.deliveries("webhook"))[published.id] == ("done", 2, None)


# -- concurrency ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("ordering", ["none", "aggregate", "global"])
async def test_two_processes_never_deliver_one_event_at_the_same_time(outbox_env: OutboxEnv, ordering: str) -> None:
    env = outbox_env
    in_flight: set[str] = set()
    overlaps: list[str] = []
    delivered: list[DomainEvent] = []

    async def handler(event: DomainEvent) -> None:
        if event.id in in_flight:
            overlaps.append(event.id)
        in_flight.add(event.id)
        await asyncio.sleep(0.003)  # a real await inside every delivery, so the two workers interleave
        in_flight.discard(event.id)
        delivered.append(event)

    subscriber = Subscriber(
        "webhook",
        ("projects.*",),
        handler,
        ordering=ordering,
        batch_size=4,
        concurrency=2,  # type: ignore[arg-type]
    )
    env.outbox.register(subscriber)
    events = [event(row_id=str(n % 3)) for n in range(30)]
    await env.publish(*events)

    other = await env.open_another()
    try:
        workers = [DeliveryWorker(env.store(db), subscriber, clock=env.clock) for db in (env.db, other)]

        async def drain(worker: DeliveryWorker) -> int:
            done = 0
            for _ in range(40):
                done += (await worker.deliver_pending()).done
                await asyncio.sleep(0)
            return done

        counts = await asyncio.gather(*(drain(w) for w in workers))
    finally:
        await other.close()
    ids = [e.id for e in events]
    assert overlaps == []
    assert sorted(e.id for e in delivered) == sorted(ids) and len(delivered) == len(ids)  # each once
    assert sum(counts) == 30
    if ordering == "none":
        # Unordered deliveries are shared out; ordered ones go to whichever worker holds the groups' heads.
        assert all(counts), "both workers should have taken part"
    if ordering == "global":
        assert [e.id for e in delivered] == ids
    if ordering == "aggregate":
        for row in "012":
            assert [e.id for e in delivered if e.row_id == row] == [e.id for e in events if e.row_id == row]
    assert {v[:2] for v in (await env.deliveries("webhook")).values()} == {("done", 1)}


async def test_a_slow_subscriber_does_not_delay_the_others(outbox_env: OutboxEnv) -> None:
    env = outbox_env
    gate = asyncio.Event()
    slow_got: list[str] = []
    fast = Recorder()

    async def slow(event: DomainEvent) -> None:
        slow_got.append(event.id)
        await gate.wait()

    env.outbox.register(Subscriber("slow", ("projects.*",), slow, handler_timeout=30))
    env.outbox.register(Subscriber("fast", ("projects.*",), fast))
    env.outbox.start()
    try:
        events = [event(row_id=str(n)) for n in range(5)]
        for e in events:  # one transaction each: each commit wakes both workers
            await env.publish(e)
        await eventually(lambda: len(fast.received) == 5)
        assert fast.received == [e.id for e in events]
        assert slow_got == [events[0].id]  # still busy with the first
        gate.set()
        await eventually(lambda: len(slow_got) == 5)
    finally:
        await env.outbox.stop()


async def test_a_pipelined_subscriber_moves_other_groups_on_while_one_handler_is_slow(outbox_env: OutboxEnv) -> None:
    env = outbox_env
    gate = asyncio.Event()
    got: list[tuple[str, str]] = []

    async def handler(e: DomainEvent) -> None:
        got.append((e.row_id, str((e.data or {}).get("n"))))
        if e.row_id == "A" and not gate.is_set():
            await gate.wait()

    env.outbox.register(
        Subscriber("piped", ("projects.*",), handler, concurrency=4, batch_size=4, pipelined=True, handler_timeout=30)
    )
    env.outbox.start()
    try:
        await env.publish(event(row_id="A", n=1), event(row_id="B", n=1))
        await eventually(lambda: ("B", "1") in got and ("A", "1") in got)
        # Published while A's first delivery is still in hand: B's go through, A's waits behind its first.
        await env.publish(event(row_id="B", n=2), event(row_id="A", n=2), event(row_id="B", n=3))
        await eventually(lambda: ("B", "3") in got)
        assert ("A", "2") not in got
        gate.set()
        await eventually(lambda: ("A", "2") in got)
        assert [n for row, n in got if row == "A"] == ["1", "2"] and [n for row, n in got if row == "B"] == [
            "1",
            "2",
            "3",
        ]
    finally:
        await env.outbox.stop()
    assert {status for status, _, _ in (await env.deliveries("piped")).values()} == {"done"}


async def test_a_slow_batch_keeps_its_claim_by_renewing_the_lease(outbox_env: OutboxEnv) -> None:
    env = outbox_env
    calls: list[str] = []

    async def slow(event: DomainEvent) -> None:
        calls.append(event.id)
        await asyncio.sleep(0.9)

    # Five deliveries of 0.9 s in one claim: the batch outlasts the 4 s lease unless it is renewed.
    subscriber = Subscriber("slow", ("projects.*",), slow, ordering="none", lease=4, handler_timeout=2, batch_size=5)
    env.outbox.register(subscriber)
    await env.publish(*(event(row_id=str(n)) for n in range(5)))
    other = await env.open_another()
    try:
        first = DeliveryWorker(env.store(), subscriber, clock=utc_now)
        running = asyncio.create_task(first.deliver_pending())
        await asyncio.sleep(4.3)
        assert not running.done()
        second = DeliveryWorker(env.store(other), replace(subscriber, handler=slow), clock=utc_now)
        assert (await second.deliver_pending()).attempted == 0  # the lease was renewed: nothing to take over
        report = await asyncio.wait_for(running, 10)
    finally:
        await other.close()
    assert (report.done, report.lost) == (5, 0) and len(calls) == len(set(calls)) == 5


# -- writing ---------------------------------------------------------------------------------------------


async def test_a_dedupe_key_writes_one_event_with_one_set_of_deliveries(outbox_env: OutboxEnv) -> None:
    env = outbox_env
    env.outbox.register(Subscriber("one", ("projects.*",), Recorder()))
    env.outbox.register(Subscriber("two", ("projects.*",), Recorder(), ordering="none"))
    first, again = event(row_id="1"), event(row_id="1")
    assert await env.publish(first, dedupe_key="invoice:1") == [True]
    assert await env.publish(again, dedupe_key="invoice:1") == [False]  # another request for the same action
    async with env.db.transaction() as conn:  # twice in one transaction, which goes on
        assert await env.outbox.publish(conn, event(), dedupe_key="invoice:2") is True
        assert await env.outbox.publish(conn, event(), dedupe_key="invoice:2") is False
    events = await env.rows("SELECT id FROM outbox_events")
    deliveries = await env.rows("SELECT event_id, subscriber FROM outbox_deliveries")
    assert len(events) == 2 and len(deliveries) == 4
    assert first.id in {str(r[0]) for r in events} and again.id not in {str(r[0]) for r in deliveries}


async def test_a_subscriber_fans_out_further_once(outbox_env: OutboxEnv) -> None:
    env, clock = outbox_env, outbox_env.clock
    endpoints = [Recorder(), Recorder()]
    for n, endpoint in enumerate(endpoints):
        # Reached only through the fan-out: a pattern no event is published under.
        env.outbox.register(Subscriber(f"endpoint-{n}", ("$webhooks.endpoint",), endpoint, ordering="none"))
    added: list[int] = []

    async def fan_out(event: DomainEvent) -> None:
        async with env.db.transaction() as conn:
            added.append(await env.outbox.add_deliveries(conn, event, ["endpoint-0", "endpoint-1"]))
        if len(added) == 1:
            raise RuntimeError("crashed after the fan-out committed")

    env.outbox.register(Subscriber("webhooks", ("projects.*",), fan_out, retry=QUICK))
    published = event()
    await env.publish(published)
    assert (await env.outbox.worker("webhooks").deliver_pending()).retrying == 1
    clock.advance(1)
    assert (await env.outbox.worker("webhooks").deliver_pending()).done == 1
    assert added == [2, 0]  # the retried fan-out added nothing twice
    for n, endpoint in enumerate(endpoints):
        assert (await env.outbox.worker(f"endpoint-{n}").deliver_pending()).done == 1
        assert endpoint.received == [published.id]
    with pytest.raises(LookupError):
        async with env.db.transaction() as conn:
            await env.outbox.add_deliveries(conn, published, [Subscriber("stranger", ("*",), Recorder())])


# -- pruning ---------------------------------------------------------------------------------------------


async def test_prune_deletes_exactly_what_the_policy_says(outbox_env: OutboxEnv) -> None:
    env, clock = outbox_env, outbox_env.clock
    today = clock.now

    async def ok(event: DomainEvent) -> None: ...

    async def bad(event: DomainEvent) -> None:
        raise PermanentDeliveryError("rejected")

    async def idle(event: DomainEvent) -> None: ...

    env.outbox.register(Subscriber("ok", ("ok.*", "both.*"), ok))
    env.outbox.register(Subscriber("bad", ("bad.*", "both.*"), bad))
    env.outbox.register(Subscriber("idle", ("idle.*",), idle))

    async def at(days_ago: float, entity: str) -> str:
        clock.now = today - dt.timedelta(days=days_ago)
        e = replace(event(entity), created_at=clock.now)
        await env.publish(e)
        for name in ("ok", "bad"):
            await env.outbox.worker(name).deliver_pending()
        return e.id

    failed_long_ago = await at(31, "bad")  # dead longer than the failed retention: goes
    pending_for_ages = await at(40, "idle")  # never delivered: stays, however old
    done_last_week = await at(8, "ok")  # delivered longer ago than the retention: goes
    failed_last_week = await at(8, "bad")  # dead, but within the failed retention: stays
    nobody_last_week = await at(8, "none")  # no subscriber at all: goes with the retention
    nobody_yesterday = await at(1, "none")
    done_yesterday = await at(1, "ok")
    mixed_last_week = await at(8, "both")  # its done delivery goes; its dead one keeps the event
    clock.now = today

    report = await env.outbox.prune()
    assert (report.deliveries, report.events) == (3, 3)
    events = {str(r[0]) for r in await env.rows("SELECT id FROM outbox_events")}
    assert events == {pending_for_ages, failed_last_week, nobody_yesterday, done_yesterday, mixed_last_week}
    deliveries = {(str(r[0]), r[1]) for r in await env.rows("SELECT event_id, subscriber FROM outbox_deliveries")}
    assert deliveries == {
        (pending_for_ages, "idle"),
        (failed_last_week, "bad"),
        (done_yesterday, "ok"),
        (mixed_last_week, "bad"),
    }
    assert failed_long_ago not in events and done_last_week not in events and nobody_last_week not in events
    again = await env.outbox.prune()
    assert (again.deliveries, again.events) == (0, 0)


async def test_the_pruner_waits_one_interval_before_its_first_pass(outbox_env: OutboxEnv) -> None:
    env = outbox_env
    clock = FakeClock()
    settings = OutboxSettings(_env_file=None, TENANTRY_OUTBOX_PRUNE_SECONDS=0.3)  # type: ignore[call-arg]
    outbox = Outbox(env.db, env.tables, settings=settings, clock=clock)
    async with env.db.transaction() as conn:
        await outbox.publish(conn, event("none"))
    clock.advance(days=8)
    outbox.start()
    try:
        await asyncio.sleep(0.1)
        assert len(await env.rows("SELECT id FROM outbox_events")) == 1  # starting a process deletes nothing
        deadline = time.monotonic() + 10
        while await env.rows("SELECT id FROM outbox_events"):  # gone at the first pass, an interval later
            assert time.monotonic() < deadline, "the pruner never ran"
            await asyncio.sleep(0.05)
    finally:
        await outbox.stop()


async def test_a_stop_that_cuts_a_handler_off_hands_its_claim_back_at_once(outbox_env: OutboxEnv) -> None:
    env = outbox_env
    started = asyncio.Event()

    async def stuck(event: DomainEvent) -> None:
        started.set()
        await asyncio.sleep(3600)

    stuck_subscriber = Subscriber("webhook", ("projects.*",), stuck, lease=60, handler_timeout=30)
    env.outbox.register(stuck_subscriber)
    [published] = [event(row_id="cut")]
    await env.publish(published)
    worker = env.outbox.worker("webhook")
    worker.start()
    await asyncio.wait_for(started.wait(), 30)
    await worker.stop(grace=0.1)  # the grace runs out: the handler is cancelled
    # Handed back, not held for the 60 s lease: another process delivers it now.
    handler = Recorder()
    other = DeliveryWorker(env.store(), Subscriber("webhook", ("projects.*",), handler), clock=utc_now)
    assert (await other.deliver_pending()).done == 1
    assert handler.received == [published.id]


def test_the_lease_setting_replaces_each_subscribers_lease_and_bounds_its_handler() -> None:
    subscriber = Subscriber("webhook", ("projects.*",), Recorder(), lease=120, handler_timeout=30)
    worker = DeliveryWorker(cast(Any, None), subscriber, lease=5)
    assert (worker.lease.total_seconds(), worker.handler_timeout) == (5, 2.5)
    default = DeliveryWorker(cast(Any, None), subscriber)
    assert (default.lease.total_seconds(), default.handler_timeout) == (120, 30)
