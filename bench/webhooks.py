"""Outbound webhooks: what they cost the write path, deliveries per second, commit-to-delivery latency.

    .venv/bin/python bench/webhooks.py [--duration 10] [--rounds 3] [--endpoints 50] [--deliveries worker|web] [--quick]

Creates two databases with the seed's schema (``tenantry_bench_webhooks_on`` and ``…_off``) and
starts Tenantry on each (uvicorn, one worker each, ports 8851/8852), each with a background worker
process beside it making its deliveries (``TENANTRY_BACKGROUND=false`` on the web process, as
``tenantry worker`` is deployed; ``--deliveries web`` makes them in the web process, as a single
``tenantry serve`` does), and a receiver (``webhook_receiver.py``, uvicorn, port
8853) that answers 204 and notes when each message arrived. The servers run with
``TENANTRY_ENV=development`` and the API closed (``TENANTRY_OPEN_API=false``): the receiver listens
on 127.0.0.1, which needs ``TENANTRY_WEBHOOKS_ALLOW_PRIVATE=true``, and production refuses that
setting. Every request is a signed-in admin's, with a bearer session, as in production.

On each server ``--users`` users sign up with an organization of their own. On ``ours`` the
organizations together have ``--endpoints`` endpoints subscribed to ``projects.created`` (spread
evenly), all pointing at the receiver; ``no-hooks`` has none. Three measurements:

a. writes: wrk posts ``POST /api/projects`` as those admins (a different one on every request),
   alternating between the servers as the other benchmarks do; the ratio is on / off. The
   deliveries these writes cause are made while wrk runs (by the worker process, at a lower
   priority: this machine has no other to run it on); after every run the script waits until its
   deliveries have all arrived (so no backlog shares the machine with the next run) and prints how
   long that took after ``ours``' runs.
b. deliveries per second: an organization with 1 endpoint, then one with ``--endpoints`` endpoints,
   each writes ``--burst`` projects as fast as it can; the rate is what the receiver got over the
   time from the first write to the last arrival.
c. commit-to-delivery: the organization with ``--endpoints`` endpoints writes ``--rate`` projects a
   second for ``--paced`` seconds; latency is arrival minus the payload's ``timestamp`` (the event's
   ``created_at``, written in the transaction), p50 and p99 over every delivery.

Needs ``wrk``; everything started is stopped and both databases dropped on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from common import (
    DB_PREFIX,
    DEFAULT_PG,
    WRK_DONE_LUA,
    BenchError,
    Run,
    Server,
    alternate,
    create_database,
    drop_database,
    http_request,
    log,
    print_table,
    print_totals,
    require_free_ports,
    require_wrk,
    shielded_cleanup,
    summarize,
    terminate_as_interrupt,
    uvicorn_argv,
    wait_ready,
    wrk_run,
)
from tenancy import PASSWORD, create_tables, make_server

REF = "no-hooks"
ENDPOINTS = [("write", "POST /api/projects")]

# Each request posts a project as the next token of the file, thread by thread.
WRK_LUA = (
    r"""
local tokens = {}
local n = 0
local i = 0
function init(args)
  for line in io.lines(args[1]) do
    n = n + 1
    tokens[n] = line
  end
  i = math.random(n)
end
function request()
  i = i % n + 1
  return wrk.format("POST", "/api/projects", {["Authorization"] = "Bearer " .. tokens[i],
    ["Content-Type"] = "application/json"}, '{"name": "Load"}')
