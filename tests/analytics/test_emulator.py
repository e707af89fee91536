"""The PostHog emulator speaks PostHog's capture protocol: the official SDK and posthog-js's encodings."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import uuid
from typing import Any

import httpx
import pytest
from posthog import Posthog

from tenantry.analytics import AnalyticsSettings
from tenantry.analytics.captures import Capture
from tenantry.analytics.sink import PostHogSink
from tenantry.emulators.posthog import PostHogEmulator
from tenantry.events import DeliveryError
from tests.analytics.conftest import API_KEY, PostHog


def in_process(emulator: PostHogEmulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator), base_url="http://posthog.test")


def capture(name: str = "clicked", **extra: Any) -> Capture:
    return Capture(name, "user-1", str(uuid.uuid4()), dt.datetime.now(dt.UTC), {"plan": "pro"}, **extra)


async def test_the_sdk_in_sync_mode_uploads_gzipped_batches(posthog: PostHog) -> None:
    client = Posthog(API_KEY, host=posthog.url, sync_mode=True, gzip=True, max_retries=0)
    event_id = str(uuid.uuid4())
    sent = client.capture(
        "clicked", distinct_id="u1", properties={"a": 1}, uuid=event_id, groups={"organization": "o1"}
    )
    client.shutdown()
    assert sent == event_id
    [kept] = posthog.emulator.events
    assert (kept["event"], kept["distinct_id"], kept["uuid"]) == ("clicked", "u1", event_id)
    assert kept["properties"]["$groups"] == {"organization": "o1"}


async def test_a_wrong_key_is_refused_and_the_sink_raises(posthog: PostHog) -> None:
    sink = PostHogSink(AnalyticsSettings(POSTHOG_API_KEY="phc_wrong", POSTHOG_HOST=posthog.url))
    try:
        with pytest.raises(DeliveryError, match="did not accept 'clicked'"):
            await sink.send([capture()])
    finally:
        await sink.close()
    assert posthog.emulator.events == [] and posthog.emulator.requests == 1


async def test_the_sink_sends_captures_and_group_identities(posthog: PostHog) -> None:
    sink = PostHogSink(posthog.settings())
    group = capture("$groupidentify", group=("organization", "o1"))
    try:
        await sink.send([capture(groups={"organization": "o1"}), group])
    finally:
        await sink.close()
    first, second = posthog.emulator.events
    assert first["properties"]["$groups"] == {"organization": "o1"}
    assert second["event"] == "$groupidentify" and second["uuid"] == group.uuid
    assert second["properties"]["$group_key"] == "o1" and second["properties"]["$group_set"] == {"plan": "pro"}


async def test_posthog_js_encodings_and_refusals() -> None:
    emulator = PostHogEmulator(API_KEY)
    one = {"event": "$pageview", "properties": {"distinct_id": "anon-1", "token": API_KEY}}
    async with in_process(emulator) as c:
        # posthog-js: a gzipped list, the key in each event's properties.
        r = await c.post("/i/v0/e/?compression=gzip-js", content=gzip.compress(json.dumps([one]).encode()))
        assert (r.status_code, r.json()) == (200, {"status": 1})
        # Older clients: form-encoded base64 JSON.
        data = base64.b64encode(json.dumps(one).encode()).decode()
        r = await c.post("/e/", content=f"data={data}", headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 200
        r = await c.post("/capture/", json={**one, "properties": {"distinct_id": "x"}})
        assert (r.status_code, r.json()["code"]) == (401, "missing_api_key")
        r = await c.post("/batch/", json={"api_key": "phc_other", "batch": [{"event": "e", "distinct_id": "d"}]})
        assert (r.status_code, r.json()["code"]) == (401, "invalid_api_key")
        for bad in (b"{nope", b"[1, 2]", json.dumps({"api_key": API_KEY, "batch": [{"distinct_id": "d"}]}).encode()):
            r = await c.post("/batch/", content=bad)
            assert (r.status_code, r.json()["type"]) == (400, "validation_error")
        r = await c.post("/batch/", content=b"\x1f\x8bnot gzip", headers={"content-encoding": "gzip"})
        assert r.status_code == 400
    assert [e["event"] for e in emulator.events] == ["$pageview", "$pageview"]


async def test_failures_and_the_control_endpoints() -> None:
    emulator = PostHogEmulator()
    body = {
        "api_key": "any",
        "batch": [{"event": "e", "distinct_id": "d", "uuid": "0190a8f2-2c5e-7b7e-9a51-1f6c0d0e4a11"}],
    }
    async with in_process(emulator) as c:
        assert (await c.post("/__emulator__/fail", json={"count": 1, "status": 503, "keep": True})).status_code == 200
        assert (await c.post("/batch/", json=body)).status_code == 503
        assert (await c.post("/batch/", json=body)).status_code == 200
        kept = (await c.get("/__emulator__/events")).json()
        assert len(kept) == 1 and len(emulator.received) == 2  # one uuid, kept once
        await c.delete("/__emulator__/events")
    assert emulator.events == [] and emulator.requests == 0
