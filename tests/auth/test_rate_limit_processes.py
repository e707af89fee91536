"""Rate limits hold across server processes when they share Redis, and per process while it is down."""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tenantry.auth import AuthSettings
from tests.auth.helpers import BASE, sign_in
from tests.conftest import require_service

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TENANTRY_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _require_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        require_service("Redis", f"cannot reach {REDIS_URL}: {exc}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two `tenantry serve` processes of one project, sharing its database and Redis."""
    _require_redis()
    project = tmp_path / "saas"
    shutil.copytree(
        ROOT / "examples" / "saas", project, ignore=shutil.ignore_patterns("*.db*", "__pycache__", ".tenantry")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_") and k != "DATABASE_URL"}
    env.update(
        TENANTRY_SECRET="r" * 48,
        TENANTRY_MAIL_BACKEND="file",
        TENANTRY_MAIL_FILE=str(tmp_path / "mail.jsonl"),
        REDIS_URL=REDIS_URL,
        # The test's requests come from this host, standing in for the proxy that names the client.
        TENANTRY_TRUSTED_PROXIES="127.0.0.1",
    )
    tenantry = str(Path(sys.executable).parent / "tenantry")
    made = subprocess.run([tenantry, "migrate", "make", "-m", "initial"], cwd=project, env=env, capture_output=True)
    assert made.returncode == 0, made.stdout + made.stderr
    procs = []
    urls = []
    try:
        for migrate in (True, False):
            port = _free_port()
            args = [tenantry, "serve", "--host", "127.0.0.1", "--port", str(port)] + (["--migrate"] if migrate else [])
            proc = subprocess.Popen(args, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            procs.append(proc)
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                try:
                    if httpx.get(f"{url}/api/auth/ok", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.05)
            urls.append(url)
        yield urls[0], urls[1]
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.mark.slow(20)
def test_two_processes_share_the_sign_in_limit(two_servers: tuple[str, str]) -> None:
    a, b = two_servers
    # A client address of this test's own (IPv6 documentation range, 64 random bits): the counters
    # live in a Redis that other workers and other test runs may be using at the same time.
    address = str(ipaddress.IPv6Address("2001:db8::") + uuid.uuid4().int % 2**64)
    headers = {"x-forwarded-for": address}
    body = {"email": "nobody@example.com", "password": "wrong-password"}
    statuses = [
        httpx.post(f"{url}/api/auth/sign-in/email", json=body, headers=headers).status_code for url in (a, b, a, b)
    ]
    # Three attempts per 10 s per address, counted in Redis: the fourth is refused, on either process.
    assert statuses == [401, 401, 401, 429]
    refused = httpx.post(f"{b}/api/auth/sign-in/email", json=body, headers=headers)
    assert refused.status_code == 429 and 1 <= int(refused.headers["x-retry-after"]) <= 10


async def test_without_redis_the_sign_in_limit_holds_per_process(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_RATE_LIMIT="on")
    async with make_client(auth=auth, base_url=BASE, REDIS_URL="redis://127.0.0.1:1/0") as client:
        with caplog.at_level(logging.WARNING, logger="tenantry.auth.ratelimit"):
            statuses = [(await sign_in(client, password="wrong-password")).status_code for _ in range(6)]
    # Redis unreachable: sign-in still works, and the limit is counted in this process instead.
    assert statuses == [401, 401, 401, 429, 429, 429]
    outage = [r for r in caplog.records if r.name == "tenantry.auth.ratelimit"]
    assert len(outage) == 1, [r.getMessage() for r in outage]
    assert outage[0].getMessage().startswith("Redis (rate limits) unavailable")
    assert "counted per process" in outage[0].getMessage() and not outage[0].exc_info
