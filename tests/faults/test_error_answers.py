"""Failures answered on a real server, seen by strict clients: a 500 keeps the connection alive, a
client gone mid-body is a quiet counted event.

``http.client`` never reconnects behind the caller's back (httpx would, hiding a dropped
connection), and the local port proves one TCP connection carried every request.
"""

from __future__ import annotations

import http.client
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tenantry.app import app_tables, create_app, default_capabilities
from tenantry.config import Settings
from tenantry.emulators.server import RunningServer, run_in_thread
from tests.conftest import PrepareDatabase, seed_schema
from tests.sentry.boom import Boom


def failures(kind: str) -> float:
    return REGISTRY.get_sample_value("tenantry_http_failures_total", {"kind": kind}) or 0.0


@pytest.fixture
def server(prepare_database: PrepareDatabase) -> Iterator[RunningServer]:
    """The seed app with the failing ``Boom`` capability, on a real port (development: the API is open)."""
    schema = seed_schema()
    settings = Settings()
    capabilities = [*default_capabilities(settings), Boom()]
    url = prepare_database(app_tables(schema, settings, prepare_database.dialect, capabilities))
    settings = settings.model_copy(update={"database_url": url})
    with run_in_thread(create_app(schema, settings, capabilities=capabilities)) as running:
        yield running


def problems(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    """Lines with a traceback, and anything the server itself logged as an error."""
    return [r for r in records if r.exc_info or (r.name.startswith("uvicorn") and r.levelno >= logging.ERROR)]


def test_a_500_keeps_the_connection_and_logs_one_traceback(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    before = failures("internal_error")
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        answers: list[tuple[int, dict[str, Any] | None]] = []
        ports: set[int] = set()
        with caplog.at_level(logging.INFO):
            for path in ("/api/auth/ok", "/api/boom", "/api/boom", "/api/auth/ok"):
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                assert response.getheader("connection", "").lower() != "close"
                ports.add(conn.sock.getsockname()[1])
                answers.append((response.status, _json(body)))
            time.sleep(0.2)  # any late line of the server's
        assert [status for status, _ in answers] == [200, 500, 500, 200]
        assert answers[1][1] is not None and answers[1][1]["code"] == "INTERNAL_ERROR"
        assert len(ports) == 1, "a request needed a new connection: the server dropped one"
    finally:
        conn.close()
    tracebacks = problems(caplog.records)
    # One line with its traceback per failure, from the error handler; none from the server.
    assert [r.name for r in tracebacks] == ["tenantry.http", "tenantry.http"], [r.getMessage() for r in tracebacks]
    assert all(r.exc_info and r.exc_info[0].__name__ == "BoomError" for r in tracebacks)
    assert failures("internal_error") - before == 2


def test_a_client_gone_mid_body_is_quiet_and_counted(server: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    before = failures("client_disconnected")
    head = (
        "POST /api/auth/sign-up/email HTTP/1.1\r\n"
        f"Host: {server.host}:{server.port}\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n"
    )
    with caplog.at_level(logging.DEBUG, logger="tenantry"):
        for _ in range(3):
            with socket.create_connection((server.host, server.port), timeout=10) as sock:
                sock.sendall(head.encode() + b'{"email": "a')  # 12 of the 100 bytes announced
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(4096):
                    pass  # until the server closes its side
        deadline = time.monotonic() + 5
        while failures("client_disconnected") - before < 3:
            assert time.monotonic() < deadline, "the disconnects were not counted"
            time.sleep(0.02)
        time.sleep(0.2)
    assert problems(caplog.records) == [], [r.getMessage() for r in problems(caplog.records)]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("tenantry")]
    quiet = [r for r in caplog.records if "client disconnected" in r.getMessage()]
    assert len(quiet) == 3 and all(r.levelno == logging.DEBUG for r in quiet)
    # The server still serves.
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", "/api/auth/ok")
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def _json(body: bytes) -> dict[str, Any] | None:
    import json

    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
