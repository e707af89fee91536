"""Three `tenantry serve` nodes behind nginx (deploy/nginx.conf), on PostgreSQL and Redis.

A session made on one node works on the others, the npm socket.io-client receives pushes through
nginx over WebSocket and over long polling, a socket closed by each stopping node reconnects
through nginx to another, and a rolling restart of all three under a steady
load of reads and writes (POSTs included) through nginx fails no request: each stopping node
refuses new connections, so nginx passes them to the next one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, require_service
from tests.deploy.load import LoadLoop, start_loops
from tests.deploy.nodes import Node, base_env, free_port, make_project, sign_up

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
COMPAT = ROOT / "tests" / "compat"
NGINX_TAKES_A_NODE_BACK = 2.0  # seconds after a restarted node is ready
REDIS_URL = os.environ.get("TENANTRY_TEST_REDIS", "redis://127.0.0.1:6379/0")
LOOPS = 4


def nginx_config(ports: list[int], listen: int) -> str:
    """deploy/nginx.conf with this test's node addresses and port."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    for number, port in enumerate(ports, start=1):
        text = text.replace(f"server app{number}:8000", f"server 127.0.0.1:{port}")
    assert "app1:" not in text and "listen 8080;" in text
    return text.replace("listen 8080;", f"listen 127.0.0.1:{listen};")


def run_socketio_client(proxy: str, token: str) -> list[str]:
    """tests/compat/realtime-proxy.mjs (the npm socket.io-client) against ``proxy``; its output lines."""
    if shutil.which("node") is None or not (COMPAT / "node_modules" / "socket.io-client").is_dir():
        require_service("Node.js and socket.io-client", "run `npm ci` in tests/compat (make test does)")
    result = subprocess.run(
        ["node", str(COMPAT / "realtime-proxy.mjs")],
        cwd=COMPAT,
        env={"PATH": os.environ["PATH"], "NODE_NO_WARNINGS": "1", "PROXY": proxy, "TOKEN": token},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "DONE", lines
    return lines


@pytest.fixture
def nginx_dir(tmp_path: Path) -> Iterator[Path]:
    if not os.path.exists(NGINX):
        require_service("nginx", "the Debian package nginx is not installed")
    folder = tmp_path / "nginx"
    (folder / "tmp").mkdir(parents=True)
    (folder / "logs").mkdir()
    yield folder


@pytest.mark.slow(38)
def test_three_nodes_behind_nginx_restart_one_by_one_without_a_failed_request(
    tmp_path: Path, nginx_dir: Path, postgres_databases: object
) -> None:
    from tests.conftest import postgres_scratch

    database_url = postgres_scratch(postgres_databases)  # type: ignore[arg-type]
    project = make_project(tmp_path, database_url)
    listen = free_port()
    proxy = f"http://127.0.0.1:{listen}"
    env = base_env(
        project,
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "TENANTRY_BASE_URL": proxy,
            "TENANTRY_TRUSTED_PROXIES": "127.0.0.1",
            "TENANTRY_MAIL_FILE": str(tmp_path / "mail.jsonl"),
            "TENANTRY_SHUTDOWN_GRACE": "10",
        },
    )
    # One worker per node at first: Socket.IO's long polling needs every poll of a session to reach
    # the one process holding it, and nginx's hash picks a node, not a process of it.
    nodes = [Node(project, env, workers=1) for _ in range(3)]
    (nginx_dir / "nginx.conf").write_text(nginx_config([n.port for n in nodes], listen))
    nginx: subprocess.Popen[bytes] | None = None
    try:
        nodes[0].start(migrate=True, wait=False)
        nodes[0].wait_ready()
        for node in nodes[1:]:
            node.start(wait=False)
        for node in nodes[1:]:
            node.wait_ready()
        nginx = subprocess.Popen(
            [NGINX, "-p", str(nginx_dir), "-c", "nginx.conf", "-g", f"daemon off; pid {nginx_dir / 'nginx.pid'};"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if httpx.get(f"{proxy}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert nginx.poll() is None and time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)

        # A session made through one node is good on every other.
        token = sign_up(nodes[0].url, "nodes@example.com", proxy)
        for node in nodes:
            session = httpx.get(f"{node.url}/api/auth/get-session", headers={"authorization": f"Bearer {token}"})
            assert session.status_code == 200 and session.json()["user"]["email"] == "nodes@example.com"

        # Socket.IO through nginx: upgraded to WebSocket, and on long polling (sticky to one node).
        realtime = run_socketio_client(proxy, token)
        for transport in ("websocket", "polling"):
            assert [line for line in realtime if line.startswith(transport)] == [
                f"{transport} ping {n}" for n in (1, 2, 3)
            ], realtime

        # A socket kept open through the restarts: closed by each stopping node, it reconnects.
        follower = subprocess.Popen(
            ["node", str(COMPAT / "realtime-follow.mjs")],
            cwd=COMPAT,
            env={"PATH": os.environ["PATH"], "NODE_NO_WARNINGS": "1", "PROXY": proxy, "TOKEN": token},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert follower.stdout is not None and follower.stdin is not None
        assert follower.stdout.readline().strip() == "CONNECTED"

        stop = threading.Event()
        loops = [LoadLoop(proxy, token, "nodes@example.com", proxy, stop, pause=0.005) for _ in range(LOOPS)]
        threads = start_loops(loops)
        started = time.monotonic()
        try:
            # Two rounds: one-worker nodes replaced by two-worker nodes, then those restarted (the
            # case where a stopping supervisor used to accept connections and reset them).
            for _ in range(2):
                for node in nodes:
                    node.terminate()
                    assert node.wait(30) == 0, node.output()[-2000:]
                    node.workers = 2
                    node.start(wait=False)
                    node.wait_ready()
                    # As docs/deploy.md says: until nginx takes the node back (fail_timeout 1 s,
                    # counted in whole seconds), stopping the next one could leave no node on its list.
                    time.sleep(NGINX_TAKES_A_NODE_BACK)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        restart_seconds = time.monotonic() - started
        follower.stdin.write("END\n")
        follower.stdin.flush()
        summary = json.loads(follower.stdout.readline())
        follower.wait(10)
        outcomes = [o for loop in loops for o in loop.outcomes]
        bad = [o for o in outcomes if o.kind != "ok" or o.status not in (200, 201)]
        posts = sum(o.what.startswith("POST") for o in outcomes)
        print(
            f"\nrolling restart of 3 nodes, twice: {restart_seconds:.1f} s, {len(outcomes)} requests ({posts} POSTs), "
            f"{len(bad)} failed, socket reconnected {len(summary['reasons'])} times"
        )
        # Closed by stopping nodes as a transport close (never "io server disconnect"), and back.
        assert summary["reasons"] and set(summary["reasons"]) == {"transport close"}, summary
        assert summary["connected"] and summary["connects"] == len(summary["reasons"]) + 1, summary
        assert bad == [], bad[:5]
        assert posts > 10
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(10)
        for node in nodes:
            node.stop()
