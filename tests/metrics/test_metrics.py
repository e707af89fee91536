"""``/metrics`` scraped with prometheus-client's own parser after real requests, on both databases."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from tenantry.auth import AuthSettings
from tenantry.mail import MailSettings
from tenantry.metrics import MetricsSettings, multiprocess
from tests.auth.helpers import BASE, NO_VERIFICATION, ORIGIN, PASSWORD, runtime, sign_in, sign_up

TOKEN = "scrape-token-0123456789abcdef"
BEARER = {"authorization": f"Bearer {TOKEN}"}
WITH_TOKEN = MetricsSettings(TENANTRY_METRICS_TOKEN=SecretStr(TOKEN))
LIMITED = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_RATE_LIMIT="on")


@functools.cache
def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels (the official parser).

    Parsed once per text: the suite's apps share the process's registry, whose exposition grows
    large, and a test reads many values of the same scrape."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_requests_sign_ins_rate_limits_and_no_user_data(make_client: Any) -> None:
    email = "distinctive.person.4711@example.org"
    async with make_client(auth=LIMITED, base_url=BASE, metrics=WITH_TOKEN, TENANTRY_OPEN_API=False) as client:
        before = await scrape(client)
        assert (await sign_up(client, email=email)).status_code == 200
        assert (await sign_in(client, email=email)).status_code == 200
        assert (await sign_in(client, email=email, password=PASSWORD + "x")).status_code == 401
        assert (await client.get("/api/projects/0197a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")).status_code in (401, 403, 404)
        assert (await client.get(f"/no/such/{email}")).status_code == 404
        # The sign-in rule allows 3 per 10 s per address and path: the next ones are refused.
        refused = [(await sign_in(client, email=email, password="wrong")).status_code for _ in range(4)]
        assert 429 in refused
        after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("tenantry_sign_ins_total", method="email") == 1
    assert delta("tenantry_sign_in_failures_total", method="email", reason="INVALID_EMAIL_OR_PASSWORD") >= 1
    assert delta("tenantry_rate_limit_refusals_total", rule="/sign-in") >= 1
    posts = sum(
        v - value(before, n, **dict(labels))
        for (n, labels), v in samples(after).items()
        if n == "tenantry_http_requests_total" and dict(labels).get("method") == "POST"
    )
    assert posts >= 7
    # Templates, not paths: the id and the unmatched path are nowhere; one label for what matched nothing.
    assert delta("tenantry_http_requests_total", route="<unmatched>", method="GET", status="404") >= 1
    assert "0197a1b2" not in after and email not in after and "distinctive" not in after
    assert "/no/such" not in after
    assert value(after, "tenantry_http_request_duration_seconds_count", route="/metrics", method="GET") >= 1
    # The pool, read for the scrape.
    assert value(after, "tenantry_db_pool_max_connections") >= 1
    assert ("tenantry_db_pool_waits_total", ()) in samples(after)


async def test_token_required(make_client: Any) -> None:
    async with make_client(metrics=WITH_TOKEN) as client:
        missing = await client.get("/metrics")
        assert missing.status_code == 401 and missing.json()["code"] == "METRICS_UNAUTHORIZED"
        assert missing.headers["www-authenticate"].startswith("Bearer")
        wrong = await client.get("/metrics", headers={"authorization": f"Bearer {TOKEN[:-1]}X"})
        assert wrong.status_code == 401
        assert (await client.get("/metrics", headers=BEARER)).status_code == 200


async def test_production_without_token_or_port_serves_nothing(make_client: Any) -> None:
    mail = MailSettings(TENANTRY_MAIL_BACKEND="file", TENANTRY_MAIL_FILE=os.devnull)
    async with make_client(mail=mail, TENANTRY_ENV="production", TENANTRY_SECRET="s" * 40) as client:
        response = await client.get("/metrics")
        assert response.status_code == 404 and response.json()["code"] == "METRICS_NOT_SERVED"


async def test_development_is_open(make_client: Any) -> None:
    async with make_client() as client:
        assert (await client.get("/metrics")).status_code == 200


async def test_outbox_backlog_with_a_stopped_worker_and_mail_sent(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE, metrics=WITH_TOKEN) as client:
        app = runtime(client)
        before = await scrape(client)
        await app.outbox.worker("mail").stop()
        body = {"email": "backlog@example.com"}
        signed_up = await client.post(
            "/api/auth/sign-up/email", json={**body, "password": PASSWORD, "name": "B"}, headers=ORIGIN
        )
        assert signed_up.status_code == 200
        assert (await client.post("/api/auth/request-password-reset", json=body, headers=ORIGIN)).status_code == 200
        stalled = await scrape(client)
        assert value(stalled, "tenantry_outbox_backlog_up") == 1
        assert value(stalled, "tenantry_outbox_pending_deliveries", subscriber="mail") >= 1
        assert value(stalled, "tenantry_outbox_oldest_pending_age_seconds", subscriber="mail") >= 0
        # Every registered subscriber has a series, idle ones at 0.
        assert ("tenantry_outbox_pending_deliveries", (("subscriber", "realtime"),)) in samples(stalled)
        await app.outbox.deliver_pending()
        after = await scrape(client)
        assert value(after, "tenantry_outbox_pending_deliveries", subscriber="mail") == 0
        sent = value(after, "tenantry_mail_sent_total", backend="dev")
        assert sent - value(before, "tenantry_mail_sent_total", backend="dev") >= 1


async def test_backlog_unreadable_still_serves_the_rest(make_client: Any) -> None:
    async with make_client(metrics=WITH_TOKEN) as client:
        await runtime(client).db.close()
        text = await scrape(client)
        assert value(text, "tenantry_outbox_backlog_up") == 0
        assert ("tenantry_http_requests_total" in text) or ("tenantry_http_request_duration_seconds" in text)
        await runtime(client).db.open()


WRITER = """
import sys
from tenantry.core.metrics import SIGN_INS, SOCKETS_CONNECTED
SIGN_INS.labels(method="passkey").inc(int(sys.argv[1]))
SOCKETS_CONNECTED.inc(int(sys.argv[1]))
"""


def test_two_processes_one_exposition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes write (as ``--workers 2`` would); one registry over the directory sums them."""
    # ``prepare_directory`` names the directory in this process's environment (for the workers it
    # starts): set here through monkeypatch so that it is gone after the test, or every later app
    # in this process would serve the (empty) multiprocess directory instead of its own metrics.
    monkeypatch.setenv(multiprocess.ENV, str(tmp_path / "metrics"))
    path = multiprocess.prepare_directory(tmp_path / "metrics")
    env = {**os.environ, multiprocess.ENV: str(path)}
    for count in ("2", "3"):
        subprocess.run([sys.executable, "-c", WRITER, count], env=env, check=True)
    from prometheus_client import generate_latest

    text = generate_latest(multiprocess.registry(path)).decode()
    assert value(text, "tenantry_sign_ins_total", method="passkey") == 5
    # Both writers have exited: their live gauges are dropped, their counters kept.
    assert len(multiprocess.forget_dead_processes(path)) == 2
    text = generate_latest(multiprocess.registry(path)).decode()
    assert value(text, "tenantry_realtime_sockets_connected") == 0
    assert value(text, "tenantry_sign_ins_total", method="passkey") == 5
    # A new run starts from nothing.
    multiprocess.prepare_directory(path)
    assert not list(path.glob("*.db"))


