"""What row-level security costs: the same signed-in reads with the database's policies on and off.

    .venv/bin/python bench/tenancy.py [--duration 10] [--connections 50] [--rounds 3] [--quick]

Creates two databases with the seed's schema (``tenantry_bench_tenancy_rls`` and ``…_norls``) and
starts Tenantry on each (uvicorn, one worker each, ports 8841/8842) with the same settings; on the
second the tenant tables' row-level security is switched off, which is the only difference. On
each, ``--users`` users sign up with an organization of their own and create ``--projects``
projects. Then wrk reads as those users, a different one on every request (so each request also
pays for switching the connection's acting user, as mixed traffic does):

- ``list``: ``GET /api/projects?limit=20`` (the user's organization's projects);
- ``get``:  ``GET /api/projects/:id`` (one of them).

Both servers scope every query in SQL already, so the ratio is the price of the second wall alone.
Needs ``wrk``; everything started is stopped and both databases dropped on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from common import (
    DB_PREFIX,
    DEFAULT_PG,
    ROOT,
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

SCHEMA = ROOT / "tests" / "seed_schema.yaml"
SECRET = "tenantry-bench-secret-0123456789abcdef0123456789abcdef"  # a throwaway benchmark secret
PASSWORD = "Bench-Password-0001"
REF = "no-rls"
ENDPOINTS = [("list", "list 20 of own org, RLS"), ("get", "get by id, RLS")]
GUARDED = ("projects", "subscriptions", "audit_logs")

# Each request takes the next "token path" pair of the endpoint's file, thread by thread.
WRK_LUA = (
    r"""
local pairs_ = {}
local n = 0
local i = 0
function init(args)
  for line in io.lines(args[1]) do
    local token, path = line:match("^(%S+) (%S+)$")
    n = n + 1
    pairs_[n] = {token, path}
  end
  i = math.random(n)
end
function request()
  i = i % n + 1
  local p = pairs_[i]
  return wrk.format("GET", p[2], {["Authorization"] = "Bearer " .. p[1]})
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
    projects: int
    pg_url: str
    ours_port: int
    ref_port: int

    def url(self, db: str) -> str:
        return f"{self.pg_url.rstrip('/')}/{db}"


def parse_args(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=10, help="seconds per measured wrk run (default 10)")
    p.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="measured runs per server and endpoint, >= 2 (default 3)")
    p.add_argument("--warmup", type=int, default=5, help="warm-up seconds per server and endpoint (default 5)")
    p.add_argument("--users", type=int, default=50, help="users, each with an organization (default 50)")
    p.add_argument("--projects", type=int, default=20, help="projects per organization (default 20)")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 s runs, 2 rounds, 2 s warm-up, 10 users")
    p.add_argument("--pg-url", default=DEFAULT_PG, help=f"PostgreSQL server, no database (default {DEFAULT_PG})")
    p.add_argument("--ours-port", type=int, default=8841)
    p.add_argument("--ref-port", type=int, default=8842)
    a = p.parse_args(argv)
    if a.quick:
        a.duration, a.rounds, a.warmup, a.users = 3, 2, 2, min(a.users, 10)
    if a.rounds < 2:
        p.error("--rounds must be at least 2")
    return Options(
        a.duration, a.connections, a.threads, a.rounds, a.warmup, a.users, a.projects, a.pg_url, a.ours_port, a.ref_port
    )


def create_tables(url: str, rls: bool) -> None:
    """The seed's tables as migrations make them; without ``rls`` the policies are switched off."""
    from tenantry.app import app_tables
    from tenantry.auth import AuthSettings
    from tenantry.config import Settings
    from tenantry.db.migrations import sync_schema
    from tenantry.schema import load_schema

    settings = Settings(_env_file=None, DATABASE_URL=url, auth=AuthSettings(_env_file=None))
    sync_schema(url, app_tables(load_schema(str(SCHEMA)), settings))
    if not rls:

        async def switch_off() -> None:
            conn = await asyncpg.connect(url)
            try:
                for table in GUARDED:
                    await conn.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
            finally:
                await conn.close()

        asyncio.run(switch_off())


