"""Tenantry's CRUD API against a raw Starlette + asyncpg baseline, in one invocation.

    .venv/bin/python bench/run.py [--duration 10] [--connections 50] [--threads 2] [--rounds 3] [--quick]

Creates the database ``tenantry_bench``, creates the tables of ``examples/saas/schema.yaml`` and
seeds them, starts Tenantry (port 8811) and ``bench/baseline.py`` (port 8812) with uvicorn (one
worker each, uvloop + httptools), checks that both answer the same requests with identical bytes,
warms both up, then drives each endpoint on each server with ``wrk``, alternating servers run by
run, and prints requests per second, latency, server CPU per request and the ours/baseline ratio.
Everything it started is stopped and the database dropped on exit, Ctrl-C included.

See bench/README.md for how to read the figures. Needs ``wrk`` (``apt-get install -y wrk``), and
``py-spy`` for ``--profile``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import sys
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from common import (
    BENCH_DIR,
    DB_PREFIX,
    DEFAULT_PG,
    ROOT,
    WRK_DONE_LUA,
    BenchError,
    Run,
    Server,
    Summary,
    alternate,
    create_database,
    drop_database,
    http_get,
    log,
    print_hotspots,
    print_table,
    print_totals,
    py_spy,
    record_profile,
    require_free_ports,
    require_wrk,
    shielded_cleanup,
    summarize,
    terminate_as_interrupt,
    uvicorn_argv,
    wait_ready,
    wrk_run,
)

SCHEMA = ROOT / "examples" / "saas" / "schema.yaml"
LIST_LIMIT = 20
POOL_SIZE = 10  # Tenantry's default TENANTRY_DB_POOL_SIZE; the baseline gets the same.

# wrk runs this in each of its threads. Every thread walks the (shuffled) path list from its own
# starting point, so requests spread over every organization / project and both servers get the
# same sequence. ``done`` (``common.WRK_DONE_LUA``) prints the figures as one JSON line for run.py to parse.
WRK_LUA = (
    r"""
