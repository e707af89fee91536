"""What the benchmarks in ``bench/`` share: server processes, wrk runs, A/B rounds, the report, py-spy.

``run.py`` (CRUD vs a raw Starlette baseline) and ``auth.py`` (``/api/auth`` vs the real Better Auth
server) both start two servers, drive them with ``wrk`` in alternating runs, and print medians and
ratios. This module holds those parts; each script keeps its own data, fairness checks and options.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import asyncpg

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432"
DB_PREFIX = "tenantry_bench"

# The ``done`` hook every wrk script of the benchmarks ends with: the figures as one JSON line that
# ``wrk_run`` parses (wrk's own text output rounds too much and has no machine-readable form).
WRK_DONE_LUA = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "non2xx": %d, "connect": %d, ' ..
    '"read": %d, "write": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
"""


class BenchError(Exception):
    """A precondition or check failed; the message says what to do."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def py_spy() -> str | None:
    """The py-spy next to this Python (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        raise BenchError(
            "wrk is not installed. Install it with:  apt-get update && apt-get install -y wrk\n"
            "(wrk is the load generator; a Python one would be the bottleneck at these rates.)"
        )


def require_free_ports(*ports: int) -> None:
    for port in ports:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                raise BenchError(f"port {port} is already in use; stop what listens there or pick another port")


# --------------------------------------------------------------------------------------------------
# Databases


async def create_database(pg_url: str, name: str) -> None:
    """(Re)create the database ``name`` on the server ``pg_url`` (dropping a leftover one first)."""
    conn = await asyncpg.connect(f"{pg_url.rstrip('/')}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(pg_url: str, name: str) -> None:
    conn = await asyncpg.connect(f"{pg_url.rstrip('/')}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def in_process_main(doc: str | None, name: str, run: Callable[[str, int, int], Awaitable[None]]) -> None:
    """The command line of an in-process bench (``--requests``, ``--rounds``, ``--database``):
    ``run(database_url, requests, rounds)`` on a temporary SQLite file, or on a PostgreSQL
    database ``tenantry_bench_<name>_<random>`` made for it and dropped after."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    if args.database == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run(f"sqlite:///{tmp}/bench.db", args.requests, args.rounds))
        return
    database = f"tenantry_bench_{name}_{uuid.uuid4().hex[:8]}"
    asyncio.run(create_database(DEFAULT_PG, database))
    try:
        asyncio.run(run(f"{DEFAULT_PG}/{database}", args.requests, args.rounds))
    finally:
        asyncio.run(drop_database(DEFAULT_PG, database))


# --------------------------------------------------------------------------------------------------
# Servers


@dataclass
class Server:
    """A server subprocess whose pid is the process serving (uvicorn with one worker, or node)."""

    name: str
    port: int
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, cwd: Path) -> None:
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(  # own session: a terminal Ctrl-C is ours to handle
                self.argv, cwd=cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process (all its threads) and its direct children (the
        workers of ``uvicorn --workers N``) have used so far."""
        pids = [self.pid]
        with contextlib.suppress(OSError):
            pids += [int(p) for p in Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()]
        total = 0
        for pid in pids:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def settle(self, idle_share: float = 0.05, window: float = 0.3, timeout: float = 30.0) -> float:
        """Wait until the process uses less than ``idle_share`` of a core; returns the seconds waited.

        After wrk stops, a server may still be working through requests it had queued (slow
        password hashes above all); that work must not overlap the next run on the other server.
        """
        started = time.monotonic()
        while time.monotonic() - started < timeout and self.alive():
            before = self.cpu_seconds()
            time.sleep(window)
            if self.cpu_seconds() - before < idle_share * window:
                break
        return time.monotonic() - started


def uvicorn_argv(target: str, port: int, *extra: str, workers: int = 1) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        *extra,
        target,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


@dataclass
class Reply:
    """A response as the benchmarks need it: status, headers (repeats kept), body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), default)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self) -> object:
        return json.loads(self.body)


def http_request(
    server: Server,
    method: str,
    path: str,
    body: object | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Reply:
    """One request on a fresh connection; ``body`` is sent as JSON."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        sent = dict(headers or {})
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=payload, headers=sent)
        resp = conn.getresponse()
        return Reply(resp.status, resp.getheaders(), resp.read())
    finally:
        conn.close()


def http_get(server: Server, path: str, timeout: float = 10.0) -> tuple[int, str, bytes]:
    """Status, content type and body of ``GET path``."""
    reply = http_request(server, "GET", path, timeout=timeout)
    return reply.status, reply.header("content-type"), reply.body


def wait_ready(server: Server, probe: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise BenchError(f"{server.name} server exited during start-up:\n{server.log_tail()}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if http_get(server, probe, timeout=2.0)[0] == 200:
                return
        time.sleep(0.2)
    raise BenchError(f"{server.name} server not ready after {timeout:.0f} s:\n{server.log_tail()}")


# --------------------------------------------------------------------------------------------------
# Load


@dataclass
class Run:
    """One wrk run against one server."""

    endpoint: str
    server: str
    round: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    socket_errors: int
    cpu_us_per_req: float
    db_cpu_us_per_req: float = 0.0  # the database's CPU, when ``wrk_run`` was told which one


def database_cpu_seconds(database: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving ``database`` (by pid), read from
    ``/proc``: a backend's title names its database (``postgres: 15/main: postgres <db> 127.0.0.1(…)``),
    so other databases' work on a shared server is not counted."""
    found: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not title.startswith("postgres:") or f" {database} " not in title:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    return found


def wrk_run(argv: Sequence[str], server: Server, endpoint: str, rnd: int, database: str | None = None) -> Run:
    """Run wrk (a script ending in ``WRK_DONE_LUA``) against ``server``; raises if it or the server failed.

    CPU per request is the server's CPU time between wrk's start and end over the responses wrk got;
    with ``database``, also the CPU its PostgreSQL backends used meanwhile (``db_cpu_us_per_req``).
    """
    db0 = database_cpu_seconds(database) if database else {}
    cpu0 = server.cpu_seconds()
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    cpu = server.cpu_seconds() - cpu0
    db1 = database_cpu_seconds(database) if database else {}
    db_cpu = sum(seconds - db0.get(pid, 0.0) for pid, seconds in db1.items())
    if not server.alive():
        raise BenchError(f"{server.name} server died under load:\n{server.log_tail()}")
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise BenchError(f"wrk failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    r = json.loads(line.removeprefix("BENCH_RESULT "))
    secs = r["duration_us"] / 1e6
    n = r["requests"]
    return Run(
        endpoint=endpoint,
        server=server.name,
        round=rnd,
        requests=n,
        seconds=secs,
        rps=n / secs if secs else 0.0,
        p50_ms=r["p50_us"] / 1000,
        p90_ms=r["p90_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        max_ms=r["max_us"] / 1000,
        non2xx=r["non2xx"],
        socket_errors=r["connect"] + r["read"] + r["write"] + r["timeout"],
        cpu_us_per_req=cpu / n * 1e6 if n else 0.0,
        db_cpu_us_per_req=db_cpu / n * 1e6 if n else 0.0,
    )


RunOne = Callable[[Server, str, int, int], Run]  # (server, endpoint key, seconds, round) -> Run


def alternate(
    keys: Sequence[str],
    ours: Server,
    ref: Server,
    run_one: RunOne,
    *,
    warmup: int,
    rounds: int,
    duration: int,
) -> list[Run]:
    """Warm up, then per endpoint ``rounds`` runs per server, alternating (A B, B A, A B …)."""
    for key in keys:
        for server in (ours, ref):
            log(f"warm-up {server.name} {key} {warmup}s")
            run_one(server, key, warmup, 0)
    runs: list[Run] = []
    for rnd in range(1, rounds + 1):
        order = (ours, ref) if rnd % 2 else (ref, ours)
        for key in keys:
            for server in order:
                run = run_one(server, key, duration, rnd)
                log_run(run)
                runs.append(run)
    return runs


def log_run(run: Run) -> None:
    """One line for a measured run: its server, throughput, latency and CPU per request."""
    log(
        f"round {run.round} {run.endpoint:4} {run.server:8} {run.rps:8.0f} req/s  p50 {run.p50_ms:6.2f} ms  "
        f"p99 {run.p99_ms:7.2f} ms  cpu {run.cpu_us_per_req:5.0f} us/req  "
        + (f"db cpu {run.db_cpu_us_per_req:5.0f} us/req  " if run.db_cpu_us_per_req else "")
        + f"non-2xx {run.non2xx}"
    )


def together(
    keys: Sequence[str],
    ours: Server,
    ref: Server,
    run_one: RunOne,
    *,
    warmup: int,
    rounds: int,
    duration: int,
) -> list[Run]:
    """Warm up, then per endpoint ``rounds`` runs of both servers at the same time, each under its
    own wrk: whatever else the machine does meanwhile slows both alike, so the ratio of their
    throughputs reads their CPU cost per request (each gets its share of the cores) with the
    machine's drift taken out, where ``alternate`` compares moments seconds apart."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        for key in keys:
            log(f"warm-up {ours.name} and {ref.name} {key} {warmup}s")
            list(pool.map(run_one, (ours, ref), (key, key), (warmup, warmup), (0, 0)))
        runs: list[Run] = []
        for rnd in range(1, rounds + 1):
            for key in keys:
                pair = list(pool.map(run_one, (ours, ref), (key, key), (duration, duration), (rnd, rnd)))
                for run in pair:
                    log_run(run)
                log(f"round {rnd} {key:4} ratio {pair[0].rps / pair[1].rps:.3f}")
                runs += pair
    return runs


# --------------------------------------------------------------------------------------------------
# Report


@dataclass
class Summary:
    """Medians over the rounds of one endpoint, and the ours/reference ratios (``base`` = the reference)."""

    endpoint: str
    label: str
    ours_rps: float
    base_rps: float
    ratio: float
    paired_ratios: list[float]
    ours_p50_ms: float
    ours_p99_ms: float
    base_p50_ms: float
    base_p99_ms: float
    ours_cpu_us: float
    base_cpu_us: float
    ours_db_cpu_us: float = 0.0
    base_db_cpu_us: float = 0.0


def summarize(runs: Sequence[Run], endpoints: Sequence[tuple[str, str]], ref: str = "baseline") -> list[Summary]:
    """One summary per ``(key, label)``; ``ref`` names the reference server's runs."""
    out = []
    med = statistics.median
    for key, label in endpoints:
        ours = sorted((r for r in runs if r.endpoint == key and r.server == "ours"), key=lambda r: r.round)
        base = sorted((r for r in runs if r.endpoint == key and r.server == ref), key=lambda r: r.round)
        ours_rps, base_rps = med(r.rps for r in ours), med(r.rps for r in base)
        out.append(
            Summary(
                endpoint=key,
                label=label,
                ours_rps=ours_rps,
                base_rps=base_rps,
                ratio=ours_rps / base_rps if base_rps else 0.0,
                paired_ratios=[a.rps / b.rps for a, b in zip(ours, base, strict=True) if b.rps],
                ours_p50_ms=med(r.p50_ms for r in ours),
                ours_p99_ms=med(r.p99_ms for r in ours),
                base_p50_ms=med(r.p50_ms for r in base),
                base_p99_ms=med(r.p99_ms for r in base),
                ours_cpu_us=med(r.cpu_us_per_req for r in ours),
                base_cpu_us=med(r.cpu_us_per_req for r in base),
                ours_db_cpu_us=med(r.db_cpu_us_per_req for r in ours),
                base_db_cpu_us=med(r.db_cpu_us_per_req for r in base),
            )
        )
    return out


def print_table(summaries: Sequence[Summary], ref: str = "base") -> None:
    """The results table; ``ref`` is the reference server's short name in the column headings."""
    cols = (
        f"{'endpoint':24} {'ours req/s':>10} {f'{ref} req/s':>10} {'ratio':>6} {'(per round)':>18} "
        f"{'ours p50/p99 ms':>16} {f'{ref} p50/p99 ms':>16} {'ours cpu/req':>12} {f'{ref} cpu/req':>12}"
    )
    with_db = any(s.ours_db_cpu_us or s.base_db_cpu_us for s in summaries)
    if with_db:
        cols += f" {'ours db cpu':>12} {f'{ref} db cpu':>12}"
    print(cols)
    print("-" * len(cols))
    for s in summaries:
        paired = f"{min(s.paired_ratios):.2f}-{max(s.paired_ratios):.2f}" if s.paired_ratios else "-"
        print(
            f"{s.label:24} {s.ours_rps:10.0f} {s.base_rps:10.0f} {s.ratio:6.2f} {paired:>18} "
            f"{f'{s.ours_p50_ms:.2f} / {s.ours_p99_ms:.2f}':>16} {f'{s.base_p50_ms:.2f} / {s.base_p99_ms:.2f}':>16} "
            f"{f'{s.ours_cpu_us:.0f} us':>12} {f'{s.base_cpu_us:.0f} us':>12}"
            + (f" {f'{s.ours_db_cpu_us:.0f} us':>12} {f'{s.base_db_cpu_us:.0f} us':>12}" if with_db else "")
        )


def print_totals(runs: Sequence[Run]) -> None:
    total = sum(r.requests for r in runs)
    errors = sum(r.socket_errors for r in runs)
    print(f"\n{total} measured requests, non-2xx: {sum(r.non2xx for r in runs)}, socket errors: {errors}.")
    print("Figures are comparable only within one invocation (same machine, same moment, same data).")


# --------------------------------------------------------------------------------------------------
# Profile


def record_profile(spy: str, pid: int, load_argv: Sequence[str], out: Path, duration: int) -> None:
    """py-spy ``pid`` for ``duration`` seconds while ``load_argv`` (wrk, lasting longer) loads it."""
    load = subprocess.Popen(list(load_argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        subprocess.run(
            [
                spy,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(duration),
                "--rate",
                "250",
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(out),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except BaseException:
        load.kill()
        raise
    finally:
        load.wait()


LAYERS = (
    ("tenantry", ("tenantry/",)),
    ("starlette", ("starlette/",)),
    ("uvicorn + httptools", ("uvicorn/", "httptools")),
    ("asyncpg (incl. its C protocol)", ("asyncpg/",)),
    ("event loop (uvloop C, socket I/O)", ("asyncio/", "uvloop")),
)


def print_hotspots(label: str, collapsed: Path, top: int = 20) -> None:
    """Where the busy time goes, from a py-spy ``raw`` (collapsed stack) file.

    Shares are of busy samples (py-spy leaves out the idle event loop). Time spent in C code
    (uvloop, asyncpg's protocol, orjson, syscalls) is charged to the Python frame that called it.
    Coroutine stacks are cut where the event loop resumes them, so inclusive shares undercount.
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short_frame(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        layers[_layer(frames[-1])] += n
        for f in set(frames):
            inclusive[f] += n
    if not total:
        print(f"\nno samples for {label}")
        return
    print(f"\n== Tenantry profile, {label}: {total} busy samples ==")
    print("  self time by layer")
    for name, n in layers.most_common():
        print(f"  {100 * n / total:6.1f} %  {name}")
    print("  self time by function (top)")
    for name, n in own.most_common(top):
        print(f"  {100 * n / total:6.1f} %  {name}")
    print("  inclusive time of Tenantry functions")
    for name, n in [(k, v) for k, v in inclusive.most_common() if "tenantry/" in k][:top]:
        print(f"  {100 * n / total:6.1f} %  {name}")


def _layer(frame: str) -> str:
    for name, markers in LAYERS:
        if any(m in frame for m in markers):
            return name
    return "other (stdlib, orjson, …)"


def _short_frame(frame: str) -> str:
    """``func (/long/path/site-packages/pkg/mod.py:12)`` -> ``func (pkg/mod.py)``: lines merged."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(") ").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "/lib/python3.11/", "/lib/python3.12/", "/lib/python3.13/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})" if where else name


# --------------------------------------------------------------------------------------------------
# Signals


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM/SIGHUP raise KeyboardInterrupt, so cleanup runs however the run is stopped."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def shielded_cleanup() -> Iterator[None]:
    """Ignore Ctrl-C while the block runs: a second Ctrl-C must not skip the cleanup."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
