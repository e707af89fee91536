"""Logs through the real app: JSON lines, the request id, the access line, and no secret in any line."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from tenantry.app import default_capabilities
from tenantry.auth import AuthSettings
from tenantry.config import Settings
from tenantry.core import Capability
from tenantry.logs import Logs, LogSettings
from tenantry.mail import MailSettings
from tests.auth.helpers import BASE, NO_VERIFICATION, ORIGIN, PASSWORD, cookie_value, runtime, sign_in, sign_up
from tests.logs.chatty import Chatty

JSON_LOGS = LogSettings(TENANTRY_LOG_FORMAT="json", TENANTRY_LOG_LEVEL="INFO")


# The in-process client's peer is 127.0.0.1, named as the proxy in front (no proxy is trusted by default).
BEHIND_PROXY = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_TRUSTED_PROXIES="127.0.0.1")


def with_chatty(**settings: Any) -> list[Capability]:
    return [*default_capabilities(Settings(**settings)), Chatty()]


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` (each must be one JSON object: nothing else is written)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def access_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("logger") == "tenantry.access"]


async def test_no_password_token_cookie_or_api_key_reaches_the_logs(
    make_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    async with make_client(
        auth=NO_VERIFICATION,
        logs=JSON_LOGS,
        base_url=BASE,
        capabilities=with_chatty(auth=NO_VERIFICATION, logs=JSON_LOGS),
    ) as client:
        capsys.readouterr()
        up = await sign_up(client)
        assert up.status_code == 200, up.text
        wrong = await sign_in(client, password="Wrong-Password-999")
        assert wrong.status_code == 401
        signed = await sign_in(client)
        assert signed.status_code == 200
        token = signed.json()["token"]
        cookie = cookie_value(signed)
        assert token and cookie
        reset = await client.post(
            "/api/auth/request-password-reset",
            json={"email": "cap@example.com", "redirectTo": "/reset"},
            headers=ORIGIN,
        )
        assert reset.status_code == 200
        created = await client.post("/api/auth/api-key/create", json={"name": "ci"}, headers=ORIGIN)
        assert created.status_code == 200, created.text
        api_key = created.json()["key"]
        used = await client.get("/api/auth/api-key/list", headers={"x-api-key": api_key})
        assert used.status_code in (200, 401, 403)
        bearer = await client.get("/api/auth/get-session", headers={"authorization": f"Bearer {token}"})
        assert bearer.status_code == 200
        output = capsys.readouterr().err

    lines = json_lines(output)
    # The careless capability did log bodies and headers (the test sees the redacted lines) ...
    careless = [line for line in lines if line.get("logger", "").startswith("tenantry.test.")]
    assert len(careless) > 20
    assert "[redacted]" in output
    assert any("request body" in line["event"] and "cap@example.com" in str(line) for line in careless)
    # ... and not one secret survived, in whatever form it was logged.
    for secret in (PASSWORD, "Wrong-Password-999", token, cookie, cookie.split(".")[0], api_key):
        assert secret not in output, f"{secret[:6]}… leaked"
    # One access line per request, each with its id and duration.
    access = access_lines(lines)
    assert [line["route"] for line in access] == [
        "/api/auth/sign-up/email",
        "/api/auth/sign-in/email",
        "/api/auth/sign-in/email",
        "/api/auth/request-password-reset",
        "/api/auth/api-key/create",
        "/api/auth/api-key/list",
        "/api/auth/get-session",
    ]
    assert [line["status"] for line in access][:3] == [200, 401, 200]
    assert all(len(line["request_id"]) == 32 and line["duration_ms"] >= 0 for line in access)
    assert len({line["request_id"] for line in access}) == len(access)
    # An authentication endpoint that reads the session names its user, as an API request does;
    # a sign-up or a failed sign-in (no session) names nobody.
    assert access[-1]["user_id"] == up.json()["user"]["id"]
    assert "user_id" not in access[0] and "user_id" not in access[1]


async def test_the_request_id_is_returned_bound_and_given_to_the_audit_context(
    make_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    async with make_client(
        auth=BEHIND_PROXY,
        logs=JSON_LOGS,
        base_url=BASE,
        capabilities=with_chatty(auth=BEHIND_PROXY, logs=JSON_LOGS),
    ) as client:
        user = (await sign_up(client)).json()["user"]
        org = await client.post("/api/auth/organization/create", json={"name": "Acme", "slug": "acme"}, headers=ORIGIN)
        assert org.status_code == 200, org.text
        capsys.readouterr()

        # From the trusted proxy (the in-process client's peer, 127.0.0.1), a plain id is kept.
        kept = await client.get("/test/context/one", headers={"x-request-id": "edge-4f1c.77:a"})
        assert kept.headers["x-request-id"] == "edge-4f1c.77:a"
        assert kept.json() == {"request_id": "edge-4f1c.77:a", "user_id": user["id"]}
        # Too long, or with characters that could forge a log line: replaced.
        for bad in ("x" * 129, "abc def", 'a"b', "line\tbreak"):
            replaced = await client.get("/test/context/two", headers={"x-request-id": bad})
            assert replaced.headers["x-request-id"] != bad
            assert len(replaced.headers["x-request-id"]) == 32
            assert replaced.json()["request_id"] == replaced.headers["x-request-id"]
        lines = json_lines(capsys.readouterr().err)

        # Every line of the request carries its id and, once known, the user and organization.
        said = next(line for line in lines if line["event"] == "context asked for one")
        assert said["request_id"] == "edge-4f1c.77:a"
        assert said["user_id"] == user["id"]
        assert said["organization_id"] == org.json()["id"]
        access = access_lines(lines)[0]
        assert access["method"] == "GET"
        assert access["route"] == "/test/context/{name}"  # the template, not the raw path
        assert access["status"] == 200
        assert access["request_id"] == "edge-4f1c.77:a"
        assert access["user_id"] == user["id"]
        assert access["organization_id"] == org.json()["id"]
        assert isinstance(access["duration_ms"], float)

        # From any other peer the header is not believed.
        transport = httpx.ASGITransport(app=client.app, client=("203.0.113.7", 4000))  # type: ignore[attr-defined]
        async with httpx.AsyncClient(transport=transport, base_url=str(client.base_url)) as outsider:
            r = await outsider.get("/test/context/three", headers={"x-request-id": "spoofed-id"})
        assert r.headers["x-request-id"] != "spoofed-id"
        assert r.json()["request_id"] == r.headers["x-request-id"]


async def test_requests_that_fail_or_match_nothing_get_their_access_line(
    make_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    async with make_client(logs=JSON_LOGS, capabilities=with_chatty(logs=JSON_LOGS)) as client:
        capsys.readouterr()
        transport = httpx.ASGITransport(app=client.app, raise_app_exceptions=False)  # type: ignore[attr-defined]
        async with httpx.AsyncClient(transport=transport, base_url=str(client.base_url)) as c:
            missing = await c.get("/api/no_such_entity/1", headers={"x-request-id": "from-a-neighbour"})
            bad = await c.post("/api/projects", content=b"{not json", headers={"content-type": "application/json"})
            # Socket.IO answers before routing: its polling requests are named all the same.
            polling = await c.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
        assert missing.status_code == 404 and bad.status_code == 400 and polling.status_code == 200
        # No proxy is trusted unless configured, not even one on this host.
        assert missing.headers["x-request-id"] != "from-a-neighbour"
        access = access_lines(json_lines(capsys.readouterr().err))
        assert [(a["status"], a["level"]) for a in access] == [(404, "info"), (400, "info"), (200, "info")]
        assert all(a["request_id"] for a in access)
        assert access[2]["route"] == "/socket.io/"


async def test_development_logs_read_as_text(make_client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    async with make_client(auth=BEHIND_PROXY, capabilities=with_chatty(auth=BEHIND_PROXY)) as client:
        assert runtime(client).get(Logs).format == "console"
        capsys.readouterr()
        r = await client.get("/test/context/dev", headers={"x-request-id": "dev-id-1"})
        assert r.status_code == 200
        output = capsys.readouterr().err
    said = next(line for line in output.splitlines() if "context asked for dev" in line)
    assert not said.lstrip().startswith("{")
    assert "request_id=dev-id-1" in said
    assert any("/test/context/{name}" in line and "200" in line for line in output.splitlines())


async def test_production_logs_json_lines_by_default(
    make_client: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    production = {
        "TENANTRY_ENV": "production",
        "TENANTRY_SECRET": "s" * 40,
        "mail": MailSettings(TENANTRY_MAIL_BACKEND="file", TENANTRY_MAIL_FILE=str(tmp_path / "mail.jsonl")),
    }
    async with make_client(**production) as client:
        assert runtime(client).get(Logs).format == "json"
        # Access lines wait up to 0.2 s to be written together (development writes each at once).
        assert runtime(client).get(Logs).handler.flush_interval == 0.2
        capsys.readouterr()
        await client.get("/api/auth/ok")
    # Written at the latest when the app stops.
    lines = json_lines(capsys.readouterr().err)
    assert access_lines(lines)[0]["route"] == "/api/auth/ok"


def test_the_redaction_processor() -> None:
    from tenantry.logs.redact import redact_secrets

    event = redact_secrets(
        None,
        "info",
        {
            "event": "connecting to postgresql://app:s3cret@db/app",
            "password": "x",
            "headers": {"Authorization": "Bearer abcdefghij", "accept": "*/*"},
            "sentry_dsn": "https://pub@o1.ingest.example/1",
            "nested": [{"otp": "123456"}, "code=654321&state=ok"],
            "ordering_key": "org-1",
        },
    )
    assert event == {
        "event": "connecting to postgresql://[redacted]@db/app",
        "password": "[redacted]",
        "headers": {"Authorization": "[redacted]", "accept": "*/*"},
        "sentry_dsn": "[redacted]",
        "nested": [{"otp": "[redacted]"}, "code=[redacted]&state=ok"],
        "ordering_key": "org-1",
    }


async def test_a_trusted_proxy_names_the_request_and_the_client(
    make_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Behind a trusted proxy its X-Request-ID is the request's id, and its X-Forwarded-For the client."""
    auth = NO_VERIFICATION.model_copy(update={"trusted_proxies": ["127.0.0.1"]})
    async with make_client(auth=auth, logs=JSON_LOGS, base_url=BASE) as client:
        transport = httpx.ASGITransport(app=client.app, client=("127.0.0.1", 40000))  # type: ignore[attr-defined]
        async with httpx.AsyncClient(transport=transport, base_url=str(client.base_url)) as proxied:
            capsys.readouterr()
            forwarded = {"x-request-id": "edge-7f3a", "x-forwarded-for": "203.0.113.9", **ORIGIN}
            body = {"email": "proxied@example.com", "password": PASSWORD, "name": "Proxied"}
            up = await proxied.post("/api/auth/sign-up/email", json=body, headers=forwarded)
            assert up.status_code == 200, up.text
            assert up.headers["x-request-id"] == "edge-7f3a"
            session = await proxied.get("/api/auth/get-session", headers=forwarded)
            assert session.json()["session"]["ipAddress"] == "203.0.113.9"
        # A peer that is not the proxy is not believed, whatever it sends.
        other = httpx.ASGITransport(app=client.app, client=("198.51.100.4", 40000))  # type: ignore[attr-defined]
        async with httpx.AsyncClient(transport=other, base_url=str(client.base_url)) as direct:
            spoofed = await direct.get("/healthz", headers={"x-request-id": "made-up", "x-forwarded-for": "1.2.3.4"})
            assert spoofed.headers["x-request-id"] != "made-up"
    lines = access_lines(json_lines(capsys.readouterr().err))
    assert "edge-7f3a" in {line["request_id"] for line in lines}


