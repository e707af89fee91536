"""Cold start and memory: ``tenantry serve`` against the raw Starlette + asyncpg server of ``run.py``.

For each worker count (``--workers``, default 1,2) and round, each server is started from nothing
on the same seeded PostgreSQL database, and timed from the launch of its command until the first
200 of a signed-in ``GET /api/projects`` (the request ``run.py`` measures, with a seeded owner's
bearer token). One second later the resident memory of every process of the server is read:
the supervising process (``--workers`` > 1) and each worker. The two servers alternate, so a
noisy neighbour slows both alike; the report gives medians and the ratio to the baseline.

Tenantry runs as in production (``TENANTRY_ENV=production``, the database checked against the
schema before serving, row-level security on); the baseline is ``uvicorn baseline:create_app``.

Run it from a checkout (PostgreSQL needed)::

    .venv/bin/python bench/startup.py            # 5 rounds per worker count
    .venv/bin/python bench/startup.py --rounds 2 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from common import (
    DB_PREFIX,
    DEFAULT_PG,
    BenchError,
    Server,
    create_database,
    drop_database,
    http_request,
    log,
    require_free_ports,
    shielded_cleanup,
    terminate_as_interrupt,
)
from run import SCHEMA, Options, create_tables, make_servers, seed

TENANTRY = Path(sys.executable).parent / "tenantry"
PACKAGE = Path(__file__).resolve().parent.parent / "src" / "tenantry"


@dataclass(frozen=True)
class Start:
    """One cold start: seconds to the first 200, and resident memory (MiB) of the processes."""

    server: str
    workers: int
    seconds: float
    supervisor_mib: float | None  # the process that serves nothing (several workers only)
    worker_mib: list[float]


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for process {pid}")


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` that are workers (not multiprocessing's resource tracker)."""
    found = []
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"resource_tracker" not in cmdline:
                found.append(int(child))
    return found


def cold_start(server: Server, workdir: Path, path: str, bearer: str, timeout: float = 60.0) -> Start:
    """Start ``server``, time it to its first 200 on ``path``, read its memory, stop it."""
    started = time.perf_counter()
    server.start(workdir)
    headers = {"Authorization": f"Bearer {bearer}"}
    try:
        while True:
            if not server.alive():
                raise BenchError(f"{server.name} exited while starting:\n{server.log_tail()}")
            if time.perf_counter() - started > timeout:
                raise BenchError(f"{server.name} gave no 200 within {timeout:.0f} s:\n{server.log_tail()}")
            with contextlib.suppress(OSError):
                if http_request(server, "GET", path, headers=headers, timeout=2.0).status == 200:
                    break
            time.sleep(0.005)
        seconds = time.perf_counter() - started
        time.sleep(1.0)  # let every worker finish starting before its memory is read
        workers = children(server.pid)
        if workers:
            return Start(server.name, len(workers), seconds, rss_mib(server.pid), [rss_mib(w) for w in workers])
        return Start(server.name, 1, seconds, None, [rss_mib(server.pid)])
    finally:
        server.stop()


def serve_argv(port: int, workers: int) -> list[str]:
    """``tenantry serve`` as an operator runs it (the schema comes from ``TENANTRY_SCHEMA``)."""
    return [str(TENANTRY), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]


def report(starts: Sequence[Start], worker_counts: Sequence[int]) -> None:
    """Medians per server and worker count, and Tenantry's ratio to the baseline."""
    print("\n## Cold start and memory (medians)\n")
    print("| workers | server | start to first 200 | supervisor RSS | RSS per worker |")
    print("|---|---|---|---|---|")
    for w in worker_counts:
        medians: dict[str, float] = {}
        for name in ("ours", "baseline"):
            mine = [s for s in starts if s.server == name and s.workers == w]
            if not mine:
                continue
            seconds = statistics.median(s.seconds for s in mine)
            medians[name] = seconds
            sup = [s.supervisor_mib for s in mine if s.supervisor_mib is not None]
            sup_text = f"{statistics.median(sup):.0f} MiB" if sup else "-"
            per_worker = statistics.median(m for s in mine for m in s.worker_mib)
            label = "Tenantry" if name == "ours" else "raw Starlette + asyncpg"
            print(f"| {w} | {label} | {seconds:.2f} s | {sup_text} | {per_worker:.0f} MiB |")
        if len(medians) == 2:
            print(f"| {w} | ratio | {medians['ours'] / medians['baseline']:.2f}x | | |")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5, help="cold starts per server and worker count (default 5)")
    p.add_argument("--workers", default="1,2", help="worker counts, comma-separated (default 1,2)")
    p.add_argument("--pg-url", default=DEFAULT_PG)
    p.add_argument("--db-name", default=f"{DB_PREFIX}_startup")
    p.add_argument("--ours-port", type=int, default=8821)
    p.add_argument("--baseline-port", type=int, default=8822)
    a = p.parse_args(argv)
    worker_counts = [int(w) for w in a.workers.split(",") if w.strip()]
    opts = Options(
        duration=0,
        connections=1,
        threads=1,
        rounds=a.rounds,
        warmup=0,
        orgs=5,
        projects_per_org=20,
        pg_url=a.pg_url,
        db_name=a.db_name,
        ours_port=a.ours_port,
        baseline_port=a.baseline_port,
        keep_db=False,
        profile=None,
        profile_duration=0,
        json_out=None,
        quick=False,
        workers=tuple(worker_counts),
        open_api=False,
    )
    created = False
    with tempfile.TemporaryDirectory(prefix="tenantry-bench-") as tmp, terminate_as_interrupt():
        try:
            require_free_ports(opts.ours_port, opts.baseline_port)
            # An installed package has its bytecode compiled (pip does it); a checkout may not
            # (PYTHONDONTWRITEBYTECODE), and compiling at every start would be measured instead.
            compileall.compile_dir(PACKAGE, quiet=1)
            asyncio.run(create_database(opts.pg_url, opts.db_name))
            created = True
            create_tables(opts)
            data = asyncio.run(seed(opts))
            path, bearer = "/api/projects?limit=20", data.bearers[0]
            starts: list[Start] = []
            for w in worker_counts:
                ours, base = make_servers(opts, Path(tmp), signed_in=True, workers=w)
                ours = replace(ours, argv=serve_argv(opts.ours_port, w))
                ours.env = {**ours.env, "TENANTRY_SCHEMA": str(SCHEMA)}
                for r in range(a.rounds):
                    pair = (ours, base) if r % 2 == 0 else (base, ours)
                    for server in pair:
                        start = cold_start(server, Path(tmp), path, bearer)
                        starts.append(start)
                        workers_mib = ", ".join(f"{m:.0f}" for m in start.worker_mib)
                        log(
                            f"{server.name} {w}w round {r + 1}: {start.seconds:.2f} s, "
                            f"RSS {start.supervisor_mib or 0:.0f} + {workers_mib} MiB"
                        )
            report(starts, worker_counts)
            return 0
        except BenchError as exc:
            print(f"\nbench: {exc}", file=sys.stderr)
            return 2
        finally:
            with shielded_cleanup():
                if created:
                    with contextlib.suppress(Exception):
                        asyncio.run(drop_database(opts.pg_url, opts.db_name))


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent)
    sys.exit(main())
