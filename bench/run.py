"""Tenantry's CRUD API against a raw Starlette + asyncpg baseline, in one invocation.

    .venv/bin/python bench/run.py [--duration 10] [--connections 50] [--threads 2] [--rounds 3] [--quick]

Creates the database ``tenantry_bench``, creates the app's tables for ``tests/seed_schema.yaml`` and
seeds them, starts Tenantry (port 8811) and ``bench/baseline.py`` (port 8812) with uvicorn (uvloop +
httptools), checks that both answer the same requests with identical bytes, warms both up, then
drives each endpoint on each server with ``wrk``, alternating servers run by run, and prints
requests per second, latency, server CPU per request and the ours/baseline ratio. The headline
phases are signed in, in production, with 1 and 2 workers: the list and the get with a session's
bearer token, then with an API key; the last phase is the open API in development mode.
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
    http_request,
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
from tenantry.auth.crypto import sign_value
from tenantry.auth.plugins.api_key.keys import hash_key

SCHEMA = ROOT / "tests" / "seed_schema.yaml"
SIGNED_IN_KEYS = ("list", "get", "key-list", "key-get", "dashboard")
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


# The signed-in loads: each line of the endpoint's file is "<credential> <path>"; every request takes
# the next line (the file is shuffled, so the user changes from one request to the next) and sends
# the credential in its header: a session's signed token as a bearer, or an API key.
def credential_lua(header: str, prefix: str) -> str:
    """wrk's script sending each line's credential as ``header: <prefix><credential>``."""
    return (
        r"""
local lines = {}
local n = 0
local i = 0
function init(args)
  for line in io.lines(args[1]) do
    local credential, path = line:match("^(%S+) (%S+)$")
    if credential then
      n = n + 1
      lines[n] = {credential, path}
    end
  end
  i = math.random(n)
end
function request()
  i = i % n + 1
  local l = lines[i]
"""
        + f'  return wrk.format("GET", l[2], {{["{header}"] = "{prefix}" .. l[1]}})\nend\n'
        + WRK_DONE_LUA
    )


AUTH_LUA = credential_lua("Authorization", "Bearer ")
KEY_LUA = credential_lua("x-api-key", "")
# The secret both servers check the bearer tokens' signatures with (a throwaway benchmark secret).
SECRET = "tenantry-bench-run-secret-0123456789abcdef0123456789abcdef"


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
    workers: tuple[int, ...]
    open_api: bool
    baseline_pool: str = "default"
    only: tuple[str, ...] = ()

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
    p.add_argument(
        "--workers", default="1,2", help="uvicorn workers of the signed-in runs, comma-separated (default 1,2)"
    )
    p.add_argument(
        "--baseline-pool",
        choices=("default", "tuned"),
        default="default",
        help="how the baseline uses asyncpg's pool: per statement with its reset, as a plain app does "
        "(default), or one connection per request without the reset, as Tenantry does (tuned)",
    )
    p.add_argument(
        "--no-open", dest="open_api", action="store_false", help="skip the second figure (open API, no session)"
    )
    p.add_argument(
        "--endpoints",
        default="",
        help=f"only these signed-in endpoints, comma-separated, of: {', '.join(SIGNED_IN_KEYS)} (default all)",
    )
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
    only = tuple(k.strip() for k in a.endpoints.split(",") if k.strip())
    if unknown := [k for k in only if k not in SIGNED_IN_KEYS]:
        p.error(f"unknown endpoint {', '.join(unknown)} (known: {', '.join(SIGNED_IN_KEYS)})")
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
        workers=tuple(int(w) for w in a.workers.split(",") if w.strip()),
        open_api=a.open_api,
        baseline_pool=a.baseline_pool,
        only=only,
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
    """What was seeded: the ids the load spreads over, and each organization's signed-in owner."""

    org_ids: list[uuid.UUID]
    project_ids: list[uuid.UUID]
    # the signed bearer value of the owner's session (as ``set-auth-token`` gives it), per organization
    bearers: list[str]
    # organization index of each project
    project_orgs: list[int]
    # an API key of the owner's, acting in the organization, per organization
    keys: list[str]


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
MEMBER_COLUMNS = ("id", "organization_id", "user_id", "role", "created_at")
SESSION_COLUMNS = (
    "id",
    "expires_at",
    "token",
    "created_at",
    "updated_at",
    "ip_address",
    "user_agent",
    "user_id",
    "active_organization_id",
)
NOTIFICATION_COLUMNS = ("id", "user_id", "org_id", "type", "title", "message", "read_at", "created_at")
NOTIFICATIONS_PER_USER, UNREAD_PER_USER = 12, 3  # the bell shows the 8 newest and the unread count

