"""A PostgreSQL outage under load, on a real server with strict clients: fast 503s, never a 500 or a
dropped connection, and service back within 5 s of the database's return.

The database is a private cluster (``PrivatePostgres``): stopping it with ``-m immediate`` cuts
every connection as a crash would, and disturbs no other test. Eight client loops, each on one
keep-alive connection (``http.client``: it never reconnects behind the caller's back), alternate a
signed-in create with a session lookup while the database goes away and comes back.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pytest
from prometheus_client import REGISTRY

from tenantry.app import app_tables, create_app
from tenantry.auth import AuthSettings
from tenantry.config import Settings
from tenantry.db.migrations import sync_schema
from tenantry.emulators.server import bind_socket, format_base_url, run_in_thread
from tests.conftest import schema_from_text
from tests.faults.private_postgres import PrivatePostgres

SCHEMA = "notes:\n  - title: string (required)\n"
LOOPS = 8
OUTAGE_SECONDS = 1.0
RESUME_WITHIN = 5.0


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@dataclass
class Answer:
    at: float
    seconds: float
    status: int | None  # None: no answer (the connection failed)
    code: str | None = None
    retry_after: str | None = None
    error: str | None = None


@dataclass
class Loop:
    """One client: one connection, its answers, and the local port of every request."""

    answers: list[Answer] = field(default_factory=list)
    ports: set[int] = field(default_factory=set)


def drive(host: str, port: int, token: str, stop: threading.Event, loop: Loop) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    n = 0
    try:
        while not stop.is_set():
            n += 1
            started = time.monotonic()
            try:
                if n % 2:
                    conn.request("POST", "/api/notes", body=json.dumps({"title": f"note {n}"}), headers=headers)
                else:
                    conn.request("GET", "/api/auth/get-session", headers=headers)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                loop.answers.append(Answer(started, time.monotonic() - started, None, error=repr(exc)))
                return  # a dropped connection: the test fails on it
            loop.ports.add(conn.sock.getsockname()[1])
            code = None
            if response.status >= 400:
                code = json.loads(body).get("code")
            loop.answers.append(
                Answer(started, time.monotonic() - started, response.status, code, response.getheader("retry-after"))
            )
            time.sleep(0.005)
    finally:
        conn.close()


def failures(kind: str) -> float:
    return REGISTRY.get_sample_value("tenantry_http_failures_total", {"kind": kind}) or 0.0


@pytest.mark.slow(12)
def test_a_database_outage_is_fast_503s_and_service_resumes(
    private_postgres: PrivatePostgres, caplog: pytest.LogCaptureFixture
) -> None:
    schema = schema_from_text(SCHEMA)
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_RATE_LIMIT="off")
    sock = bind_socket()
    base_url = format_base_url("127.0.0.1", sock.getsockname()[1])
    settings = Settings(
        DATABASE_URL=private_postgres.url, TENANTRY_OPEN_API=False, TENANTRY_BASE_URL=base_url, auth=auth
    )
    sync_schema(private_postgres.url, app_tables(schema, settings))
    before = failures("database_unavailable")
    with run_in_thread(create_app(schema, settings), sock=sock) as server, caplog.at_level(logging.INFO):
        signed_up = httpx.post(
            f"{server.base_url}/api/auth/sign-up/email",
            json={"email": "outage@example.com", "password": "Password-One-111", "name": "Outage"},
            headers={"origin": server.base_url},
        )
        assert signed_up.status_code == 200, signed_up.text
        token = signed_up.json()["token"]
        stop = threading.Event()
        loops = [Loop() for _ in range(LOOPS)]
        with ThreadPoolExecutor(LOOPS) as pool:
            running = [pool.submit(drive, server.host, server.port, token, stop, loop) for loop in loops]
            time.sleep(0.3)
            down_at = time.monotonic()
            private_postgres.stop()
            time.sleep(OUTAGE_SECONDS)
            private_postgres.start()
            back_at = time.monotonic()
            # Until every loop has been served again after the return (bounded).
            while not all(any(a.at > back_at and a.status == 201 for a in loop.answers) for loop in loops):
                if time.monotonic() > back_at + RESUME_WITHIN + 1 or any(f.done() for f in running):
                    break
                time.sleep(0.05)
            time.sleep(0.2)
            stop.set()
            for done in running:
                done.result()
    answers = [a for loop in loops for a in loop.answers]
    dropped = [a.error for a in answers if a.status is None]
    assert dropped == [], f"connections dropped: {dropped[:3]}"
    statuses = {a.status for a in answers}
    assert 500 not in statuses
    assert statuses <= {200, 201, 503}, statuses
    for loop in loops:
        assert len(loop.ports) == 1, "a loop needed a new connection: one was dropped"
    unavailable = [a for a in answers if a.status == 503]
    assert unavailable, "no request met the outage"
    assert {(a.code, a.retry_after) for a in unavailable} == {("DATABASE_UNAVAILABLE", "1")}
    assert all(down_at - 0.5 < a.at < back_at + RESUME_WITHIN for a in unavailable)
    # Fast: refused connections are answered at once, not after a timeout.
    assert max(a.seconds for a in unavailable) < 1.0, max(a.seconds for a in unavailable)
    # Every loop served again within 5 s of the database's return.
    for loop in loops:
        resumed = [a.at + a.seconds for a in loop.answers if a.at > back_at and a.status == 201]
        assert resumed and resumed[0] - back_at < RESUME_WITHIN, (resumed[:1], back_at)
    assert failures("database_unavailable") - before == len(unavailable)
    # No traceback anywhere, and the outage logged once, not per request.
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    outage_lines = [r for r in caplog.records if r.getMessage().startswith("database unavailable")]
    assert len(outage_lines) == 1, [r.getMessage() for r in outage_lines]
