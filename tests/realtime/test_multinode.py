"""Two server processes on different ports sharing PostgreSQL and Redis (python-socketio's Redis manager).

A socket on node A receives what a write on node B caused, and is disconnected at once when its
session is revoked through node B; with Redis stopped, requests still succeed and the pushes wait
in the outbox; once Redis is back they arrive, in order, and the outage was logged once per node.
Redis here is a private ``redis-server`` on a free port, so stopping it disturbs nothing else.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tenantry.app import app_tables
from tenantry.auth import AuthSettings
from tenantry.config import Settings
from tenantry.db.migrations import sync_schema
from tests.conftest import require_service, seed_project, seed_schema
from tests.realtime.test_socketio_client import COMPAT, node_ready


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A ``redis-server`` of this test's own, stopped and started again on the same port."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            require_service("Redis", "redis-server is not on PATH")
        self.binary = binary or "redis-server"
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url, socket_timeout=1).ping()
                return
            except redis.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


def start_node(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "uvicorn", "--factory", "tenantry.app:app_from_env"]
    args += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    node_env = {**env, "TENANTRY_BASE_URL": f"http://127.0.0.1:{port}"}
    proc = subprocess.Popen(args, env=node_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/auth/ok", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow(20)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_nodes_share_events_through_redis(database_url: str, private_redis: PrivateRedis, tmp_path: Path) -> None:
    node_ready()
    schema = seed_schema()
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_RATE_LIMIT="off")
    asyncio.run(
        asyncio.to_thread(sync_schema, database_url, app_tables(schema, Settings(DATABASE_URL=database_url, auth=auth)))
    )
    ports = (free_port(), free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_") and k != "DATABASE_URL"}
    env.update(
        TENANTRY_SCHEMA=str(seed_project(tmp_path) / "schema.yaml"),
        DATABASE_URL=database_url,
        REDIS_URL=private_redis.url,
        TENANTRY_SECRET="m" * 48,
        TENANTRY_REQUIRE_EMAIL_VERIFICATION="false",
        TENANTRY_RATE_LIMIT="off",
        TENANTRY_OPEN_API="false",
        TENANTRY_AUTO_MIGRATE="false",
        # Revocations must reach the other node through Redis, not through a periodic pass.
        TENANTRY_REALTIME_RECHECK_SECONDS="600",
        TENANTRY_TRUSTED_ORIGINS=",".join(f"http://127.0.0.1:{p}" for p in ports),
    )
    nodes = [start_node(env, port) for port in ports]
    try:
        script = subprocess.Popen(
            ["node", str(COMPAT / "realtime-nodes.mjs")],
            cwd=COMPAT,
            env={
                "PATH": str(Path(shutil.which("node") or "node").parent),
                "NODE_NO_WARNINGS": "1",
                "NODE_A": f"http://127.0.0.1:{ports[0]}",
                "NODE_B": f"http://127.0.0.1:{ports[1]}",
            },
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert script.stdin is not None and script.stdout is not None
        output: list[str] = []
        for line in script.stdout:
            output.append(line)
            command = line.strip()
            if command == "KILL_REDIS":
                private_redis.stop()
            elif command == "START_REDIS":
                private_redis.start()
            else:
                continue
            script.stdin.write("DONE\n")
            script.stdin.flush()
        code = script.wait(timeout=120)
        text = "".join(output)
        assert code == 0, text
        steps = (
            "cross-node delivery",
            "cross-node revocation",
            "requests during the outage",
            "held pushes delivered",
            "delivery after outage",
        )
        for step in (f"{s}: ok" for s in steps):
            assert step in text, text
    finally:
        logs = []
        for proc in nodes:
            proc.terminate()
            out, _ = proc.communicate(timeout=15)
            logs.append(out.decode(errors="replace"))
    for log in logs:
        # The outage is logged once per node (when it starts; its end once more), not once per push.
        assert log.count("Redis (realtime) unavailable") == 1, log
        assert "Cannot publish to redis" not in log and "Traceback" not in log, log
