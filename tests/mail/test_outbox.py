"""The outbox guarantee: a message exists exactly when its action committed, and once per action."""

from __future__ import annotations

import asyncio

import pytest

from tenantry.events import DeliveryWorker, Outbox
from tenantry.mail import (
    FAILED,
    PENDING,
    SENT,
    DevOutboxBackend,
    enqueue,
    get_outbox_message,
    list_outbox,
    mail_subscriber,
)
from tests.mail.conftest import MailEnv, RecordingBackend, enqueue_committed, message


class Boom(Exception):
    pass


def dispatcher(env: MailEnv, backend: RecordingBackend) -> DeliveryWorker:
    return env.dispatcher(backend)


async def test_committed_message_is_delivered_once(mail_env: MailEnv) -> None:
    assert await enqueue_committed(mail_env, message()) == [True]
    [stored] = await list_outbox(mail_env.db, mail_env.tables)
    assert stored.status == PENDING and stored.attempts == 0 and stored.to == "ada@example.com"

    backend = RecordingBackend()
    d = dispatcher(mail_env, backend)
    report = await d.deliver_pending()
    assert (report.done, report.retrying, report.failed) == (1, 0, 0)
    again = await d.deliver_pending()
    assert again.attempted == 0

    assert [m.id for m in backend.sent] == [stored.id]
    sent = backend.sent[0]
    assert (sent.to, sent.subject, sent.url, sent.template) == (
        "ada@example.com",
        "Hello verify-email:u1:t1",
        "https://app.example.com/verify?token=abc",
        "verify_email",
    )
    done = await get_outbox_message(mail_env.db, mail_env.tables, stored.id)
    assert done is not None
    assert done.status == SENT and done.attempts == 1
    assert done.provider_message_id == f"recording-{stored.id}"
    assert done.sent_at is not None and done.claimed_until is None and done.last_error is None


async def test_rolled_back_action_leaves_no_mail(mail_env: MailEnv) -> None:
    with pytest.raises(Boom):
        async with mail_env.db.transaction() as conn:
            assert await enqueue(conn, mail_env.outbox, message()) is True
            raise Boom  # the action failed after the mail was queued
    assert await list_outbox(mail_env.db, mail_env.tables) == []
    backend = RecordingBackend()
    assert (await dispatcher(mail_env, backend).deliver_pending()).attempted == 0
    assert backend.sent == []


async def test_same_dedupe_key_twice_is_one_message(mail_env: MailEnv) -> None:
    assert await enqueue_committed(mail_env, message("reset:u1:t9")) == [True]
    # A retried request (or a double click) enqueues the same action again, even with other content.
    assert await enqueue_committed(mail_env, message("reset:u1:t9", subject="Different")) == [False]
    # ... and twice in one transaction.
    assert await enqueue_committed(mail_env, message("reset:u1:t10"), message("reset:u1:t10")) == [True, False]

    rows = await list_outbox(mail_env.db, mail_env.tables)
    assert sorted(r.dedupe_key for r in rows) == ["reset:u1:t10", "reset:u1:t9"]
    assert next(r for r in rows if r.dedupe_key == "reset:u1:t9").subject == "Hello reset:u1:t9"

    backend = RecordingBackend()
    await dispatcher(mail_env, backend).deliver_pending()
    await dispatcher(mail_env, backend).deliver_pending()
    assert sorted(m.subject for m in backend.sent) == ["Hello reset:u1:t10", "Hello reset:u1:t9"]
    # Once sent, the key still blocks a new copy: the action already mailed.
    assert await enqueue_committed(mail_env, message("reset:u1:t9")) == [False]


async def deliveries(env: MailEnv) -> int:
    async with env.db.connection() as conn:
        row = await conn.fetchrow("SELECT count(*) FROM outbox_deliveries")
    assert row is not None
    return int(row[0])


async def test_a_deduped_message_gets_no_second_delivery(mail_env: MailEnv) -> None:
    assert await enqueue_committed(mail_env, message("verify:u1"), message("verify:u1")) == [True, False]
    assert await enqueue_committed(mail_env, message("verify:u1")) == [False]
    assert await deliveries(mail_env) == 1


async def test_two_transactions_racing_on_one_dedupe_key_make_one_message(mail_env: MailEnv) -> None:
    """Two processes acting on one action at once: the second waits for the first's commit, then adds nothing."""
    other = await mail_env.open_another()
    other_outbox = Outbox(other, mail_env.tables)
    other_outbox.register(mail_subscriber(mail_env.settings, DevOutboxBackend()))
    first_in = asyncio.Event()

    async def first() -> bool:
        async with mail_env.db.transaction() as conn:
            added = await enqueue(conn, mail_env.outbox, message("invite:o1:u2"))
            first_in.set()
            await asyncio.sleep(0.3)  # still uncommitted while the other tries
            return added

    async def second() -> bool:
        await first_in.wait()
        async with other.transaction() as conn:
            return await enqueue(conn, other_outbox, message("invite:o1:u2", subject="Other"))

    try:
        results = await asyncio.gather(first(), second())
    finally:
        await other.close()
    assert results == [True, False]
    [record] = await list_outbox(mail_env.db, mail_env.tables)
    assert record.subject == "Hello invite:o1:u2"
    assert await deliveries(mail_env) == 1
    backend = RecordingBackend()
    assert (await dispatcher(mail_env, backend).deliver_pending()).done == 1
    assert [m.id for m in backend.sent] == [record.id]


async def test_enqueue_sees_its_own_transaction(mail_env: MailEnv) -> None:
    """A dedupe conflict does not abort the caller's transaction (ON CONFLICT DO NOTHING, not an error)."""
    async with mail_env.db.transaction() as conn:
        assert await enqueue(conn, mail_env.outbox, message("k")) is True
        assert await enqueue(conn, mail_env.outbox, message("k")) is False
        assert await enqueue(conn, mail_env.outbox, message("k2")) is True
    assert len(await list_outbox(mail_env.db, mail_env.tables)) == 2


async def test_list_filters_and_orders_newest_first(mail_env: MailEnv) -> None:
    for i in range(3):
        await enqueue_committed(mail_env, message(f"k{i}", to="ada@example.com" if i != 1 else "bob@example.com"))
    newest_first = await list_outbox(mail_env.db, mail_env.tables)
    assert [m.dedupe_key for m in newest_first] == ["k2", "k1", "k0"]
    assert [m.dedupe_key for m in await list_outbox(mail_env.db, mail_env.tables, to="ada@example.com")] == [
        "k2",
        "k0",
    ]
    assert len(await list_outbox(mail_env.db, mail_env.tables, limit=1)) == 1
    assert await get_outbox_message(mail_env.db, mail_env.tables, "not-a-uuid") is None


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("to", "ada@example.com\r\nBcc: eve@example.com", "line breaks"),
        ("to", "not an address", "not a mail address"),
        ("subject", "Hi\nBcc: eve@example.com", "line breaks"),
        ("url", "javascript:alert(1)", "http"),
        ("dedupe_key", "", "dedupe_key"),
    ],
)
def test_message_refuses_header_injection_and_bad_urls(field: str, value: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        message(**{field: value})


def test_status_names() -> None:
    assert (PENDING, SENT, FAILED) == ("pending", "sent", "failed")
