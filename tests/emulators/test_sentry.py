"""The Sentry emulator speaks Sentry's ingest protocol: the official SDK's envelopes over a real
socket, the DSN's key required, compressed bodies, Relay's refusals."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator

import httpx
import orjson
import pytest
import sentry_sdk

from tenantry.emulators.sentry import EnvelopeError, SentryEmulator, parse_envelope
from tenantry.emulators.server import RunningServer, run_in_thread

KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[SentryEmulator, RunningServer]]:
    emulator = SentryEmulator({"7": KEY})
    with run_in_thread(emulator) as server:
        yield emulator, server


@pytest.fixture
def emulator(running: tuple[SentryEmulator, RunningServer]) -> Iterator[SentryEmulator]:
    running[0].reset()
    yield running[0]
    running[0].reset()


def sdk_client(dsn: str) -> sentry_sdk.Client:
    """An SDK client of its own (not the process's), sending to ``dsn``."""
    return sentry_sdk.Client(dsn=dsn, default_integrations=False, auto_enabling_integrations=False)


def envelope(*items: tuple[dict[str, object], bytes], header: dict[str, object] | None = None) -> bytes:
    lines = [orjson.dumps(header or {"event_id": "9ec79c33ec9942ab8353589fcb2e04dc"})]
    for item_header, payload in items:
        lines += [orjson.dumps(item_header), payload]
    return b"\n".join(lines) + b"\n"


EVENT = orjson.dumps({"event_id": "9ec79c33ec9942ab8353589fcb2e04dc", "message": "hello"})
AUTH = {"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_client=test/1.0, sentry_key={KEY}"}


def test_the_sdk_sends_an_event_the_emulator_keeps(
    running: tuple[SentryEmulator, RunningServer], emulator: SentryEmulator
) -> None:
    client = sdk_client(emulator.dsn(running[1].base_url))
    try:
        try:
            raise ValueError("something broke")
        except ValueError as exc:
            event, hint = sentry_sdk.utils.event_from_exception(exc, client_options=client.options)
        event_id = client.capture_event(event, hint=hint, scope=sentry_sdk.Scope())
        client.flush(timeout=5)
    finally:
        client.close()
    [received] = emulator.events
    assert received["event_id"] == event_id
    assert received["exception"]["values"][0]["type"] == "ValueError"
    assert received["project_id"] == "7"
    assert emulator.refused == 0


def test_a_wrong_dsn_key_is_refused(running: tuple[SentryEmulator, RunningServer], emulator: SentryEmulator) -> None:
    wrong = emulator.dsn(running[1].base_url).replace(KEY, "f" * 32)
    client = sdk_client(wrong)
    try:
        client.capture_event({"message": "never kept"}, scope=sentry_sdk.Scope())
        client.flush(timeout=5)
    finally:
        client.close()
    assert emulator.events == []
    # The event, and the SDK's report of it lost (its client report), were both refused.
    assert emulator.refused >= 1 and emulator.envelopes == []


def test_refusals_are_relays(running: tuple[SentryEmulator, RunningServer], emulator: SentryEmulator) -> None:
    base = running[1].base_url
    body = envelope(({"type": "event", "length": len(EVENT)}, EVENT))
    with httpx.Client(base_url=base) as http:
        missing = http.post("/api/7/envelope/", content=body)
        assert missing.status_code == 401
        assert missing.json() == {"detail": "missing authorization information"}
        wrong = http.post("/api/7/envelope/", content=body, params={"sentry_key": "nope"})
        assert wrong.status_code == 403
        other_project = http.post("/api/8/envelope/", content=body, headers=AUTH)
        assert other_project.status_code == 403
        garbled = http.post("/api/7/envelope/", content=b"{not json\n", headers=AUTH)
        assert garbled.status_code == 400 and "invalid envelope" in garbled.json()["detail"]
        short = envelope(({"type": "event", "length": 9999}, EVENT))
        assert http.post("/api/7/envelope/", content=short, headers=AUTH).status_code == 400
        bad_gzip = http.post("/api/7/envelope/", content=b"xx", headers={**AUTH, "Content-Encoding": "gzip"})
        assert bad_gzip.status_code == 400
        unknown = http.post("/api/7/envelope/", content=body, headers={**AUTH, "Content-Encoding": "zstd"})
        assert unknown.status_code == 400
    assert emulator.events == [] and emulator.refused == 7


@pytest.mark.parametrize("encoding", ["gzip", "deflate", ""])
def test_compressed_envelopes_and_the_query_key_are_accepted(
    running: tuple[SentryEmulator, RunningServer], emulator: SentryEmulator, encoding: str
) -> None:
    body = envelope(
        ({"type": "event", "length": len(EVENT)}, EVENT),
        ({"type": "client_report"}, b'{"discarded_events":[]}'),
    )
    compressed = {"gzip": gzip.compress, "deflate": zlib.compress, "": lambda b: b}[encoding](body)
    with httpx.Client(base_url=running[1].base_url) as http:
        answer = http.post(
            "/api/7/envelope/",
            content=compressed,
            params={"sentry_key": KEY, "sentry_version": "7"},
            headers={"Content-Encoding": encoding} if encoding else {},
        )
    assert answer.status_code == 200
    assert answer.json() == {"id": "9ec79c33ec9942ab8353589fcb2e04dc"}
    [kept] = emulator.envelopes
    assert [i.type for i in kept.items] == ["event", "client_report"]
    assert [e["message"] for e in emulator.events] == ["hello"]


def test_the_key_may_come_from_the_envelopes_dsn_and_events_from_store(
    running: tuple[SentryEmulator, RunningServer], emulator: SentryEmulator
) -> None:
    base = running[1].base_url
    dsn = emulator.dsn(base)
    with httpx.Client(base_url=base) as http:
        header = {"event_id": "9ec79c33ec9942ab8353589fcb2e04dc", "dsn": dsn}
        by_dsn = http.post("/api/7/envelope/", content=envelope(({"type": "event"}, EVENT), header=header))
        assert by_dsn.status_code == 200
        stored = http.post("/api/7/store/", content=orjson.dumps({"message": "legacy"}), headers=AUTH)
        assert stored.status_code == 200 and len(stored.json()["id"]) == 32
        listed = http.get("/__emulator__/events").json()
    assert [e["message"] for e in listed] == ["hello", "legacy"]


def test_envelope_parsing() -> None:
    parsed = parse_envelope(b'{"event_id":"a"}\n{"type":"attachment","length":3}\na\nb\n{"type":"event"}\n{}')
    assert parsed.headers == {"event_id": "a"}
    assert [(i.type, i.payload) for i in parsed.items] == [("attachment", b"a\nb"), ("event", b"{}")]
    assert parse_envelope(b'{"event_id":"a"}').items == []
    for broken in (
        b"[]\n",
        b'{}\n{"length":2}\nab',
        b'{}\n{"type":"event","length":-1}\n',
        b'{}\n{"type":"x","length":1}\nab',
    ):
        with pytest.raises(EnvelopeError):
            parse_envelope(broken)
