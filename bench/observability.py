"""What logs, metrics and traces cost on the hot path: Tenantry with them on against itself with them off.

    .venv/bin/python bench/observability.py [--duration 10] [--rounds 3] [--quick] [--sample-rate 0.1]
                                            [--mode production|development] [--together]

Starts the same Tenantry twice with uvicorn (one worker each, uvloop + httptools) on one database
and drives both with ``wrk``, alternating run by run. In ``--mode production`` (the default: what
users run) both servers are in production mode, the API is closed and row-level security is on;
``--users`` users sign up, each with an organization of their own and ``--projects`` projects, and
wrk reads as them with bearer sessions, a different user on every request (``bench/tenancy.py``'s
load): the organization's 20 newest projects, one project by id, and ``bench/auth.py``'s
get-session with a session cookie. ``--mode development`` measures ``bench/run.py``'s requests
instead (its seed of 50 organizations and 10,000 projects, the API open, nobody signed in: the
cheapest requests, where a fixed cost per request weighs the most) and get-session.

The two servers:

- **on** (port 8821): JSON log lines with one access line per request (written to a file),
  Prometheus metrics (the request middleware, scraped every second during the runs with a bearer
  token), OpenTelemetry traces sampled at ``--sample-rate`` and exported by OTLP/HTTP to a local
  receiver (``tenantry.emulators.otlp``, served from this process; it decodes each export and counts
  its spans, keeping none: a collector runs elsewhere, so as little of it as possible runs here), and
  with ``--signals …,errors``, error tracking (Sentry's SDK and its Starlette integration; a
  request without an error sends nothing). The default is logs, metrics and traces.
- **off** (port 8822): the same app with the access log off, no metrics token and port (so its
  middleware still counts, the cost of an unscraped counter), no OTLP endpoint (no tracing at all),
  and no error tracking (``TENANTRY_DEV_ERRORS=false``: development mode would otherwise keep
  errors in memory for ``/dev/errors``, with the Sentry SDK's per-request work).

``--together`` loads both at the same time instead, each by its own wrk with half the threads and
connections: the machine's drift slows both alike, and the ratio reads their CPU per request.

It then measures ``/readyz`` and ``/healthz`` latency on the "on" server with wrk (one connection,
then 10).

The ratio printed is on / off (1.00 = free). ``--signals none`` starts two identical servers (both
off): the ratio it prints is the measurement's own spread on this machine, the yardstick for reading
the others (on a shared 2-core machine, 4 rounds of two identical servers have read 0.99-1.07).
Needs ``wrk``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import run
import tenancy
from common import (
    BenchError,
    Run,
    Server,
    alternate,
    create_database,
    drop_database,
    http_get,
    http_request,
    log,
    print_table,
    print_totals,
    py_spy,
    require_free_ports,
    require_wrk,
    shielded_cleanup,
    summarize,
    terminate_as_interrupt,
    together,
    uvicorn_argv,
    wait_ready,
    wrk_run,
)
from tenantry.emulators.otlp import OtlpEmulator
from tenantry.emulators.server import run_in_thread

METRICS_TOKEN = "bench-metrics-token"
SECRET = "bench-observability-secret-0123456789abcdef"
SESSION_PATH = "/api/auth/get-session"
SIGNALS = ("logs", "metrics", "traces", "errors")


@dataclass(frozen=True)
class Options:
    """The options of ``run.py`` the shared seeding and load use, plus this script's own."""

    base: run.Options
    sample_rate: float
    otlp_port: int
    signals: frozenset[str]
    profile: Path | None
    mode: str
    users: int
    projects: int
    together: bool = False