end
"""
    + WRK_DONE_LUA
)


@dataclass(frozen=True)
class Options:
    duration: int
    connections: int
    threads: int
    rounds: int
    warmup: int
    users: int
    endpoints: int
    burst: int
    rate: int
    paced: int
    pg_url: str
    ports: tuple[int, int, int]
    deliveries: str

    def url(self, db: str) -> str:
        return f"{self.pg_url.rstrip('/')}/{db}"


def parse_args(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--duration", type=int, default=10, help="seconds per measured wrk run (default 10)")
    p.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="measured runs per server, >= 2 (default 3)")
    p.add_argument("--warmup", type=int, default=5, help="warm-up seconds per server (default 5)")
    p.add_argument("--users", type=int, default=50, help="writing users, each with an organization (default 50)")
    p.add_argument("--endpoints", type=int, default=50, help="endpoints subscribed (default 50)")
    p.add_argument("--burst", type=int, default=200, help="projects written for the deliveries/s figure (default 200)")
    p.add_argument("--rate", type=int, default=2, help="projects a second for the latency figure (default 2)")
    p.add_argument("--paced", type=int, default=10, help="seconds of paced writes for the latency figure (default 10)")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 s runs, 2 rounds, 2 s warm-up, 10 users")
    p.add_argument("--pg-url", default=DEFAULT_PG, help=f"PostgreSQL server, no database (default {DEFAULT_PG})")
    p.add_argument("--ports", default="8851,8852,8853", help="ours, no-hooks, receiver (default 8851,8852,8853)")
    p.add_argument(
        "--deliveries",
        choices=("worker", "web"),
        default="worker",
        help="where deliveries are made: a `tenantry worker` process beside each server, niced (default), "
        "or the web process itself",
    )
    a = p.parse_args(argv)
    if a.quick:
        a.duration, a.rounds, a.warmup, a.users, a.burst, a.paced = 3, 2, 2, min(a.users, 10), 50, 3
    if a.rounds < 2:
        p.error("--rounds must be at least 2")
    ports = tuple(int(x) for x in a.ports.split(","))
    if len(ports) != 3:
        p.error("--ports takes three ports")
    return Options(
        a.duration,
        a.connections,
        a.threads,
        a.rounds,
        a.warmup,
        a.users,
        a.endpoints,
        a.burst,
        a.rate,
        a.paced,
        a.pg_url,
        (ports[0], ports[1], ports[2]),
        a.deliveries,
    )


def hooks_server(name: str, port: int, url: str, workdir: Path) -> Server:
    server = make_server(name, port, url, workdir)
    server.env["TENANTRY_WEBHOOKS_ALLOW_PRIVATE"] = "true"
    server.env["TENANTRY_MAIL_BACKEND"] = "file"
    server.env["TENANTRY_MAIL_FILE"] = str(workdir / f"{name}-mail.jsonl")
    return server


# What ``tenantry worker`` runs once it has checked the database (the benchmark's has no migrations).
WORKER_CODE = "import asyncio; from tenantry.app import run_worker; asyncio.run(run_worker())"


def background_worker(server: Server, workdir: Path) -> Server:
    """The process making ``server``'s deliveries, at a lower priority than the requests it serves.

    On machines of their own in production; on this shared machine ``nice`` lets requests go first,
    and the deliveries catch up once the load stops (the drain time printed).
    """
    env = dict(server.env, TENANTRY_BACKGROUND="true", TENANTRY_LOG_LEVEL="info")
    argv = ["nice", "-n", "10", sys.executable, "-c", WORKER_CODE]
    return Server(f"{server.name}-worker", 0, argv, env, workdir / f"{server.name}-worker.log")


def wait_started(worker: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not worker.alive():
            raise BenchError(f"{worker.name} exited during start-up:\n{worker.log_tail()}")
        if "worker started" in worker.log_tail(200):
            return
        time.sleep(0.2)
    raise BenchError(f"{worker.name} not started after {timeout:.0f} s:\n{worker.log_tail()}")


def sign_up(server: Server, label: str) -> str:
    """A user with an organization of their own; their bearer token."""
    body = {"email": f"{label}@example.com", "password": PASSWORD, "name": label, "organizationName": f"Org {label}"}
    reply = http_request(server, "POST", "/api/auth/sign-up/email", body, {"Origin": server.base_url})
    if reply.status != 200:
        raise BenchError(f"sign-up on {server.name} answered {reply.status}: {reply.body[:300]!r}")
    return reply.header("set-auth-token")


def add_endpoints(server: Server, token: str, url: str, count: int) -> None:
    for _ in range(count):
        body = {"url": url, "event_types": ["projects.created"]}
        reply = http_request(server, "POST", "/api/webhooks/endpoints", body, {"Authorization": f"Bearer {token}"})
        if reply.status != 201:
            raise BenchError(f"adding an endpoint on {server.name} answered {reply.status}: {reply.body[:300]!r}")


def write_project(server: Server, token: str, name: str) -> None:
    reply = http_request(server, "POST", "/api/projects", {"name": name}, {"Authorization": f"Bearer {token}"})
    if reply.status != 201:
        raise BenchError(f"creating a project on {server.name} answered {reply.status}: {reply.body[:300]!r}")


def arrivals(receiver: Server, since: int = 0) -> list[tuple[float, str, str]]:
    reply = http_request(receiver, "GET", f"/stats?since={since}")
    found = reply.json()
    assert isinstance(found, list)
    return [(float(a), str(b), str(c)) for a, b, c in found]


def received(receiver: Server) -> int:
    return len(arrivals(receiver))


def wait_for(receiver: Server, count: int, timeout: float = 300.0) -> float:
    """Seconds until the receiver has ``count`` messages in all; raises when they stop coming."""
    started = time.monotonic()
    last, last_change = -1, started
    while True:
        got = received(receiver)
        now = time.monotonic()
        if got >= count:
            return now - started
        if got != last:
            last, last_change = got, now
        if now - last_change > 30 or now - started > timeout:
            raise BenchError(f"the receiver has {got} of {count} messages and no more are coming")
        time.sleep(0.1)


def settled(receiver: Server, quiet: float = 3.0) -> float:
    """Wait until nothing has arrived for ``quiet`` seconds; the last arrival's time (epoch seconds)."""
    last_count, last_change = -1, time.monotonic()
    while time.monotonic() - last_change < quiet:
        got = received(receiver)
        if got != last_count:
            last_count, last_change = got, time.monotonic()
        time.sleep(0.2)
    found = arrivals(receiver, max(0, last_count - 1))
    return found[-1][0] if found else 0.0


