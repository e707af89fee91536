"""Realtime: commit-to-delivery latency and memory with 1,000 sockets, one node vs two nodes over Redis.

    .venv/bin/python bench/realtime.py [--sockets 1000] [--orgs 50] [--duration 20]

Creates a database with the seed's schema and runs two set-ups in one invocation:

- ``baseline``: one Tenantry node (uvicorn, one worker), python-socketio's in-memory manager;
- ``redis``: two nodes on the same database, sharing pushes through Redis (``REDIS_URL``).

In each, ``--orgs`` organizations get one admin; ``--sockets`` sockets (socket.io-client, from
tests/compat) connect as those admins, spread evenly over the organizations and over the nodes.
Then every organization creates one project per second, through the nodes in turn, for
``--duration`` seconds. Each socket timestamps every ``projects.created`` it receives; latency is
the arrival time minus the event's ``created_at`` (written inside the transaction, so it includes
the commit). Memory is each node's resident set once the organizations exist, and with the
sockets connected.
Needs PostgreSQL, Redis and Node; the database is dropped on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import redis

from common import DEFAULT_PG, ROOT, BenchError, Server, create_database, drop_database, log, uvicorn_argv, wait_ready

REDIS_URL = os.environ.get("TENANTRY_BENCH_REDIS", "redis://127.0.0.1:6379/0")
COMPAT = ROOT / "tests" / "compat"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def migrate(database_url: str) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from tenantry.app import app_tables
    from tenantry.config import Settings
    from tenantry.db.migrations import sync_schema
    from tenantry.schema import load_schema

    schema = load_schema(ROOT / "tests" / "seed_schema.yaml")
    sync_schema(database_url, app_tables(schema, Settings(DATABASE_URL=database_url)))


def run_setup(name: str, nodes: int, redis_url: str | None, database_url: str, args: argparse.Namespace) -> dict:
    ports = [free_port() for _ in range(nodes)]
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(
        TENANTRY_SCHEMA=str(ROOT / "tests" / "seed_schema.yaml"),
        TENANTRY_HOOKS=str(ROOT / "examples" / "saas" / "hooks.py"),
        DATABASE_URL=database_url,
        TENANTRY_SECRET="b" * 48,
        TENANTRY_REQUIRE_EMAIL_VERIFICATION="false",
        TENANTRY_RATE_LIMIT="off",
        TENANTRY_OPEN_API="false",
        TENANTRY_AUTO_MIGRATE="false",
        TENANTRY_MAIL_BACKEND="file",
        TENANTRY_MAIL_FILE=str(Path(tempfile.gettempdir()) / f"bench-mail-{uuid.uuid4().hex[:8]}.jsonl"),
        TENANTRY_TRUSTED_ORIGINS=",".join(f"http://127.0.0.1:{p}" for p in ports),
        TENANTRY_REALTIME_CHANNEL=f"bench-{uuid.uuid4().hex[:8]}",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    servers = []
    logs = Path(tempfile.mkdtemp(prefix="bench-realtime-"))
    try:
        for i, port in enumerate(ports):
            server = Server(
                f"{name}-{i}",
                port,
                uvicorn_argv("tenantry.app:served_app", port),
                {**env, "TENANTRY_BASE_URL": f"http://127.0.0.1:{port}"},
                logs / f"node{i}.log",
            )
            server.start(ROOT)
            servers.append(server)
        for server in servers:
            wait_ready(server, "/api/auth/ok")
        before: list[float] = []
        clients = subprocess.Popen(
            ["node", str(ROOT / "bench" / "realtime_clients.mjs")],
            env={
                "PATH": os.environ["PATH"],
                "COMPAT_DIR": str(COMPAT),
                "NODES": ",".join(s.base_url for s in servers),
                "ORGS": str(args.orgs),
                "SOCKETS": str(args.sockets),
                "DURATION": str(args.duration),
            },
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert clients.stdin is not None and clients.stdout is not None
        connected: list[float] = []
        result: dict = {}
        output: list[str] = []
        for line in clients.stdout:
            output.append(line)
            if line.strip() == "ORGS_READY":
                # Memory once the app has served its first requests (sign-ups included): what the
                # sockets add is measured from here.
                before = [rss_mb(s.pid) for s in servers]
                clients.stdin.write("CONNECT\n")
                clients.stdin.flush()
            elif line.strip() == "CONNECTED":
                connected = [rss_mb(s.pid) for s in servers]
                clients.stdin.write("GO\n")
                clients.stdin.flush()
            elif line.startswith("RESULT "):
                result = json.loads(line[len("RESULT ") :])
        if clients.wait(timeout=120) != 0 or not result:
            raise BenchError("the clients failed:\n" + "".join(output[-30:]))
        result.update(name=name, nodes=nodes, rss_before=before, rss_connected=connected)
        return result
    finally:
        for server in servers:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--orgs", type=int, default=50)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--pg", default=os.environ.get("TENANTRY_BENCH_PG", DEFAULT_PG))
    args = parser.parse_args()
    if args.sockets % args.orgs:
        raise SystemExit("--sockets must be a multiple of --orgs")
    redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    name = f"tenantry_bench_realtime_{uuid.uuid4().hex[:8]}"
    asyncio.run(create_database(args.pg, name))
    database_url = f"{args.pg.rstrip('/')}/{name}"
    try:
        migrate(database_url)
        results = []
        for setup, nodes, redis_url in (("baseline", 1, None), ("redis", 2, REDIS_URL)):
            log(f"{setup}: {nodes} node(s), {args.sockets} sockets, {args.orgs} organizations, {args.duration} s")
            results.append(run_setup(setup, nodes, redis_url, database_url, args))
    finally:
        asyncio.run(drop_database(args.pg, name))
    base = results[0]
    print(
        f"\n{'setup':<10} {'nodes':>5} {'writes':>7} {'delivered':>10} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}  "
        "RSS per node before -> with sockets (MB)"
    )
    for r in results:
        memory = ", ".join(f"{b:.0f} -> {c:.0f}" for b, c in zip(r["rss_before"], r["rss_connected"], strict=True))
        print(
            f"{r['name']:<10} {r['nodes']:>5} {r['writes']:>7} {r['delivered']:>5}/{r['expected']:<5}"
            f"{r['p50']:>7} {r['p99']:>7} {r['max']:>7}  {memory}"
        )
        if r["unexpected"] or r["failed"]:
            print(f"  !! {r['unexpected']} events reached another organization's socket, {r['failed']} writes failed")
    redis_run = results[1]

    def per_socket(r: dict) -> float:
        return (sum(r["rss_connected"]) - sum(r["rss_before"])) * 1024 / args.sockets

    print(
        f"\nredis / baseline: p50 x{redis_run['p50'] / max(base['p50'], 1):.2f}, "
        f"p99 x{redis_run['p99'] / max(base['p99'], 1):.2f}; "
        f"memory per socket {per_socket(redis_run):.0f} KB (baseline {per_socket(base):.0f} KB)"
    )


if __name__ == "__main__":
    main()
