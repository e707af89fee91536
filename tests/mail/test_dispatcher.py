"""Mail through the outbox: retries with backoff, permanent failures, crashed workers, racing workers, wake-ups."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import orjson
import pytest

from tenantry.mail import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    JsonLinesBackend,
    OutboxRecord,
    PermanentMailError,
    RetryPolicy,
    TransientMailError,
    list_outbox,
)
from tests.clock import FakeClock
from tests.mail.conftest import (
    BlockingBackend,
    MailEnv,
    RecordingBackend,
    always_failing,
    enqueue_committed,
    message,
)


async def only(env: MailEnv) -> OutboxRecord:
    [record] = await list_outbox(env.db, env.tables)
    return record


async def test_transient_failures_are_retried_with_backoff(mail_env: MailEnv) -> None:
    await enqueue_committed(mail_env, message())
    clock = FakeClock()  # after the enqueue: the message is due at its creation time
    backend = RecordingBackend(failures=[TransientMailError("503 busy"), TransientMailError("timeout")])
    d = mail_env.dispatcher(backend, clock=clock)

    assert (await d.deliver_pending()).retrying == 1
    first = await only(mail_env)
    assert first.status == PENDING and first.attempts == 1 and first.last_error == "TransientMailError: 503 busy"
    wait = (first.next_attempt_at - clock.now).total_seconds()
    assert 4 <= wait <= 6  # 5 s ± 20 % jitter

    clock.advance(3)
    assert (await d.deliver_pending()).attempted == 0  # not due yet: backoff respected
    clock.advance(3.1)
    assert (await d.deliver_pending()).retrying == 1
    second = await only(mail_env)
    wait = (second.next_attempt_at - clock.now).total_seconds()
    assert second.attempts == 2 and 24 <= wait <= 36  # 30 s ± 20 %

    clock.advance(23)
    assert (await d.deliver_pending()).attempted == 0
    clock.advance(14)
    assert (await d.deliver_pending()).done == 1
    done = await only(mail_env)
    assert done.status == SENT and done.attempts == 3 and done.last_error is None
    assert len(backend.sent) == 1


async def test_permanent_failure_is_not_retried(mail_env: MailEnv) -> None:
    await enqueue_committed(mail_env, message())
    clock = FakeClock()
    backend = RecordingBackend(failures=[PermanentMailError("ErrorCode 406: inactive recipient")])
    d = mail_env.dispatcher(backend, clock=clock)
    assert (await d.deliver_pending()).failed == 1
    clock.advance(86400 * 30)
    assert (await d.deliver_pending()).attempted == 0
    record = await only(mail_env)
    assert record.status == FAILED and record.attempts == 1 and "406" in (record.last_error or "")
    assert backend.sent == []


async def test_gives_up_after_max_attempts(mail_env: MailEnv) -> None:
    await enqueue_committed(mail_env, message())
    clock = FakeClock()
    backend = RecordingBackend(failures=always_failing())
    retry = RetryPolicy(delays=(1, 2), max_attempts=3, jitter=0)
    d = mail_env.dispatcher(backend, clock=clock, retry=retry)
    outcomes = []
    for _ in range(5):
        report = await d.deliver_pending()
        outcomes.append((report.retrying, report.failed))
        clock.advance(2)
    assert outcomes == [(1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
    record = await only(mail_env)
    assert record.status == FAILED and record.attempts == 3
    assert record.last_error == "gave up after 3 attempts: TransientMailError: provider down"


async def test_max_attempts_come_from_settings(mail_env: MailEnv) -> None:
    settings = mail_env.settings.model_copy(update={"max_attempts": 1})
    d = mail_env.dispatcher(RecordingBackend(failures=always_failing()), settings=settings)
    await enqueue_committed(mail_env, message())
    assert (await d.deliver_pending()).failed == 1


async def test_unexpected_backend_error_is_retried(mail_env: MailEnv) -> None:
    await enqueue_committed(mail_env, message())
    clock = FakeClock()
    backend = RecordingBackend(failures=[KeyError("bug")])
    d = mail_env.dispatcher(backend, clock=clock)
    assert (await d.deliver_pending()).retrying == 1
    clock.advance(10)
    assert (await d.deliver_pending()).done == 1


async def test_slow_send_times_out_and_is_retried(mail_env: MailEnv) -> None:
    await enqueue_committed(mail_env, message())
    clock = FakeClock()
    backend = RecordingBackend(delay=0.5)
    d = mail_env.dispatcher(backend, clock=clock, send_timeout=0.05)
    assert (await d.deliver_pending()).retrying == 1
    assert (await only(mail_env)).last_error == "TimeoutError: "


async def test_expired_lease_is_delivered_by_another_worker_exactly_once(mail_env: MailEnv) -> None:
    await enqueue_committed(mail_env, message())
    clock = FakeClock()

    # Worker A claims the message and dies in the middle of sending it.
    stuck = BlockingBackend()
    a = mail_env.dispatcher(stuck, clock=clock, lease=60, send_timeout=30)
    killed = asyncio.create_task(a.deliver_pending())
    await asyncio.wait_for(stuck.entered.wait(), 5)
    killed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await killed
    claimed = await only(mail_env)
    assert claimed.status == SENDING and claimed.attempts == 1 and claimed.claimed_until is not None

    other = await mail_env.open_another()
    try:
        backend = RecordingBackend()
        b = mail_env.dispatcher(backend, db=other, clock=clock, lease=60, send_timeout=30)
        clock.advance(59)
        assert (await b.deliver_pending()).attempted == 0  # A's lease still holds
        clock.advance(2)
        assert (await b.deliver_pending()).done == 1
        clock.advance(3600)
        assert (await b.deliver_pending()).attempted == 0
    finally:
        await other.close()
    assert [m.attempt for m in backend.sent] == [2] and stuck.sent == []
    done = await only(mail_env)
    assert done.status == SENT and done.attempts == 2


async def test_worker_that_outlived_its_lease_cannot_overwrite_the_new_claim(mail_env: MailEnv) -> None:
    await enqueue_committed(mail_env, message())
    clock = FakeClock()
    slow_a, slow_b = BlockingBackend("a"), BlockingBackend("b")
    a = mail_env.dispatcher(slow_a, clock=clock, lease=60, send_timeout=30)
    b = mail_env.dispatcher(slow_b, clock=clock, lease=60, send_timeout=30)
    late = asyncio.create_task(a.deliver_pending())
    await asyncio.wait_for(slow_a.entered.wait(), 5)
    clock.advance(61)  # A's lease runs out while it is still sending
    current = asyncio.create_task(b.deliver_pending())
    await asyncio.wait_for(slow_b.entered.wait(), 5)

    slow_a.release.set()  # A finishes while B's claim is in force: A must not record anything
    report_a = await asyncio.wait_for(late, 5)
    assert report_a.lost == 1 and report_a.done == 0
    claimed = await only(mail_env)
    assert claimed.status == SENDING and claimed.attempts == 2 and claimed.provider_message_id is None

    slow_b.release.set()
    assert (await asyncio.wait_for(current, 5)).done == 1
    record = await only(mail_env)
    assert record.status == SENT and record.provider_message_id == f"b-{record.id}"


async def test_crash_during_last_attempt_marks_failed_without_sending(mail_env: MailEnv) -> None:
    await enqueue_committed(mail_env, message())
    clock = FakeClock()
    retry = RetryPolicy(max_attempts=1)
    stuck = BlockingBackend()
    a = mail_env.dispatcher(stuck, clock=clock, retry=retry)
    killed = asyncio.create_task(a.deliver_pending())
    await asyncio.wait_for(stuck.entered.wait(), 5)
    killed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await killed
    clock.advance(3600)
    backend = RecordingBackend()
    b = mail_env.dispatcher(backend, clock=clock, retry=retry)
    assert (await b.deliver_pending()).failed == 1
    assert backend.sent == []
    record = await only(mail_env)
    assert record.status == FAILED and "worker stopped" in (record.last_error or "")


async def test_two_dispatchers_racing_deliver_each_message_exactly_once(mail_env: MailEnv) -> None:
    await enqueue_committed(mail_env, *(message(f"race:{i}", to=f"user{i}@example.com") for i in range(50)))
    other = await mail_env.open_another()
    try:
        # Small batches and a short await inside every send make the two workers interleave claims.
        backends = [RecordingBackend("a", delay=0.005), RecordingBackend("b", delay=0.005)]
        workers = [
            mail_env.dispatcher(backend, db=db, batch_size=3)
            for db, backend in zip((mail_env.db, other), backends, strict=True)
        ]
        reports = await asyncio.gather(*(w.deliver_pending() for w in workers))
    finally:
        await other.close()
    ids = [m.id for b in backends for m in b.sent]
    assert len(ids) == 50 and len(set(ids)) == 50
    assert all(len(b.sent) > 0 for b in backends), "both workers should have taken part"
    assert sum(r.done for r in reports) == 50 and sum(r.lost for r in reports) == 0
    records = await list_outbox(mail_env.db, mail_env.tables)
    assert {r.status for r in records} == {SENT} and {r.attempts for r in records} == {1}


async def test_background_dispatcher_sends_right_after_wake(mail_env: MailEnv, tmp_path: Path) -> None:
    path = tmp_path / "mail.jsonl"
    # A long poll interval: only wake() can explain a quick delivery.
    d = mail_env.dispatcher(JsonLinesBackend(path), poll_interval=60)
    d.start()
    try:
        await asyncio.sleep(0.05)  # the first (empty) pass is over; the loop now waits
        await enqueue_committed(mail_env, message())
        d.wake()
        for _ in range(200):
            record = await only(mail_env)
            if record.status == SENT:
                break
            await asyncio.sleep(0.01)
        assert record.status == SENT
    finally:
        await d.stop()
    assert not d.running
    [line] = path.read_text().splitlines()
    data = orjson.loads(line)
    assert data["id"] == record.id and data["to"] == "ada@example.com"
    assert data["url"] == "https://app.example.com/verify?token=abc"


async def test_background_dispatcher_polls_without_wake(mail_env: MailEnv) -> None:
    backend = RecordingBackend()
    d = mail_env.dispatcher(backend, poll_interval=0.05)
    d.start()
    try:
        # Enqueued by "another process": no wake, the poll finds it.
        await enqueue_committed(mail_env, message())
        for _ in range(200):
            if backend.sent:
                break
            await asyncio.sleep(0.01)
    finally:
        await d.stop()
    assert len(backend.sent) == 1 and backend.closed == 1


async def test_stop_waits_for_the_send_in_flight(mail_env: MailEnv) -> None:
    backend = RecordingBackend(delay=0.2)
    d = mail_env.dispatcher(backend, poll_interval=60)
    await enqueue_committed(mail_env, message())
    d.start()
    await asyncio.sleep(0.05)  # mid-send
    await d.stop()
    record = await only(mail_env)
    assert record.status == SENT and len(backend.sent) == 1


def test_retry_policy_delays() -> None:
    policy = RetryPolicy(jitter=0)
    assert [policy.delay_after(n) for n in range(1, 9)] == [5, 30, 120, 600, 3600, 10800, 10800, 10800]
    jittery = RetryPolicy(rng=random.Random(7))
    samples = [jittery.delay_after(1) for _ in range(200)]
    assert min(samples) >= 4 and max(samples) <= 6 and len(set(samples)) > 100
    assert RetryPolicy(max_attempts=2).gives_up_after(2) and not RetryPolicy(max_attempts=2).gives_up_after(1)
    with pytest.raises(ValueError):
        RetryPolicy(delays=())


async def test_dispatcher_options_are_checked(mail_env: MailEnv) -> None:
    with pytest.raises(ValueError, match="lease"):
        mail_env.dispatcher(RecordingBackend(), lease=10, send_timeout=10)


async def test_failed_sends_are_counted_by_kind(mail_env: MailEnv) -> None:
    """Every failed attempt is in ``tenantry_mail_failures_total``: a slow send as a timeout too."""
    from prometheus_client import REGISTRY

    def failures(kind: str) -> float:
        labels = {"backend": mail_env.settings.backend, "kind": kind}
        return REGISTRY.get_sample_value("tenantry_mail_failures_total", labels) or 0.0

    before = {kind: failures(kind) for kind in ("timeout", "transient", "permanent")}
    await enqueue_committed(mail_env, message("slow"))
    clock = FakeClock()  # after the enqueue: the message is due at its creation time
    assert (
        await mail_env.dispatcher(RecordingBackend(delay=0.5), clock=clock, send_timeout=0.05).deliver_pending()
    ).retrying == 1
    await enqueue_committed(mail_env, message("refused"))
    clock.advance(3600)  # the slow one is due again too: both fail this time
    backend = RecordingBackend(failures=[OSError("connection refused"), PermanentMailError("bad address")])
    outcome = await mail_env.dispatcher(backend, clock=clock, batch_size=1).deliver_pending()
    assert (outcome.retrying, outcome.failed) == (1, 1)
    assert failures("timeout") - before["timeout"] == 1
    assert failures("transient") - before["transient"] == 1
    assert failures("permanent") - before["permanent"] == 1