local paths = {}
local pos = 0
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  local threads = tonumber(args[2]) or 1
  pos = math.floor((tid or 0) * #paths / threads)
end

function request()
  pos = pos % #paths + 1
  return wrk.format("GET", paths[pos])
end
"""
    + WRK_DONE_LUA
)


# --------------------------------------------------------------------------------------------------
# Options


@dataclass(frozen=True)
class Options:
    """Command-line options, after ``--quick`` has been applied."""

    duration: int
    connections: int
    threads: int
    rounds: int
    warmup: int
    orgs: int
    projects_per_org: int
    pg_url: str
    db_name: str
    ours_port: int
    baseline_port: int
    keep_db: bool
    profile: Path | None
    profile_duration: int
    json_out: Path | None
    quick: bool

    @property
    def database_url(self) -> str:
        return f"{self.pg_url.rstrip('/')}/{self.db_name}"


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Parse the command line; ``--quick`` shortens every phase (a smoke run, not a measurement)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=int, default=10, help="seconds per measured wrk run (default 10)")
    p.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="measured runs per server and endpoint, >= 2 (default 3)")
    p.add_argument("--warmup", type=int, default=5, help="warm-up seconds per server and endpoint (default 5)")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 s runs, 2 rounds, 2 s warm-up")
    p.add_argument("--orgs", type=int, default=50, help="organizations to seed (default 50)")
    p.add_argument("--projects-per-org", type=int, default=200, help="projects per organization (default 200)")
    p.add_argument("--pg-url", default=DEFAULT_PG, help=f"PostgreSQL server, no database (default {DEFAULT_PG})")
    p.add_argument("--db-name", default=DB_PREFIX, help=f"database to create and drop (must start with {DB_PREFIX})")
    p.add_argument("--ours-port", type=int, default=8811)
    p.add_argument("--baseline-port", type=int, default=8812)
    p.add_argument("--keep-db", action="store_true", help="leave the database in place at the end")
    p.add_argument("--profile", type=Path, metavar="DIR", help="also profile Tenantry under load with py-spy")
    p.add_argument("--profile-duration", type=int, default=10, help="py-spy seconds per endpoint (default 10)")
    p.add_argument("--json", dest="json_out", type=Path, metavar="FILE", help="also write the results as JSON")
    a = p.parse_args(argv)
    if a.quick:
        a.duration, a.rounds, a.warmup = 3, 2, 2
    if a.rounds < 2:
        p.error("--rounds must be at least 2")
    if a.threads < 1 or a.connections < a.threads:
        p.error("--connections must be at least --threads (and --threads at least 1)")
    if not a.db_name.startswith(DB_PREFIX) or not a.db_name.replace("_", "").isalnum():
        p.error(f"--db-name must start with {DB_PREFIX} and be letters, digits and underscores")
    if a.ours_port == a.baseline_port:
        p.error("the two servers need different ports")
    return Options(
        duration=a.duration,
        connections=a.connections,
        threads=a.threads,
        rounds=a.rounds,
        warmup=a.warmup,
        orgs=a.orgs,
        projects_per_org=a.projects_per_org,
        pg_url=a.pg_url,
        db_name=a.db_name,
        ours_port=a.ours_port,
        baseline_port=a.baseline_port,
        keep_db=a.keep_db,
        profile=a.profile,
        profile_duration=a.profile_duration,
        json_out=a.json_out,
        quick=a.quick,
    )


# --------------------------------------------------------------------------------------------------
# Preconditions


def require_tools(opts: Options) -> None:
    """wrk (and py-spy for --profile) must be installed; the ports must be free."""
    require_wrk()
    if opts.profile is not None and py_spy() is None:
        raise BenchError(f"--profile needs py-spy: {sys.executable} -m pip install py-spy")
    require_free_ports(opts.ours_port, opts.baseline_port)


def check_same_sql() -> None:
    """The baseline must run the SQL Tenantry compiles for these two requests, byte for byte."""
    import baseline
    from tenantry.db import SQLCompiler, build_metadata
    from tenantry.db.postgres import PostgresDatabase
    from tenantry.db.query import Condition
    from tenantry.schema import load_schema

    schema = load_schema(str(SCHEMA))
    projects = schema.entities["projects"]
    compiler = SQLCompiler(schema, build_metadata(schema, "postgresql"), PostgresDatabase.sa_dialect)
    listed, _ = compiler.select(
        projects,
        projects.columns,
        Condition("org_id", "eq", "x"),
        compiler.default_sort(projects),
        limit=True,
    )
    got, _ = compiler.select(projects, projects.columns, Condition("id", "eq", "x"))
    for name, ours, theirs in (("list", listed.sql, baseline.LIST_SQL), ("get", got.sql, baseline.GET_SQL)):
        if ours != theirs:
            raise BenchError(
                f"baseline {name} SQL differs from Tenantry's:\n  ours:     {ours!r}\n  baseline: {theirs!r}"
            )


# --------------------------------------------------------------------------------------------------
# Database


@dataclass(frozen=True)
class Seed:
    """What was seeded: the ids the load spreads over."""

    org_ids: list[uuid.UUID]
    project_ids: list[uuid.UUID]


def create_tables(opts: Options) -> None:
    """The app's tables and indexes (the schema's and every capability's), as ``tenantry dev`` creates them.

    The capabilities' own tables matter: billing's reconciler reads ``stripe_events`` at start-up.
    """
    from tenantry.app import app_tables
    from tenantry.config import Settings
    from tenantry.db.migrations import sync_schema
    from tenantry.schema import load_schema

    settings = Settings(DATABASE_URL=opts.database_url, TENANTRY_ENV="development")
    sync_schema(opts.database_url, app_tables(load_schema(str(SCHEMA)), settings))


ORG_COLUMNS = (
    "id",
    "name",
    "slug",
    "billing_email",
    "stripe_customer_id",
    "created_at",
    "updated_at",
    "require_two_factor",
)
USER_COLUMNS = ("id", "email", "name", "avatar_url", "org_id", "role", "created_at", "updated_at", "email_verified")
PROJECT_COLUMNS = ("id", "name", "description", "org_id", "created_by", "status", "created_at", "updated_at")


async def seed(opts: Options) -> Seed:
    """``orgs`` organizations with one user each and ``projects_per_org`` projects each.

    Deterministic. Timestamps carry microseconds (both servers must cut them to milliseconds the
    same way), some are shared within an organization (the id breaks the tie), some descriptions
    are NULL and some are non-ASCII with characters JSON must escape.
    """
    rng = random.Random(20261126)

    def new_id() -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    orgs: list[tuple[Any, ...]] = []
    users: list[tuple[Any, ...]] = []
    projects: list[tuple[Any, ...]] = []
    for o in range(opts.orgs):
        org_id, user_id = new_id(), new_id()
        created = base + dt.timedelta(days=o, microseconds=rng.randrange(1_000_000))
        orgs.append((org_id, f"Org {o}", f"org-{o}", f"billing{o}@example.com", None, created, created, False))
        users.append((user_id, f"owner{o}@example.com", f"Owner {o}", None, org_id, "admin", created, created, True))
        for p in range(opts.projects_per_org):
            # Projects come in pairs at the same minute: either both on the whole minute (a tie the
            # id breaks) or both at random microseconds.
            micro = rng.randrange(1_000_000) if p // 2 % 2 else 0
            at = created + dt.timedelta(minutes=p // 2 * 7, microseconds=micro)
            description = None if p % 3 == 0 else f'Projekt {p} — “détails” \\ "quoted"\ttab 项目 {o}'
            status = "archived" if p % 7 == 0 else "active"
            updated = at + dt.timedelta(hours=p % 24, microseconds=rng.randrange(1_000_000))
            projects.append((new_id(), f"Project {o}-{p}", description, org_id, user_id, status, at, updated))
    conn = await asyncpg.connect(opts.database_url)
    try:
        # The columns are named: the capabilities add columns of their own to these tables.
        await conn.copy_records_to_table("organizations", records=orgs, columns=ORG_COLUMNS)
        await conn.copy_records_to_table("users", records=users, columns=USER_COLUMNS)
        await conn.copy_records_to_table("projects", records=projects, columns=PROJECT_COLUMNS)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return Seed([o[0] for o in orgs], [p[0] for p in projects])


# --------------------------------------------------------------------------------------------------
# Servers


def make_servers(opts: Options, workdir: Path) -> tuple[Server, Server]:
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("TENANTRY_", "BENCH_"))}
    base_env.pop("DATABASE_URL", None)
    ours_env = {
        **base_env,
        "TENANTRY_SCHEMA": str(SCHEMA),
        "DATABASE_URL": opts.database_url,
        "TENANTRY_ENV": "development",
        "TENANTRY_DB_POOL_SIZE": str(POOL_SIZE),
    }
    baseline_env = {**base_env, "BENCH_DATABASE_URL": opts.database_url, "BENCH_DB_POOL_SIZE": str(POOL_SIZE)}
    ours = Server(
        "ours",
        opts.ours_port,
        uvicorn_argv("tenantry.app:served_app", opts.ours_port),
        ours_env,
        workdir / "ours.log",
    )
    base = Server(
        "baseline",
        opts.baseline_port,
        uvicorn_argv("baseline:create_app", opts.baseline_port, "--app-dir", str(BENCH_DIR)),
        baseline_env,
        workdir / "baseline.log",
    )
    return ours, base


# --------------------------------------------------------------------------------------------------
# Endpoints and the fairness check


@dataclass(frozen=True)
class Endpoint:
    """One thing to measure: a label and the request paths wrk cycles through."""

    key: str
    label: str
    paths: list[str]


def endpoints(data: Seed) -> list[Endpoint]:
    rng = random.Random(7)
    orgs = [f"/api/projects?org_id={o}&limit={LIST_LIMIT}" for o in data.org_ids]
    ids = [f"/api/projects/{p}" for p in data.project_ids]
    rng.shuffle(orgs)
    rng.shuffle(ids)
    return [
        Endpoint("list", f"list {LIST_LIMIT} rows by org_id", orgs),
        Endpoint("get", "get by id", ids),
    ]


def verify_identical(ours: Server, base: Server, eps: Sequence[Endpoint], samples: int) -> int:
    """Both servers answer 200 with the same content type and the same bytes; returns requests checked."""
    checked = 0
    for ep in eps:
        for path in ep.paths[:samples]:
            a, b = http_get(ours, path), http_get(base, path)
            if a[0] != 200 or b[0] != 200:
                raise BenchError(f"GET {path}: status ours {a[0]}, baseline {b[0]} (both must be 200)\n{a[2]!r}")
            if a[1] != b[1]:
                raise BenchError(f"GET {path}: content type ours {a[1]!r}, baseline {b[1]!r}")
            if a[2] != b[2]:
                raise BenchError(f"GET {path}: bodies differ\n  ours:     {a[2][:600]!r}\n  baseline: {b[2][:600]!r}")
            if ep.key == "list" and len(json.loads(a[2])) != LIST_LIMIT:
                raise BenchError(f"GET {path}: expected {LIST_LIMIT} rows (seed at least that many per org)")
            checked += 1
    missing = f"/api/projects/{uuid.UUID(int=0, version=4)}"
    statuses = http_get(ours, missing)[0], http_get(base, missing)[0]
    if statuses != (404, 404):
        raise BenchError(f"GET {missing}: expected 404 from both, got ours {statuses[0]}, baseline {statuses[1]}")
    return checked


# --------------------------------------------------------------------------------------------------
# Load


@dataclass
class Workspace:
    """Temporary files: the wrk script, one path list per endpoint, server logs."""

    dir: Path
    script: Path = field(init=False)

    def __post_init__(self) -> None:
        self.script = self.dir / "paths.lua"
        self.script.write_text(WRK_LUA)

    def paths_file(self, ep: Endpoint) -> Path:
        path = self.dir / f"{ep.key}.paths"
        if not path.exists():
            path.write_text("\n".join(ep.paths) + "\n")
        return path


def wrk_argv(opts: Options, ws: Workspace, server: Server, ep: Endpoint, seconds: int) -> list[str]:
    return [
        "wrk",
        f"-t{opts.threads}",
        f"-c{opts.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(ws.script),
        server.base_url,
        "--",
        str(ws.paths_file(ep)),
        str(opts.threads),
    ]


def run_wrk(opts: Options, ws: Workspace, server: Server, ep: Endpoint, seconds: int, rnd: int) -> Run:
    """One wrk run; raises if the server died or wrk printed no result."""
    return wrk_run(wrk_argv(opts, ws, server, ep, seconds), server, ep.key, rnd)


def measure(opts: Options, ws: Workspace, ours: Server, base: Server, eps: Sequence[Endpoint]) -> list[Run]:
    """Warm up, then per endpoint ``rounds`` runs per server, alternating (A B, B A, A B …)."""
    by_key = {ep.key: ep for ep in eps}
    return alternate(
        [ep.key for ep in eps],
        ours,
        base,
        lambda server, key, seconds, rnd: run_wrk(opts, ws, server, by_key[key], seconds, rnd),
        warmup=opts.warmup,
        rounds=opts.rounds,
        duration=opts.duration,
    )


# --------------------------------------------------------------------------------------------------
# Report


def print_report(opts: Options, summaries: Sequence[Summary], runs: Sequence[Run]) -> None:
    print()
    print(
        f"Tenantry vs raw Starlette + asyncpg: {opts.rounds} rounds x {opts.duration}s per server and endpoint, "
        f"wrk {opts.threads} threads x {opts.connections} connections, 1 uvicorn worker each, pool {POOL_SIZE}."
    )
    print("Medians over the rounds; ratio = ours / baseline (1.00 = as fast as the baseline).")
    print_table(summaries)
    print_totals(runs)


# --------------------------------------------------------------------------------------------------
# Profile (optional)


def profile(opts: Options, ws: Workspace, ours: Server, eps: Sequence[Endpoint]) -> None:
    """py-spy on Tenantry while wrk loads each endpoint; writes collapsed stacks and prints hotspots."""
    assert opts.profile is not None
    spy = py_spy()
    assert spy is not None
    opts.profile.mkdir(parents=True, exist_ok=True)
    for ep in eps:
        out = opts.profile / f"ours-{ep.key}.txt"
        log(f"profiling ours {ep.key} for {opts.profile_duration}s -> {out}")
        load = wrk_argv(opts, ws, ours, ep, opts.profile_duration + 4)
        record_profile(spy, ours.pid, load, out, opts.profile_duration)
        print_hotspots(ep.label, out)


# --------------------------------------------------------------------------------------------------
# Main


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    servers: list[Server] = []
    db_created = False
    with tempfile.TemporaryDirectory(prefix="tenantry-bench-") as tmp, terminate_as_interrupt():
        try:
            require_tools(opts)
            check_same_sql()
            log(f"creating database {opts.db_name}")
            asyncio.run(create_database(opts.pg_url, opts.db_name))
            db_created = True
            create_tables(opts)
            data = asyncio.run(seed(opts))
            log(f"seeded {len(data.org_ids)} organizations, {len(data.project_ids)} projects")
            eps = endpoints(data)
            ws = Workspace(Path(tmp))
            ours, base = make_servers(opts, Path(tmp))
            servers += [ours, base]
            for server in servers:
                server.start(Path(tmp))
            for server in servers:
                wait_ready(server, eps[1].paths[0])
                log(f"{server.name} ready on {server.base_url} (pid {server.pid})")
            checked = verify_identical(ours, base, eps, samples=10 if opts.quick else 50)
            log(f"identical responses from both servers for {checked} requests")
            runs = measure(opts, ws, ours, base, eps)
            summaries = summarize(runs, [(ep.key, ep.label) for ep in eps])
            print_report(opts, summaries, runs)
            if opts.json_out is not None:
                payload: dict[str, Any] = {
                    "options": {**asdict(opts), "profile": str(opts.profile), "json_out": str(opts.json_out)},
                    "summaries": [asdict(s) for s in summaries],
                    "runs": [asdict(r) for r in runs],
                }
                opts.json_out.write_text(json.dumps(payload, indent=2))
            if opts.profile is not None:
                profile(opts, ws, ours, eps)
            bad = [r for r in runs if r.non2xx or r.socket_errors]
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
            with shielded_cleanup():  # a second Ctrl-C must not skip the cleanup
                for server in servers:
                    server.stop()
                if db_created and not opts.keep_db:
                    with contextlib.suppress(Exception):
                        asyncio.run(drop_database(opts.pg_url, opts.db_name))
                        log(f"dropped database {opts.db_name}")


if __name__ == "__main__":
    sys.exit(main())