# The seeded keys' rate limit: a day's window, a maximum no run reaches (the limit is still checked).
KEY_WINDOW_MS, KEY_MAX = 86_400_000, 10**9
KEY_COLUMNS = (
    "id",
    "name",
    "start",
    "reference_id",
    "key",
    "enabled",
    "rate_limit_enabled",
    "rate_limit_time_window",
    "rate_limit_max",
    "request_count",
    "created_at",
    "updated_at",
    "organization_id",
)


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
    # Each owner is an admin of their organization, with a session active there for a week and an
    # API key acting there, rate-limited (a day's window, a maximum no run reaches) as keys are by default.
    members, sessions, bearers, keys, key_rows, notifications = [], [], [], [], [], []
    now = dt.datetime.now(dt.UTC)
    for o, (org, user) in enumerate(zip(orgs, users, strict=True)):
        token = f"benchsession{o:04d}{rng.getrandbits(96):024x}"
        members.append((f"member-{o}", org[0], user[0], "admin", now))
        sessions.append((f"session-{o}", now + dt.timedelta(days=7), token, now, now, None, "wrk", user[0], org[0]))
        bearers.append(sign_value(SECRET, token))
        key = f"benchkey{o:04d}{rng.getrandbits(192):048x}"
        keys.append(key)
        key_row = (f"key-{o}", f"bench {o}", key[:6], user[0], hash_key(key), True, True, KEY_WINDOW_MS, KEY_MAX)
        key_rows.append((*key_row, 0, now, now, org[0]))
        # The bell's notifications, newest last (their ids sort by time, as the app's do); the newest
        # unread. Their text has characters HTML must escape.
        for n in range(NOTIFICATIONS_PER_USER):
            at = now - dt.timedelta(hours=NOTIFICATIONS_PER_USER - n, microseconds=rng.randrange(1_000_000))
            read = None if n >= NOTIFICATIONS_PER_USER - UNREAD_PER_USER else at + dt.timedelta(minutes=5)
            note_id = uuid.UUID(int=(o * 1000 + n + 1) << 80 | rng.getrandbits(64), version=4)
            text = f'Ann <ann@example.com> commented on “Project {o}-{n}” & asked: "ready?"'
            notifications.append((note_id, str(user[0]), str(org[0]), "comment", f"Comment {n}", text, read, at))
    conn = await asyncpg.connect(opts.database_url)
    try:
        # The columns are named: the capabilities add columns of their own to these tables.
        await conn.copy_records_to_table("organizations", records=orgs, columns=ORG_COLUMNS)
        await conn.copy_records_to_table("users", records=users, columns=USER_COLUMNS)
        await conn.copy_records_to_table("projects", records=projects, columns=PROJECT_COLUMNS)
        await conn.copy_records_to_table("org_members", records=members, columns=MEMBER_COLUMNS)
        await conn.copy_records_to_table("auth_sessions", records=sessions, columns=SESSION_COLUMNS)
        await conn.copy_records_to_table("auth_api_keys", records=key_rows, columns=KEY_COLUMNS)
        await conn.copy_records_to_table("notifications", records=notifications, columns=NOTIFICATION_COLUMNS)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    per_org = opts.projects_per_org
    project_orgs = [i // per_org for i in range(len(projects))]
    return Seed([o[0] for o in orgs], [p[0] for p in projects], bearers, project_orgs, keys)


# --------------------------------------------------------------------------------------------------
# Servers


def make_servers(opts: Options, workdir: Path, *, signed_in: bool = False, workers: int = 1) -> tuple[Server, Server]:
    """Tenantry and the baseline. ``signed_in``: Tenantry as ``tenantry serve`` runs it in production
    (the API closed to anyone without a session, row-level security on); otherwise in development
    mode with the API open (no authentication at all)."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("TENANTRY_", "BENCH_"))}
    base_env.pop("DATABASE_URL", None)
    ours_env = {
        **base_env,
        "TENANTRY_SCHEMA": str(SCHEMA),
        "TENANTRY_HOOKS": str(ROOT / "examples" / "saas" / "hooks.py"),
        "DATABASE_URL": opts.database_url,
        "TENANTRY_ENV": "development",
        "TENANTRY_DB_POOL_SIZE": str(POOL_SIZE),
    }
    if signed_in:
        ours_env |= {
            "TENANTRY_ENV": "production",
            "TENANTRY_SECRET": SECRET,
            "TENANTRY_BASE_URL": f"http://127.0.0.1:{opts.ours_port}",
            # Production refuses the development mail outbox; nothing is mailed during the runs.
            "TENANTRY_MAIL_BACKEND": "file",
            "TENANTRY_MAIL_FILE": str(workdir / "mail.jsonl"),
            "TENANTRY_AUTO_MIGRATE": "0",
        }
    baseline_env = {
        **base_env,
        "BENCH_DATABASE_URL": opts.database_url,
        "BENCH_DB_POOL_SIZE": str(POOL_SIZE),
        "BENCH_SECRET": SECRET,
        "BENCH_BASELINE_POOL": opts.baseline_pool,
    }
    suffix = f"-{workers}w" if signed_in else "-open"
    ours = Server(
        "ours",
        opts.ours_port,
        uvicorn_argv("tenantry.app:served_app", opts.ours_port, workers=workers),
        ours_env,
        workdir / f"ours{suffix}.log",
    )
    base = Server(
        "baseline",
        opts.baseline_port,
        uvicorn_argv("baseline:create_app", opts.baseline_port, "--app-dir", str(BENCH_DIR), workers=workers),
        baseline_env,
        workdir / f"baseline{suffix}.log",
    )
    return ours, base


# --------------------------------------------------------------------------------------------------
# Endpoints and the fairness check


@dataclass(frozen=True)
class Endpoint:
    """One thing to measure: a label and the request paths wrk cycles through (``<credential> <path>``
    lines when signed in, the credential being a session's bearer or, with ``credential="key"``, an
    API key)."""

    key: str
    label: str
    paths: list[str]
    credential: str = "session"

    @property
    def signed_in(self) -> bool:
        return " " in self.paths[0]

    def headers(self, credential: str) -> dict[str, str]:
        """The request headers carrying ``credential`` (a line's first word)."""
        return {"x-api-key": credential} if self.credential == "key" else {"Authorization": f"Bearer {credential}"}


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


def signed_in_endpoints(data: Seed) -> list[Endpoint]:
    """The signed-in loads: ``<bearer> <path>`` lines, a random user's on each request."""
    rng = random.Random(11)
    lists = [f"{bearer} /api/projects?limit={LIST_LIMIT}" for bearer in data.bearers]
    gets = [f"{data.bearers[o]} /api/projects/{p}" for p, o in zip(data.project_ids, data.project_orgs, strict=True)]
    key_lists = [f"{key} /api/projects?limit={LIST_LIMIT}" for key in data.keys]
    key_gets = [f"{data.keys[o]} /api/projects/{p}" for p, o in zip(data.project_ids, data.project_orgs, strict=True)]
    pages = [f"{bearer} /dashboard" for bearer in data.bearers]
    for lines in (lists, gets, key_lists, key_gets, pages):
        rng.shuffle(lines)
    return [
        Endpoint("list", f"list {LIST_LIMIT} of own org, signed in", lists),
        Endpoint("get", "get by id, signed in", gets),
        Endpoint("key-list", f"list {LIST_LIMIT} of own org, API key", key_lists, credential="key"),
        Endpoint("key-get", "get by id, API key", key_gets, credential="key"),
        Endpoint("dashboard", "dashboard page, signed in", pages),
    ]


def verify_signed_in(ours: Server, base: Server, eps: Sequence[Endpoint], samples: int, database_url: str) -> int:
    """As ``verify_identical``, with the sessions' bearer tokens and the API keys; both refuse a
    forged token and an unknown key, and both count a key's use and write its audit row."""
    checked = 0
    for ep in eps:
        for line in ep.paths[:samples]:
            credential, path = line.split(" ", 1)
            headers = ep.headers(credential)
            a, b = http_request(ours, "GET", path, headers=headers), http_request(base, "GET", path, headers=headers)
            if a.status != 200 or b.status != 200:
                raise BenchError(
                    f"GET {path}: status ours {a.status}, baseline {b.status} (both must be 200)\n{a.body!r}"
                )
            if a.header("content-type") != b.header("content-type"):
                raise BenchError(
                    f"GET {path}: content types differ: {a.header('content-type')!r}, {b.header('content-type')!r}"
                )
            if a.body != b.body:
                raise BenchError(
                    f"GET {path}: bodies differ\n  ours:     {a.body[:600]!r}\n  baseline: {b.body[:600]!r}"
                )
            if ep.key == "list" and len(json.loads(a.body)) != LIST_LIMIT:
                raise BenchError(f"GET {path}: expected {LIST_LIMIT} rows (seed at least that many per org)")
            checked += 1
    path = f"/api/projects?limit={LIST_LIMIT}"
    forged = {"Authorization": "Bearer benchsession-forged.c2lnbmF0dXJl"}
    both_refuse(ours, base, path, forged, "a forged token")
    if any(ep.key == "dashboard" for ep in eps):
        # A page refuses by sending the browser to sign in.
        answers = [http_request(server, "GET", "/dashboard", headers=forged) for server in (ours, base)]
        if [(a.status, a.header("location").split("?")[0]) for a in answers] != [(303, "/login")] * 2:
            raise BenchError(f"GET /dashboard with a forged token: both must answer 303 to /login, got {answers}")
    keyed = [ep for ep in eps if ep.credential == "key"]
    if keyed:
        both_refuse(ours, base, path, {"x-api-key": "bench-unknown-key"}, "an unknown API key")
        key, key_path = keyed[0].paths[0].split(" ", 1)
        for server in (ours, base):
            before = asyncio.run(key_uses(database_url, key))
            status = http_request(server, "GET", key_path, headers={"x-api-key": key}).status
            after = asyncio.run(key_uses(database_url, key))
            if status != 200 or after != (before[0] + 1, before[1] + 1):
                raise BenchError(
                    f"{server.name}: one request with an API key must answer 200, count one use and write one "
                    f"audit row; it answered {status}, (count, audit rows) went from {before} to {after}"
                )
    return checked


def both_refuse(ours: Server, base: Server, path: str, headers: dict[str, str], what: str) -> None:
    """Both servers answer ``GET path`` with ``headers`` (a bad credential, ``what``) with 401."""
    statuses = (
        http_request(ours, "GET", path, headers=headers).status,
        http_request(base, "GET", path, headers=headers).status,
    )
    if statuses != (401, 401):
        raise BenchError(f"GET {path} with {what}: expected 401 from both, got {statuses}")


async def key_uses(database_url: str, key: str) -> tuple[int, int]:
    """The use count of ``key`` and the audit rows of its uses."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT k.request_count, (SELECT count(*) FROM audit_logs AS a WHERE a.action = 'api_key_use' "
            "AND a.resource_id = k.id) FROM auth_api_keys AS k WHERE k.key = $1",
            hash_key(key),
        )
    finally:
        await conn.close()
    assert row is not None, "the seeded key is in the table"
    return int(row[0]), int(row[1])


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
    auth_script: Path = field(init=False)
    key_script: Path = field(init=False)

    def __post_init__(self) -> None:
        self.script = self.dir / "paths.lua"
        self.script.write_text(WRK_LUA)
        self.auth_script = self.dir / "signed-in.lua"
        self.auth_script.write_text(AUTH_LUA)
        self.key_script = self.dir / "api-key.lua"
        self.key_script.write_text(KEY_LUA)

    def script_for(self, ep: Endpoint) -> Path:
        """wrk's script for ``ep``: plain paths, or lines with a session's bearer or an API key."""
        if not ep.signed_in:
            return self.script
        return self.key_script if ep.credential == "key" else self.auth_script

    def paths_file(self, ep: Endpoint) -> Path:
        path = self.dir / f"{ep.key}{'.signed-in' if ep.signed_in else ''}.paths"
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
        str(ws.script_for(ep)),
        server.base_url,
        "--",
        str(ws.paths_file(ep)),
        str(opts.threads),
    ]


def run_wrk(opts: Options, ws: Workspace, server: Server, ep: Endpoint, seconds: int, rnd: int) -> Run:
    """One wrk run; raises if the server died or wrk printed no result."""
    return wrk_run(wrk_argv(opts, ws, server, ep, seconds), server, ep.key, rnd, database=opts.db_name)


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


def print_report(opts: Options, title: str, workers: int, summaries: Sequence[Summary], runs: Sequence[Run]) -> None:
    print()
    print(
        f"{title}: Tenantry vs raw Starlette + asyncpg, {opts.rounds} rounds x {opts.duration}s per server and "
        f"endpoint, wrk {opts.threads} threads x {opts.connections} connections, {workers} uvicorn worker"
        f"{'s' if workers > 1 else ''} each, pool {POOL_SIZE} per worker, the baseline's pool used the "
        f"{opts.baseline_pool} way."
    )
    print("Medians over the rounds; ratio = ours / baseline (1.00 = as fast as the baseline).")
    print_table(summaries)
    print_totals(runs)


# --------------------------------------------------------------------------------------------------
# Profile (optional)


def profile(opts: Options, ws: Workspace, ours: Server, eps: Sequence[Endpoint], phase: str) -> None:
    """py-spy on Tenantry while wrk loads each endpoint; writes collapsed stacks and prints hotspots."""
    assert opts.profile is not None
    spy = py_spy()
    assert spy is not None
    opts.profile.mkdir(parents=True, exist_ok=True)
    for ep in eps:
        out = opts.profile / f"ours-{phase}-{ep.key}.txt"
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
            ws = Workspace(Path(tmp))
            samples = 10 if opts.quick else 50
            all_runs: list[Run] = []
            reports: list[dict[str, Any]] = []
            phases: list[tuple[str, bool, int]] = [
                (f"Signed in, production, {w} worker{'s' if w > 1 else ''}", True, w) for w in opts.workers
            ]
            if opts.open_api:
                phases.append(("Open API, no session (development mode)", False, 1))
            printed: list[tuple[str, int, list[Summary], list[Run]]] = []
            for title, signed_in, workers in phases:
                eps = signed_in_endpoints(data) if signed_in else endpoints(data)
                if signed_in and opts.only:
                    eps = [ep for ep in eps if ep.key in opts.only]
                ours, base = make_servers(opts, Path(tmp), signed_in=signed_in, workers=workers)
                servers[:] = [ours, base]
                for server in servers:
                    server.start(Path(tmp))
                for server in servers:
                    # Tenantry's API answers 401 without a session; the baseline is open without one.
                    wait_ready(
                        server,
                        "/api/auth/ok" if server is ours and signed_in else f"/api/projects/{data.project_ids[0]}",
                    )
                    log(f"{server.name} ready on {server.base_url} (pid {server.pid}, {workers} worker(s))")
                if signed_in:
                    checked = verify_signed_in(ours, base, eps, samples, opts.database_url)
                else:
                    checked = verify_identical(ours, base, eps, samples)
                log(f"identical responses from both servers for {checked} requests")
                runs = measure(opts, ws, ours, base, eps)
                summaries = summarize(runs, [(ep.key, ep.label) for ep in eps])
                printed.append((title, workers, summaries, runs))
                all_runs += runs
                reports.append(
                    {"phase": title, "summaries": [asdict(x) for x in summaries], "runs": [asdict(r) for r in runs]}
                )
                if opts.profile is not None:
                    profile(opts, ws, ours, eps, "signed-in" if signed_in else "open")
                for server in servers:
                    server.stop()
            for title, workers, summaries, runs in printed:
                print_report(opts, title, workers, summaries, runs)
            if opts.json_out is not None:
                payload: dict[str, Any] = {
                    "options": {**asdict(opts), "profile": str(opts.profile), "json_out": str(opts.json_out)},
                    "phases": reports,
                }
                opts.json_out.write_text(json.dumps(payload, indent=2, default=str))
            runs = all_runs
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
