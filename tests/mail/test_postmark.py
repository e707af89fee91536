"""Postmark delivery against the Postmark emulator, over a real socket, and the emulator's protocol."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tenantry.emulators.postmark import PostmarkEmulator
from tenantry.mail import (
    FAILED,
    SENT,
    PermanentMailError,
    PostmarkBackend,
    TransientMailError,
    list_outbox,
)
from tests.clock import FakeClock
from tests.mail.conftest import (
    POSTMARK_TOKEN,
    MailEnv,
    RunningPostmark,
    enqueue_committed,
    free_port,
    message,
)
from tests.mail.test_smtp import outgoing


def backend_for(postmark: RunningPostmark, token: str = POSTMARK_TOKEN) -> PostmarkBackend:
    return PostmarkBackend(token, api_url=postmark.url, message_stream="outbound", timeout=5)


async def test_sends_the_postmark_payload(postmark: RunningPostmark) -> None:
    backend = backend_for(postmark)
    try:
        message_id = await backend.send(outgoing())
    finally:
        await backend.close()
    [received] = postmark.emulator.messages
    assert received["MessageID"] == message_id
    assert received["From"] == "Acme <no-reply@acme.test>"
    assert received["To"] == "ada@example.com"
    assert received["Subject"] == "Verify your email"
    assert received["TextBody"].startswith("Open https://app.example.com/v?t=1")
    assert received["HtmlBody"].startswith("<p>Open")
    assert received["MessageStream"] == "outbound"
    assert received["Tag"] == "verify_email"
    assert received["Metadata"] == {"outbox_id": "0190a8f2-2c5e-7b7e-9a51-1f6c0d0e4a11"}


async def test_bad_token_is_permanent(postmark: RunningPostmark) -> None:
    backend = backend_for(postmark, token="wrong")
    with pytest.raises(PermanentMailError, match="ErrorCode 10"):
        await backend.send(outgoing())
    await backend.close()
    assert postmark.emulator.messages == []


@pytest.mark.parametrize(
    ("status", "error_code", "expected"),
    [
        (500, None, TransientMailError),
        (503, None, TransientMailError),
        (429, None, TransientMailError),
        (422, 405, TransientMailError),  # out of credits: resumes once the account is topped up
        (422, 300, PermanentMailError),
        (422, 406, PermanentMailError),
        (401, 10, PermanentMailError),
    ],
)
async def test_error_codes_map_to_retry_or_not(
    postmark: RunningPostmark, status: int, error_code: int | None, expected: type[Exception]
) -> None:
    postmark.emulator.fail_next(1, status=status, error_code=error_code)
    backend = backend_for(postmark)
    try:
        with pytest.raises(expected):
            await backend.send(outgoing())
        await backend.send(outgoing())  # the next call is answered normally
    finally:
        await backend.close()
    assert len(postmark.emulator.messages) == 1


async def test_inactive_recipient_is_permanent(postmark: RunningPostmark) -> None:
    postmark.emulator.deactivate("bounced@example.com")
    backend = backend_for(postmark)
    with pytest.raises(PermanentMailError, match="ErrorCode 406"):
        await backend.send(outgoing(to="bounced@example.com"))
    await backend.close()


async def test_unreachable_or_non_postmark_answers() -> None:
    down = PostmarkBackend("t", api_url=f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(TransientMailError, match="unreachable"):
        await down.send(outgoing())
    await down.close()

    def proxy(status: int) -> httpx.MockTransport:
        # A load balancer or firewall in front of the API answers with HTML, not Postmark JSON.
        return httpx.MockTransport(lambda request: httpx.Response(status, text="<html>Bad gateway</html>"))

    for status, expected in ((502, TransientMailError), (403, PermanentMailError)):
        backend = PostmarkBackend("t", transport=proxy(status))
        with pytest.raises(expected, match=f"HTTP {status}"):
            await backend.send(outgoing())
        await backend.close()


async def test_fails_twice_then_delivers_on_the_third_attempt(mail_env: MailEnv, postmark: RunningPostmark) -> None:
    await enqueue_committed(mail_env, message())
    clock = FakeClock()
    postmark.emulator.fail_next(2, status=500)
    d = mail_env.dispatcher(backend_for(postmark), clock=clock)
    try:
        assert (await d.deliver_pending()).retrying == 1
        clock.advance(2)
        assert (await d.deliver_pending()).attempted == 0  # inside the first backoff (5 s ± 20 %)
        clock.advance(5)
        assert (await d.deliver_pending()).retrying == 1
        clock.advance(20)
        assert (await d.deliver_pending()).attempted == 0  # inside the second backoff (30 s ± 20 %)
        clock.advance(20)
        assert (await d.deliver_pending()).done == 1
    finally:
        await d.stop()
    assert postmark.emulator.calls == 3
    [received] = postmark.emulator.messages
    [record] = await list_outbox(mail_env.db, mail_env.tables)
    assert record.status == SENT and record.attempts == 3 and record.provider_message_id == received["MessageID"]


async def test_permanent_rejection_fails_at_once(mail_env: MailEnv, postmark: RunningPostmark) -> None:
    await enqueue_committed(mail_env, message(to="bounced@example.com"))
    postmark.emulator.deactivate("bounced@example.com")
    clock = FakeClock()
    d = mail_env.dispatcher(backend_for(postmark), clock=clock)
    try:
        assert (await d.deliver_pending()).failed == 1
        clock.advance(86400)
        assert (await d.deliver_pending()).attempted == 0
    finally:
        await d.stop()
    assert postmark.emulator.calls == 1
    [record] = await list_outbox(mail_env.db, mail_env.tables)
    assert record.status == FAILED and record.attempts == 1 and "ErrorCode 406" in (record.last_error or "")


# -- the emulator's protocol ------------------------------------------------------------------------


@pytest.fixture
def emulator() -> PostmarkEmulator:
    return PostmarkEmulator("tok", inactive_recipients=["off@example.com"])


@pytest.fixture
async def emulator_client(emulator: PostmarkEmulator) -> AsyncIterator[httpx.AsyncClient]:
    # In-process (ASGI) for the protocol details; the wire is covered by the socket tests above.
    transport = httpx.ASGITransport(app=emulator)
    async with httpx.AsyncClient(transport=transport, base_url="http://postmark") as client:
        client.headers["X-Postmark-Server-Token"] = "tok"
        yield client


VALID = {"From": "a@acme.test", "To": "b@example.com", "Subject": "Hi", "TextBody": "Hello"}


async def test_emulator_accepts_and_answers_like_postmark(
    emulator_client: httpx.AsyncClient, emulator: PostmarkEmulator
) -> None:
    r = await emulator_client.post("/email", json=VALID)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"To", "SubmittedAt", "MessageID", "ErrorCode", "Message"}
    assert body["To"] == "b@example.com" and body["ErrorCode"] == 0 and body["Message"] == "OK"
    assert emulator.messages[0]["MessageID"] == body["MessageID"]


@pytest.mark.parametrize(
    ("headers", "payload", "status", "code"),
    [
        ({"X-Postmark-Server-Token": ""}, VALID, 401, 10),
        ({"X-Postmark-Server-Token": "nope"}, VALID, 401, 10),
        ({}, {**VALID, "From": ""}, 422, 300),
        ({}, {k: v for k, v in VALID.items() if k != "To"}, 422, 300),
        ({}, {**VALID, "To": "not-an-address"}, 422, 300),
        ({}, {**VALID, "To": ",".join(f"u{i}@example.com" for i in range(51))}, 422, 300),
        ({}, {k: v for k, v in VALID.items() if k != "TextBody"}, 422, 300),
        ({}, {**VALID, "To": "off@example.com"}, 422, 406),
        ({}, {**VALID, "MessageStream": "nope"}, 422, 1235),
        ({}, {**VALID, "Metadata": {"a": {"nested": 1}}}, 422, 300),
        ({}, ["not", "an", "object"], 422, 403),
    ],
)
async def test_emulator_rejects_what_postmark_rejects(
    emulator_client: httpx.AsyncClient,
    emulator: PostmarkEmulator,
    headers: dict[str, str],
    payload: object,
    status: int,
    code: int,
) -> None:
    r = await emulator_client.post("/email", json=payload, headers=headers)
    assert r.status_code == status, r.text
    assert r.json()["ErrorCode"] == code and r.json()["Message"]
    assert emulator.messages == []


async def test_emulator_requires_json(emulator_client: httpx.AsyncClient) -> None:
    r = await emulator_client.post("/email", content=b"{", headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["ErrorCode"]) == (422, 402)
    r = await emulator_client.post("/email", content=b"From=a", headers={"Content-Type": "text/plain"})
    assert (r.status_code, r.json()["ErrorCode"]) == (422, 409)


async def test_emulator_batch_answers_per_message(
    emulator_client: httpx.AsyncClient, emulator: PostmarkEmulator
) -> None:
    r = await emulator_client.post("/email/batch", json=[VALID, {**VALID, "To": "off@example.com"}])
    assert r.status_code == 200
    first, second = r.json()
    assert first["ErrorCode"] == 0 and first["MessageID"]
    assert second["ErrorCode"] == 406 and "MessageID" not in second
    assert len(emulator.messages) == 1
    r = await emulator_client.post("/email/batch", json=[VALID] * 501)
    assert (r.status_code, r.json()["ErrorCode"]) == (422, 410)


async def test_emulator_failure_controls(emulator_client: httpx.AsyncClient, emulator: PostmarkEmulator) -> None:
    r = await emulator_client.post("/__emulator__/fail", json={"count": 2, "status": 503})
    assert r.status_code == 200
    assert [(await emulator_client.post("/email", json=VALID)).status_code for _ in range(3)] == [503, 503, 200]
    emulator.fail_next(1, status=422, error_code=406)
    r = await emulator_client.post("/email", json=VALID)
    assert (r.status_code, r.json()["ErrorCode"]) == (422, 406)
    assert len((await emulator_client.get("/__emulator__/messages")).json()) == 1
    await emulator_client.delete("/__emulator__/messages")
    assert (await emulator_client.get("/__emulator__/messages")).json() == []


def test_emulator_runs_standalone() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenantry.emulators.postmark", "--port", str(port), "--token", "standalone"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(f"{base}/__emulator__/messages", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "emulator did not start"
            time.sleep(0.05)
        r = httpx.post(f"{base}/email", json=VALID, headers={"X-Postmark-Server-Token": "standalone"})
        assert r.status_code == 200 and r.json()["ErrorCode"] == 0
        [stored] = httpx.get(f"{base}/__emulator__/messages").json()
        assert stored["MessageID"] == r.json()["MessageID"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