async def test_a_port_of_its_own(make_client: Any) -> None:
    """``TENANTRY_METRICS_PORT``: served there (over a real socket), and not on the public port."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    async with make_client(metrics=MetricsSettings(TENANTRY_METRICS_PORT=port)) as client:
        assert (await client.get("/metrics")).status_code == 404
        async with httpx.AsyncClient() as scraper:
            scraped = await scraper.get(f"http://127.0.0.1:{port}/metrics")
        assert scraped.status_code == 200
        assert value(scraped.text, "tenantry_outbox_backlog_up") == 1
        assert (await client.get("/readyz")).status_code == 200  # its server counts among the workers


async def test_a_refused_magic_link_is_a_failed_sign_in(make_client: Any) -> None:
    async with make_client(base_url=BASE, metrics=WITH_TOKEN, TENANTRY_OPEN_API=False) as client:
        before = await scrape(client)
        refused = await client.get("/api/auth/magic-link/verify", params={"token": "x" * 32})
        assert refused.status_code == 302 and "error=INVALID_TOKEN" in refused.headers["location"]
        after = await scrape(client)
    name, labels = "tenantry_sign_in_failures_total", {"method": "magic-link", "reason": "INVALID_TOKEN"}
    assert value(after, name, **labels) - value(before, name, **labels) == 1