def test_the_level_may_be_written_in_any_case() -> None:
    assert LogSettings(TENANTRY_LOG_LEVEL="warning").level == "WARNING"
    with pytest.raises(ValidationError):
        LogSettings(TENANTRY_LOG_LEVEL="loud")


def test_the_access_lines_short_way_writes_what_the_processor_chain_writes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import structlog

    from tenantry.logs.setup import bound_contextvars, configure_logging

    # Nothing in Tenantry binds structlog's context (only this test, at its end): the short way is open.
    assert not bound_contextvars()
    handler = configure_logging("INFO", "json")
    fields = {"method": "GET", "route": "/api/projects/{id}", "status": 200, "duration_ms": 0.51, "request_id": "r1"}
    fields |= {"user_id": "u1", "organization_id": "o1"}
    handler.write_line("tenantry.access", 20, "GET /api/projects/{id} 200 0.5ms", fields)
    short = json_lines(capsys.readouterr().err)[0]
    handler.json_lines = False  # the whole chain, as for any other line
    handler.write_line("tenantry.access", 20, "GET /api/projects/{id} 200 0.5ms", fields)
    chained = json_lines(capsys.readouterr().err)[0]
    assert short.pop("timestamp").endswith("Z") and chained.pop("timestamp").endswith("Z")
    assert list(short.items()) == list(chained.items())
    assert short["route"] == "/api/projects/{id}" and short["level"] == "info"

    # A key the short way does not know goes through the chain (and its redaction).
    handler.json_lines = True
    handler.write_line("tenantry.access", 20, "event", {**fields, "token": "abcdefgh12345678"})
    assert json_lines(capsys.readouterr().err)[0]["token"] == "[redacted]"
    # So does a line while something is bound to structlog's context: it carries the binding.
    structlog.contextvars.bind_contextvars(tenant_note="kept")
    try:
        handler.write_line("tenantry.access", 20, "event", fields)
        assert json_lines(capsys.readouterr().err)[0]["tenant_note"] == "kept"
    finally:
        structlog.contextvars.clear_contextvars()