def parse_args(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=10, help="seconds per measured wrk run (default 10)")
    p.add_argument("--rounds", type=int, default=3, help="measured runs per server and endpoint, >= 2 (default 3)")
    p.add_argument("--warmup", type=int, default=5, help="warm-up seconds per server and endpoint (default 5)")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 s runs, 2 rounds, 2 s warm-up")
    p.add_argument("--sample-rate", type=float, default=0.1, help="share of requests traced (default 0.1)")
    p.add_argument("--otlp-port", type=int, default=8823)
    p.add_argument(
        "--signals",
        default="logs,metrics,traces",
        help=f"which of {','.join(SIGNALS)} the 'on' server has, comma-separated (default logs,metrics,traces); "
        "'none': two identical servers, the spread of the measurement itself",
    )
    p.add_argument("--profile", type=Path, metavar="DIR", help="also profile the 'on' server under load with py-spy")
    p.add_argument(
        "--together",
        action="store_true",
        help="load both servers at the same time (each wrk with half the threads and connections) instead of "
        "alternating: the machine's drift then slows both alike",
    )
    p.add_argument(
        "--mode",
        choices=("production", "development"),
        default="production",
        help="production: signed-in users, API closed, RLS on (default); development: bench/run.py's open API",
    )
    p.add_argument("--users", type=int, default=50, help="production mode: users, one organization each (default 50)")
    p.add_argument("--projects", type=int, default=20, help="production mode: projects per organization (default 20)")
    a, rest = p.parse_known_args(argv)
    base = run.parse_args(
        [
            *rest,
            "--duration",
            str(a.duration),
            "--rounds",
            str(a.rounds),
            "--warmup",
            str(a.warmup),
            "--db-name",
            "tenantry_bench_obs",
            "--ours-port",
            "8821",
            "--baseline-port",
            "8822",
            *(["--quick"] if a.quick else []),
        ]
    )
    if not 0 <= a.sample_rate <= 1:
        p.error("--sample-rate is a share between 0 and 1")
    signals = frozenset(filter(None, a.signals.split(",")))
    if signals == {"none"}:
        signals = frozenset()
    elif not signals or signals - set(SIGNALS):
        p.error(f"--signals: one or more of {', '.join(SIGNALS)}, or none")
    users = min(a.users, 10) if a.quick else a.users
    return Options(
        base=base,
        sample_rate=a.sample_rate,
        otlp_port=a.otlp_port,
        signals=signals,
        profile=a.profile,
        mode=a.mode,
        users=users,
        projects=a.projects,
        together=a.together,
    )


def has_sentry() -> bool:
    """Whether this checkout has the error-tracking capability (the script runs on older trees too)."""
    import importlib.util

    return importlib.util.find_spec("tenantry.sentry") is not None


def make_servers(opts: Options, workdir: Path) -> tuple[Server, Server]:
    """Tenantry with the signals on, and Tenantry with them off."""
    o = opts.base
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENANTRY_", "OTEL_", "SENTRY_", "BENCH_"))}
    env.pop("DATABASE_URL", None)
    common = {
        **env,
        "TENANTRY_SCHEMA": str(run.SCHEMA),
        "TENANTRY_HOOKS": str(run.ROOT / "examples" / "saas" / "hooks.py"),
        "DATABASE_URL": o.database_url,
        "TENANTRY_ENV": opts.mode,
        "TENANTRY_DB_POOL_SIZE": str(run.POOL_SIZE),
        "TENANTRY_LOG_FORMAT": "json",
        # Both accept the session one of them signed (the same secret) from the one origin.
        "TENANTRY_SECRET": SECRET,
        "TENANTRY_BASE_URL": f"http://127.0.0.1:{o.baseline_port}",
        "TENANTRY_REQUIRE_EMAIL_VERIFICATION": "false",
        "TENANTRY_RATE_LIMIT": "off",
    }
    if opts.mode == "production":
        # Production refuses the development mail outbox; nothing is mailed during the runs.
        common |= {"TENANTRY_MAIL_BACKEND": "file", "TENANTRY_MAIL_FILE": str(workdir / "mail.jsonl")}
    on_env = {**common, "TENANTRY_ACCESS_LOG": "true" if "logs" in opts.signals else "false"}
    if "metrics" in opts.signals:
        on_env["TENANTRY_METRICS_TOKEN"] = METRICS_TOKEN
    if "traces" in opts.signals:
        on_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{opts.otlp_port}"
        on_env["OTEL_SERVICE_NAME"] = "tenantry-bench"
        on_env["TENANTRY_TRACES_SAMPLE_RATE"] = str(opts.sample_rate)
    if "errors" in opts.signals and has_sentry():
        # Error events only: a request without an error sends nothing, so no receiver is needed.
        on_env["SENTRY_DSN"] = f"http://public@127.0.0.1:{opts.otlp_port}/1"
    if "errors" not in opts.signals:
        on_env["TENANTRY_DEV_ERRORS"] = "false"
    # Development mode keeps errors in memory for /dev/errors by default: off means off here too.
    off_env = {**common, "TENANTRY_ACCESS_LOG": "false", "TENANTRY_DEV_ERRORS": "false"}
    on = Server("ours", o.ours_port, uvicorn_argv("tenantry.app:served_app", o.ours_port), on_env, workdir / "on.log")
    off = Server(
        "off", o.baseline_port, uvicorn_argv("tenantry.app:served_app", o.baseline_port), off_env, workdir / "off.log"
    )
    return on, off