# Seconds from the end of each measured run on ``ours`` to the last delivery its writes caused.
drains: list[float] = []


def run_wrk(
    opts: Options,
    script: Path,
    tokens: dict[str, Path],
    receiver: Server,
    server: Server,
    key: str,
    secs: int,
    rnd: int,
) -> Run:
    # Every run starts with no delivery left over from the one before, so neither server's run
    # shares the machine with the other's backlog.
    settled(receiver, quiet=1.0)
    argv = ["wrk", f"-t{opts.threads}", f"-c{opts.connections}", f"-d{secs}s", "-s", str(script), server.base_url]
    run = wrk_run([*argv, "--", str(tokens[server.name])], server, key, rnd)
    if rnd and server.name == "ours":
        ended = time.time()
        drains.append(max(0.0, settled(receiver, quiet=1.0) - ended))
    return run


def deliveries_per_second(server: Server, receiver: Server, label: str, endpoints: int, burst: int) -> float:
    """``burst`` projects written by 4 threads in an organization with ``endpoints`` endpoints."""
    token = sign_up(server, label)
    add_endpoints(server, token, f"{receiver.base_url}/{label}", endpoints)
    before = received(receiver)
    started = time.time()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: write_project(server, token, f"{label} {n}"), range(burst)))
    wait_for(receiver, before + burst * endpoints)
    last = max(a for a, _, _ in arrivals(receiver, before))
    rate = burst * endpoints / (last - started)
    log(f"{label}: {burst} writes x {endpoints} endpoints delivered in {last - started:.2f} s: {rate:.0f}/s")
    return rate