async def test_access_lines_wait_to_be_written_together_and_other_lines_keep_their_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import asyncio
    import logging

    from tenantry.logs.setup import configure_logging

    handler = configure_logging("INFO", "json", flush_interval=0.05)
    try:
        fields = {"method": "GET", "route": "/x", "status": 200, "duration_ms": 0.5, "request_id": "r1"}
        handler.write_line("tenantry.access", logging.INFO, "first", fields)
        handler.write_line("tenantry.access", logging.INFO, "second", fields)
        assert capsys.readouterr().err == ""  # both wait
        # Any other line writes what waits first: the order of the lines is the order of events.
        logging.getLogger("tenantry.test").warning("a warning")
        assert [line["event"] for line in json_lines(capsys.readouterr().err)] == ["first", "second", "a warning"]
        # An access line of a 5xx (an error) does not wait either.
        handler.write_line("tenantry.access", logging.INFO, "third", fields)
        handler.write_line("tenantry.access", logging.ERROR, "failed", {**fields, "status": 500})
        assert [line["event"] for line in json_lines(capsys.readouterr().err)] == ["third", "failed"]
        # Left alone, waiting lines go out after the interval, on the event loop.
        handler.write_line("tenantry.access", logging.INFO, "fourth", fields)
        assert capsys.readouterr().err == ""
        await asyncio.sleep(0.2)
        assert [line["event"] for line in json_lines(capsys.readouterr().err)] == ["fourth"]
        # 64 KiB waiting are written at once.
        long = {**fields, "route": "/" + "r" * 1000}
        for _ in range(70):
            handler.write_line("tenantry.access", logging.INFO, "bulk", long)
        assert 0 < len(json_lines(capsys.readouterr().err)) < 70  # 64 KiB went out, the rest waits
        handler.flush()  # what a shutdown does
        capsys.readouterr()
        # Outside an event loop nothing can schedule the flush: the line is written at once.
        await asyncio.to_thread(handler.write_line, "tenantry.access", logging.INFO, "threaded", fields)
        assert [line["event"] for line in json_lines(capsys.readouterr().err)] == ["threaded"]
    finally:
        configure_logging("INFO", "json")