def make_server(name: str, port: int, url: str, workdir: Path) -> Server:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env |= {
        "TENANTRY_SCHEMA": str(SCHEMA),
        "TENANTRY_HOOKS": str(ROOT / "examples" / "saas" / "hooks.py"),
        "DATABASE_URL": url,
        "TENANTRY_ENV": "development",
        "TENANTRY_OPEN_API": "false",
        "TENANTRY_SECRET": SECRET,
        "TENANTRY_BASE_URL": f"http://127.0.0.1:{port}",
        "TENANTRY_REQUIRE_EMAIL_VERIFICATION": "false",
        "TENANTRY_RATE_LIMIT": "off",
    }
    return Server(name, port, uvicorn_argv("tenantry.app:served_app", port), env, workdir / f"{name}.log")


def seed_user(server: Server, projects: int, i: int) -> list[tuple[str, str]]:
    """One user with an organization and its projects: ``(token, project id)`` pairs."""
    origin = {"Origin": server.base_url}
    body = {"email": f"user{i}@example.com", "password": PASSWORD, "name": f"User {i}", "organizationName": f"Org {i}"}
    reply = http_request(server, "POST", "/api/auth/sign-up/email", body, origin)
    if reply.status != 200:
        raise BenchError(f"sign-up on {server.name} answered {reply.status}: {reply.body[:300]!r}")
    token = reply.header("set-auth-token")
    out = []
    for n in range(projects):
        created = http_request(
            server, "POST", "/api/projects", {"name": f"Project {i}-{n}"}, {"Authorization": f"Bearer {token}"}
        )
        if created.status != 201:
            raise BenchError(f"creating a project on {server.name} answered {created.status}: {created.body[:300]!r}")
        project = created.json()
        assert isinstance(project, dict)
        out.append((token, str(project["id"])))
    return out


def write_scripts(workdir: Path, server: Server, seeded: list[list[tuple[str, str]]]) -> dict[str, Path]:
    files = {}
    for key in ("list", "get"):
        path = workdir / f"{server.name}-{key}.txt"
        lines = [
            f"{token} /api/projects?limit=20" if key == "list" else f"{token} /api/projects/{pid}"
            for user in seeded
            for token, pid in (user[:1] if key == "list" else user)
        ]
        path.write_text("\n".join(lines) + "\n")
        files[key] = path
    return files


def run_wrk(
    opts: Options, script: Path, files: dict[str, dict[str, Path]], server: Server, key: str, secs: int, rnd: int
) -> Run:
    argv = ["wrk", f"-t{opts.threads}", f"-c{opts.connections}", f"-d{secs}s", "-s", str(script), server.base_url]
    return wrk_run([*argv, "--", str(files[server.name][key])], server, key, rnd)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    dbs = {"ours": f"{DB_PREFIX}_tenancy_rls", REF: f"{DB_PREFIX}_tenancy_norls"}
    servers: list[Server] = []
    created: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tenantry-bench-tenancy-") as tmp, terminate_as_interrupt():
        workdir = Path(tmp)
        try:
            require_wrk()
            require_free_ports(opts.ours_port, opts.ref_port)
            for name, db in dbs.items():
                log(f"creating database {db}")
                asyncio.run(create_database(opts.pg_url, db))
                created.append(db)
                create_tables(opts.url(db), rls=name == "ours")
            ours = make_server("ours", opts.ours_port, opts.url(dbs["ours"]), workdir)
            ref = make_server(REF, opts.ref_port, opts.url(dbs[REF]), workdir)
            servers += [ours, ref]
            for server in servers:
                server.start(workdir)
                wait_ready(server, "/api/auth/ok")
            files: dict[str, dict[str, Path]] = {}
            for server in servers:
                log(f"seeding {opts.users} organizations x {opts.projects} projects on {server.name}")
                with ThreadPoolExecutor(4) as pool:
                    seeded = list(pool.map(functools.partial(seed_user, server, opts.projects), range(opts.users)))
                files[server.name] = write_scripts(workdir, server, seeded)
            script = workdir / "rotate.lua"
            script.write_text(WRK_LUA)
            runs = alternate(
                [key for key, _ in ENDPOINTS],
                ours,
                ref,
                functools.partial(run_wrk, opts, script, files),
                warmup=opts.warmup,
                rounds=opts.rounds,
                duration=opts.duration,
            )
            print(
                f"\nRow-level security on vs off ({opts.users} users, one organization each, "
                "a different user per request)\n"
            )
            print_table(summarize(runs, ENDPOINTS, ref=REF), ref=REF)
            print_totals(runs)
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