def latency(server: Server, receiver: Server, opts: Options) -> tuple[float, float, int]:
    """p50 and p99 (ms) of arrival minus event time, writes paced at ``--rate`` a second."""
    token = sign_up(server, "paced")
    add_endpoints(server, token, f"{receiver.base_url}/paced", opts.endpoints)
    before = received(receiver)
    writes = opts.rate * opts.paced
    start = time.monotonic()
    for n in range(writes):
        time.sleep(max(0.0, start + n / opts.rate - time.monotonic()))
        write_project(server, token, f"paced {n}")
    wait_for(receiver, before + writes * opts.endpoints)
    delays = [
        (arrival - dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()) * 1000
        for arrival, _, stamp in arrivals(receiver, before)
    ]
    cuts = statistics.quantiles(delays, n=100)
    return cuts[49], cuts[98], len(delays)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    dbs = {"ours": f"{DB_PREFIX}_webhooks_on", REF: f"{DB_PREFIX}_webhooks_off"}
    servers: list[Server] = []
    created: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tenantry-bench-webhooks-") as tmp, terminate_as_interrupt():
        workdir = Path(tmp)
        try:
            require_wrk()
            require_free_ports(*opts.ports)
            for db in dbs.values():
                log(f"creating database {db}")
                asyncio.run(create_database(opts.pg_url, db))
                created.append(db)
                create_tables(opts.url(db), rls=True)
            ours = hooks_server("ours", opts.ports[0], opts.url(dbs["ours"]), workdir)
            ref = hooks_server(REF, opts.ports[1], opts.url(dbs[REF]), workdir)
            receiver = Server(
                "receiver",
                opts.ports[2],
                uvicorn_argv("webhook_receiver:factory", opts.ports[2]),
                dict(ours.env),
                workdir / "receiver.log",
            )
            servers += [receiver, ours, ref]
            receiver.start(Path(__file__).resolve().parent)
            wait_ready(receiver, "/ok")
            for server in (ours, ref):
                if opts.deliveries == "worker":
                    server.env["TENANTRY_BACKGROUND"] = "false"
                server.start(workdir)
                wait_ready(server, "/api/auth/ok")
                if opts.deliveries == "worker":
                    worker = background_worker(server, workdir)
                    servers.append(worker)
                    worker.start(workdir)
                    wait_started(worker)
            token_files: dict[str, Path] = {}
            per_org = [opts.endpoints // opts.users + (i < opts.endpoints % opts.users) for i in range(opts.users)]
            for server in (ours, ref):
                log(f"seeding {opts.users} organizations on {server.name}")
                with ThreadPoolExecutor(4) as pool:
                    tokens = list(pool.map(functools.partial(sign_up, server), (f"user{i}" for i in range(opts.users))))
                if server is ours:
                    for token, count in zip(tokens, per_org, strict=True):
                        add_endpoints(server, token, f"{receiver.base_url}/load", count)
                token_files[server.name] = workdir / f"{server.name}-tokens.txt"
                token_files[server.name].write_text("\n".join(tokens) + "\n")
            script = workdir / "post.lua"
            script.write_text(WRK_LUA)
            runs = alternate(
                [key for key, _ in ENDPOINTS],
                ours,
                ref,
                functools.partial(run_wrk, opts, script, token_files, receiver),
                warmup=opts.warmup,
                rounds=opts.rounds,
                duration=opts.duration,
            )
            drain = statistics.median(drains)
            one = deliveries_per_second(ours, receiver, "one", 1, opts.burst)
            many = deliveries_per_second(ours, receiver, "many", opts.endpoints, opts.burst)
            log(f"paced writes: {opts.rate}/s for {opts.paced} s to {opts.endpoints} endpoints")
            p50, p99, count = latency(ours, receiver, opts)

            made_by = "a worker process beside each server" if opts.deliveries == "worker" else "the web process"
            print(
                f"\nWebhooks on vs off ({opts.users} admins writing; on: {opts.endpoints} endpoints subscribed; "
                f"deliveries made by {made_by})\n"
            )
            print_table(summarize(runs, ENDPOINTS, ref=REF), ref=REF)
            print_totals(runs)
            print(f"\nThe deliveries of a measured run's writes were done {drain:.1f} s after it ended (median).")
            print(
                f"Deliveries per second ({opts.burst} writes): 1 endpoint {one:.0f}/s, "
                f"{opts.endpoints} endpoints {many:.0f}/s"
            )
            print(
                f"Commit-to-delivery ({opts.rate} writes/s x {opts.endpoints} endpoints, {count} deliveries): "
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
            )
            return 1 if any(r.non2xx or r.socket_errors for r in runs) else 0
        except BenchError as exc:
            print(f"\nbench: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
        finally:
            with shielded_cleanup():
                for server in servers:
                    server.stop()
                for db in created:
                    with contextlib.suppress(Exception):
                        asyncio.run(drop_database(opts.pg_url, db))


if __name__ == "__main__":
    sys.exit(main())