async def test_development_writes_each_access_line_at_once(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, logs=JSON_LOGS) as client:
        assert runtime(client).get(Logs).handler.flush_interval == 0.0


def test_the_timestamp_is_the_utc_time_to_the_microsecond_across_seconds_and_a_clock_set_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import datetime as dt
    import time

    from tenantry.logs.setup import UtcTimestamp

    def expected(ns: int) -> str:
        moment = dt.datetime.fromtimestamp(ns // 1_000_000_000, dt.UTC)
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{ns // 1000 % 1_000_000:06d}Z"

    stamp = UtcTimestamp()
    second = 1_796_000_000 * 1_000_000_000
    # Within a second, its first and last microsecond, the next second, then the clock set back.
    for ns in (second + 295_527_000, second, second + 999_999_999, second + 1_000_000_000, second - 1_000):
        monkeypatch.setattr(time, "time_ns", lambda ns=ns: ns)
        assert stamp.now() == expected(ns)
        assert stamp(None, "info", {}) == {"timestamp": expected(ns)}


def test_a_served_app_loads_neither_rich_nor_pygments_and_still_logs_tracebacks() -> None:
    """structlog is imported with Rich hidden (``tenantry.logs.structlog_without_rich``): a worker
    loads neither Rich nor Pygments, its exceptions are still logged with their traceback in both
    formats, and Rich stays importable afterwards (the command line's console)."""
    script = """
import logging, sys
import tenantry.app
from tenantry.logs import configure_logging
print("loaded:", sorted(m for m in ("rich", "pygments") if m in sys.modules))
for fmt in ("json", "console"):
    configure_logging("INFO", fmt)
    try:
        raise RuntimeError("the reason " + fmt)
    except RuntimeError:
        logging.getLogger("tenantry.test").exception("it failed")
import rich.console
print("rich:", rich.console.Console.__name__)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["loaded: []", "rich: Console"], done.stdout
    json_line = next(line for line in done.stderr.splitlines() if line.startswith("{"))
    assert "Traceback (most recent call last)" in json.loads(json_line)["exception"], json_line
    assert "RuntimeError: the reason json" in json.loads(json_line)["exception"]
    assert "RuntimeError: the reason console" in done.stderr and done.stderr.count("Traceback") == 2, done.stderr