class Scraper:
    """Scrapes ``/metrics`` on the "on" server once a second, as Prometheus would, while the load runs."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.scrapes = 0
        self.failures = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self) -> None:
        request = urllib.request.Request(
            f"{self.server.base_url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        while not self.stopping.wait(1.0):
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    response.read()
                self.scrapes += 1
            except OSError:
                self.failures += 1

    def __enter__(self) -> Scraper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join()


def check_signals(opts: Options, on: Server, off: Server) -> None:
    """The "on" server really has its signals on and the "off" one has not (else the ratio means nothing)."""
    if "metrics" in opts.signals:
        status, _, _body = http_get(on, "/metrics")
        if status != 401:
            raise BenchError(f"/metrics without the token: expected 401 from the 'on' server, got {status}")
        request = urllib.request.Request(f"{on.base_url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            if b"tenantry_http_requests_total" not in response.read():
                raise BenchError("the 'on' server's /metrics has no request counter")
    if "logs" in opts.signals:
        access_lines = [ln for ln in on.log_path.read_text().splitlines() if '"request_id"' in ln]
        if not access_lines:
            raise BenchError("the 'on' server wrote no JSON line with a request id")
        json.loads(access_lines[-1])
    if any('"request_id"' in ln and '"status"' in ln for ln in off.log_path.read_text().splitlines()):
        raise BenchError("the 'off' server wrote access lines")


def session_cookie(server: Server) -> str:
    """Signs a user up on ``server`` and returns the ``Cookie`` header of their session."""
    body = {"email": "observer@example.com", "password": "observability-bench-password", "name": "Observer"}
    reply = http_request(server, "POST", "/api/auth/sign-up/email", body, {"Origin": server.base_url})
    if reply.status != 200:
        raise BenchError(f"sign-up answered {reply.status}: {reply.body[:300]!r}")
    cookies = [c.split(";", 1)[0] for c in reply.all("set-cookie")]
    if not cookies:
        raise BenchError("sign-up set no cookie")
    return "; ".join(cookies)


class Load:
    """One wrk run of an endpoint: ``run.py``'s paths, signed-in users' ``token path`` lines
    (``tenancy.py``'s script), or get-session with one session cookie."""

    def __init__(
        self,
        opts: run.Options,
        ws: run.Workspace,
        cookie: str,
        eps: Sequence[run.Endpoint],
        signed_in: dict[str, Path] | None = None,
    ) -> None:
        self.opts, self.ws, self.cookie = opts, ws, cookie
        self.by_key = {ep.key: ep for ep in eps}
        self.signed_in = signed_in or {}
        self.rotate = ws.dir / "rotate.lua"
        self.rotate.write_text(tenancy.WRK_LUA)

    def __call__(self, server: Server, key: str, seconds: int, rnd: int) -> Run:
        o = self.opts
        if key in self.signed_in:
            argv = ["wrk", f"-t{o.threads}", f"-c{o.connections}", f"-d{seconds}s", "--timeout", "10s"]
            argv += ["-s", str(self.rotate), server.base_url, "--", str(self.signed_in[key])]
            return wrk_run(argv, server, key, rnd)
        argv = run.wrk_argv(o, self.ws, server, self.by_key[key], seconds)
        if key == "session":
            argv[1:1] = ["-H", f"Cookie: {self.cookie}"]
        return wrk_run(argv, server, key, rnd)


def seed_signed_in(opts: Options, server: Server, workdir: Path) -> dict[str, Path]:
    """Production mode: users with organizations and projects, signed up through ``server``; the
    ``token path`` files of the list and get loads."""
    log(f"seeding {opts.users} users, each with an organization of {opts.projects} projects")
    with ThreadPoolExecutor(4) as pool:
        seeded = list(pool.map(functools.partial(tenancy.seed_user, server, opts.projects), range(opts.users)))
    return tenancy.write_scripts(workdir, server, seeded)


def latency(opts: Options, ws: run.Workspace, server: Server, path: str, connections: int) -> Run:
    """wrk on one path (``/readyz``) for a few seconds; its p50/p99 are the probe's latency under that load."""
    ep = run.Endpoint(path.strip("/"), path, [path])
    o = replace(opts.base, connections=connections, threads=1)
    return wrk_run(run.wrk_argv(o, ws, server, ep, max(3, opts.base.duration // 2)), server, ep.key, 0)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    o = opts.base
    servers: list[Server] = []
    db_created = False
    with (
        tempfile.TemporaryDirectory(prefix="tenantry-bench-obs-") as tmp,
        terminate_as_interrupt(),
        contextlib.ExitStack() as stack,
    ):
        try:
            require_wrk()
            if opts.profile is not None and py_spy() is None:
                raise BenchError(f"--profile needs py-spy: {sys.executable} -m pip install py-spy")
            require_free_ports(o.ours_port, o.baseline_port, opts.otlp_port)
            log(f"creating database {o.db_name}")
            asyncio.run(create_database(o.pg_url, o.db_name))
            db_created = True
            run.create_tables(o)
            eps: list[run.Endpoint] = []
            if opts.mode == "development":
                data = asyncio.run(run.seed(o))
                log(f"seeded {len(data.org_ids)} organizations, {len(data.project_ids)} projects")
                eps = run.endpoints(data)
            ws = run.Workspace(Path(tmp))
            receiver = OtlpEmulator(keep_spans=False)  # counts what arrives: no per-span work here
            otlp = run_in_thread(receiver.app(), port=opts.otlp_port)
            stack.callback(otlp.stop)
            on, off = make_servers(opts, Path(tmp))
            servers += [on, off]
            for server in (on, off):
                server.start(Path(tmp))
            for server in (on, off):
                wait_ready(server, "/healthz")
                log(f"{server.name} ready on {server.base_url} (pid {server.pid})")
            signed_in = seed_signed_in(opts, off, Path(tmp)) if opts.mode == "production" else {}
            if signed_in:
                eps = [
                    run.Endpoint("list", "list 20 of own org, RLS", []),
                    run.Endpoint("get", "get by id, RLS", []),
                ]
            check_signals(opts, on, off)
            cookie = session_cookie(off)
            for server in (on, off):
                reply = http_request(server, "GET", SESSION_PATH, headers={"Cookie": cookie})
                if reply.status != 200 or not isinstance(reply.json(), dict):
                    raise BenchError(f"{server.name}: get-session answered {reply.status}: {reply.body[:200]!r}")
            eps = [*eps, run.Endpoint("session", "get-session (cookie)", [SESSION_PATH])]
            # Together, each server's wrk has half the load, so that the machine carries the same.
            shared = replace(o, threads=max(1, o.threads // 2), connections=max(1, o.connections // 2))
            load = Load(shared if opts.together else o, ws, cookie, eps, signed_in)
            with contextlib.ExitStack() as scraping:
                scraper = scraping.enter_context(Scraper(on)) if "metrics" in opts.signals else None
                runs = (together if opts.together else alternate)(
                    [ep.key for ep in eps], on, off, load, warmup=o.warmup, rounds=o.rounds, duration=o.duration
                )
            traced = receiver.wait_for_received(timeout=10) if "traces" in opts.signals and opts.sample_rate > 0 else 0
            if "traces" in opts.signals and opts.sample_rate > 0 and not traced:
                raise BenchError("the 'on' server exported no span to the OTLP receiver")
            summaries = summarize(runs, [(ep.key, ep.label) for ep in eps], ref="off")
            probes = [latency(opts, ws, on, path, c) for path in ("/readyz", "/healthz") for c in (1, 10)]
            print()
            how = (
                f"both loaded at once, each by wrk {shared.threads} thread(s) x {shared.connections} connections"
                if opts.together
                else f"alternating, wrk {o.threads} threads x {o.connections} connections"
            )
            print(
                f"Tenantry ({opts.mode} mode) with its signals (traces sampled at {opts.sample_rate:g}) on against "
                f"off: {o.rounds} rounds x {o.duration}s, {how}."
            )
            print("Medians over the rounds; ratio = on / off (1.00 = the signals cost nothing).")
            print_table(summaries, ref="off")
            named = ", ".join(s for s in SIGNALS if s in opts.signals)
            print(f"\nSignals on: {named or 'none (two identical servers)'}.")
            if scraper is not None:
                print(f"/metrics scraped {scraper.scrapes} times during the runs ({scraper.failures} failures).")
            if traced:
                print(f"{traced} spans received by the OTLP receiver in {receiver.requests} export requests.")
            print("\nProbe latency on the 'on' server (wrk, one thread):")
            for probe, connections in zip(probes, (1, 10, 1, 10), strict=True):
                print(
                    f"  {probe.endpoint:8} {connections:2} connection(s): {probe.rps:7.0f} req/s  "
                    f"p50 {probe.p50_ms:6.2f} ms  p99 {probe.p99_ms:6.2f} ms  max {probe.max_ms:6.2f} ms  "
                    f"non-2xx {probe.non2xx}"
                )
            print_totals(runs)
            if opts.profile is not None and opts.mode == "development":
                run.profile(replace(o, profile=opts.profile), ws, on, eps[:2], "signals-on")  # wrk without the cookie
            bad = [r for r in (*runs, *probes) if r.non2xx or r.socket_errors]
            if bad:
                print(f"\nFAILED: {len(bad)} runs had non-2xx responses or socket errors; the figures are not valid.")
                return 1
            return 0
        except BenchError as exc:
            print(f"\nbench: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("\nbench: interrupted, cleaning up", file=sys.stderr)
            return 130
        finally:
            with shielded_cleanup():
                for server in servers:
                    server.stop()
                if db_created and not o.keep_db:
                    with contextlib.suppress(Exception):
                        asyncio.run(drop_database(o.pg_url, o.db_name))
                        log(f"dropped database {o.db_name}")


if __name__ == "__main__":
    sys.exit(main())
