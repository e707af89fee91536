"""Tenantry's ``/api/auth`` against the real Better Auth server (better-auth 1.7.25 on Node), in one invocation.

    .venv/bin/python bench/auth.py [--duration 10] [--connections 50] [--threads 2] [--rounds 3] [--quick]

Creates two databases on one PostgreSQL (``tenantry_bench_auth_ours`` and ``tenantry_bench_auth_ba``),
starts Tenantry (uvicorn, one worker, port 8831, in production mode as ``tenantry serve`` runs it:
JSON access lines, mail to a file) and ``bench/better_auth_server.mjs`` (one Node
process, port 8832) with the same secret and rate limits off, signs the same users up and in on each
through its own endpoints, checks the answers are comparable, checks that a revoked session is gone
on the very next ``get-session``, then drives ``GET /api/auth/get-session`` (rotating session cookies)
and ``POST /api/auth/sign-in/email`` (rotating users) with ``wrk``, alternating servers run by run,
and prints requests per second, latency, server CPU per request, the ours/Better Auth ratios and
the issue's targets (get-session >= 4x, sign-in >= 1x) as PASS/FAIL. Everything it started is
stopped and both databases dropped on exit, Ctrl-C included.

See bench/README.md. Needs ``wrk``, Node 20 with ``tests/compat/node_modules`` (``npm ci`` there),
and ``py-spy`` for ``--profile``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import asyncpg

from common import (
    BENCH_DIR,
    DB_PREFIX,
    DEFAULT_PG,
    ROOT,
    WRK_DONE_LUA,
    BenchError,
    Reply,
    Run,
    Server,
    Summary,
    alternate,
    create_database,
    drop_database,
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

SCHEMA = ROOT / "tests" / "seed_schema.yaml"
COMPAT_DIR = ROOT / "tests" / "compat"
BA_SERVER = BENCH_DIR / "better_auth_server.mjs"
BA_VERSION = "1.7.25"
POOL_SIZE = 10  # Tenantry's default TENANTRY_DB_POOL_SIZE; Better Auth's pg Pool gets the same.
SECRET = "tenantry-bench-secret-0123456789abcdef0123456789abcdef"  # a throwaway benchmark secret
PASSWORD = "Bench-Password-0001"
SESSION_COOKIE = "better-auth.session_token"
REF = "better-auth"  # the reference server's name in runs and logs

GET_SESSION, SIGN_IN = "get-session", "sign-in"
ENDPOINTS: tuple[tuple[str, str], ...] = (
    (GET_SESSION, "get-session (cookie)"),
    (SIGN_IN, "sign-in/email"),
)
# The targets: ours / Better Auth throughput.
TARGETS = {GET_SESSION: 4.0, SIGN_IN: 1.0}
# The hash our sign-in must verify, for the sign-in comparison to mean anything (OWASP's argon2id).
ARGON2_PREFIX = "$argon2id$v=19$m=19456,t=2,p=1$"
SCRYPT_HASH = re.compile(r"^[0-9a-f]{32}:[0-9a-f]{128}$")  # Better Auth: saltHex:keyHex

# wrk runs this in each of its threads. ``init`` reads one line per request variant: a Cookie header
# value (get-session) or a JSON body (sign-in). Every thread walks the lines from its own starting
# point, so each request carries another session or user, and both servers get the same sequence.
WRK_LUA = (
    r"""
local lines = {}
local pos = 0
local counter = 0
local kind = "get-session"
local origin = nil

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  kind = args[1]
  for line in io.lines(args[2]) do
    if #line > 0 then lines[#lines + 1] = line end
  end
  local threads = tonumber(args[3]) or 1
  origin = args[4]
  pos = math.floor((tid or 0) * #lines / threads)
end

function request()
  pos = pos % #lines + 1
  if kind == "sign-in" then
    return wrk.format("POST", "/api/auth/sign-in/email",
      {["Content-Type"] = "application/json", ["Origin"] = origin}, lines[pos])
  end
  return wrk.format("GET", "/api/auth/get-session", {["Cookie"] = lines[pos]})
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
    users: int
    pg_url: str
    db_name: str
    ours_port: int
    ba_port: int
    keep_db: bool
    profile: Path | None
    profile_duration: int
    json_out: Path | None
    quick: bool

    @property
    def ours_db(self) -> str:
        return f"{self.db_name}_ours"

    @property
    def ba_db(self) -> str:
        return f"{self.db_name}_ba"

    def url(self, db: str) -> str:
        return f"{self.pg_url.rstrip('/')}/{db}"


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Parse the command line; ``--quick`` shortens every phase (a smoke run, not a measurement)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=int, default=10, help="seconds per measured wrk run (default 10)")
    p.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="measured runs per server and endpoint, >= 2 (default 3)")
    p.add_argument("--warmup", type=int, default=5, help="warm-up seconds per server and endpoint (default 5)")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 s runs, 2 rounds, 2 s warm-up, 50 users")
    p.add_argument("--users", type=int, default=200, help="users signed up on each server (default 200)")
    p.add_argument("--pg-url", default=DEFAULT_PG, help=f"PostgreSQL server, no database (default {DEFAULT_PG})")
    p.add_argument(
        "--db-name",
        default=f"{DB_PREFIX}_auth",
        help=f"prefix of the two databases <name>_ours and <name>_ba (must start with {DB_PREFIX})",
    )
    p.add_argument("--ours-port", type=int, default=8831)
    p.add_argument("--ba-port", type=int, default=8832)
    p.add_argument("--keep-db", action="store_true", help="leave both databases in place at the end")
    p.add_argument("--profile", type=Path, metavar="DIR", help="also profile Tenantry under load with py-spy")
    p.add_argument("--profile-duration", type=int, default=10, help="py-spy seconds per endpoint (default 10)")
    p.add_argument("--json", dest="json_out", type=Path, metavar="FILE", help="also write the results as JSON")
    a = p.parse_args(argv)
    if a.quick:
        a.duration, a.rounds, a.warmup, a.users = 3, 2, 2, min(a.users, 50)
    if a.rounds < 2:
        p.error("--rounds must be at least 2")
    if a.threads < 1 or a.connections < a.threads:
        p.error("--connections must be at least --threads (and --threads at least 1)")
    if a.users < 4:
        p.error("--users must be at least 4")
    if not a.db_name.startswith(DB_PREFIX) or not a.db_name.replace("_", "").isalnum():
        p.error(f"--db-name must start with {DB_PREFIX} and be letters, digits and underscores")
    if a.ours_port == a.ba_port:
        p.error("the two servers need different ports")
    return Options(
        duration=a.duration,
        connections=a.connections,
        threads=a.threads,
        rounds=a.rounds,
        warmup=a.warmup,
        users=a.users,
        pg_url=a.pg_url,
        db_name=a.db_name,
        ours_port=a.ours_port,
        ba_port=a.ba_port,
        keep_db=a.keep_db,
        profile=a.profile,
        profile_duration=a.profile_duration,
        json_out=a.json_out,
        quick=a.quick,
    )


# --------------------------------------------------------------------------------------------------
# Preconditions and servers


def require_tools(opts: Options) -> str:
    """wrk, Node and better-auth 1.7.25 (py-spy for --profile) must be installed; the ports free.

    Returns Node's version.
    """
    require_wrk()
    node = shutil.which("node")
    if node is None:
        raise BenchError("node is not on PATH; install Node 20 (the Better Auth server runs on it)")
    package = COMPAT_DIR / "node_modules" / "better-auth" / "package.json"
    if not package.exists():
        raise BenchError(f"better-auth is not installed: run `npm ci` in {COMPAT_DIR}")
    version = json.loads(package.read_text())["version"]
    if version != BA_VERSION:
        raise BenchError(f"{package} is better-auth {version}; this benchmark compares against {BA_VERSION}")
    if opts.profile is not None and py_spy() is None:
        raise BenchError(f"--profile needs py-spy: {sys.executable} -m pip install py-spy")
    require_free_ports(opts.ours_port, opts.ba_port)
    return subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()


def create_our_tables(opts: Options) -> None:
    """The seed schema's tables plus the authentication tables, as ``tenantry dev`` creates them."""
    from tenantry.app import app_tables
    from tenantry.auth import AuthSettings
    from tenantry.config import Settings
    from tenantry.db.migrations import sync_schema
    from tenantry.schema import load_schema

    settings = Settings(_env_file=None, auth=AuthSettings(_env_file=None))  # the defaults, not a stray .env
    sync_schema(opts.url(opts.ours_db), app_tables(load_schema(str(SCHEMA)), settings, "postgresql"))


def make_servers(opts: Options, workdir: Path) -> tuple[Server, Server]:
    """Tenantry as ``tenantry serve`` runs it (``served_app``) and Better Auth (``better_auth_server.mjs``), alike."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("TENANTRY_", "BENCH_", "BETTER_AUTH_"))}
    for name in ("DATABASE_URL", "REDIS_URL", "NODE_ENV", "NODE_OPTIONS", "UV_THREADPOOL_SIZE"):
        base_env.pop(name, None)
    ours_env = {
        **base_env,
        "TENANTRY_SCHEMA": str(SCHEMA),
        "TENANTRY_HOOKS": str(ROOT / "examples" / "saas" / "hooks.py"),
        "DATABASE_URL": opts.url(opts.ours_db),
        # Production, as ``tenantry serve`` runs it (JSON access lines, no development tooling).
        "TENANTRY_ENV": "production",
        "TENANTRY_MAIL_BACKEND": "file",
        "TENANTRY_MAIL_FILE": str(workdir / "mail.jsonl"),
        "TENANTRY_DB_POOL_SIZE": str(POOL_SIZE),
        "TENANTRY_SECRET": SECRET,
        "TENANTRY_BASE_URL": f"http://127.0.0.1:{opts.ours_port}",
        "TENANTRY_REQUIRE_EMAIL_VERIFICATION": "false",
        "TENANTRY_RATE_LIMIT": "off",
        "TENANTRY_SESSION_EXPIRES_IN": "604800",
        "TENANTRY_SESSION_UPDATE_AGE": "86400",
    }
    ba_env = {
        **base_env,
        "NODE_ENV": "production",
        "DATABASE_URL": opts.url(opts.ba_db),
        "BETTER_AUTH_SECRET": SECRET,
        "PORT": str(opts.ba_port),
        "DB_POOL_SIZE": str(POOL_SIZE),
        "BENCH_COMPAT_DIR": str(COMPAT_DIR),
    }
    ours = Server(
        "ours",
        opts.ours_port,
        uvicorn_argv("tenantry.app:served_app", opts.ours_port),
        ours_env,
        workdir / "ours.log",
    )
    ba = Server(REF, opts.ba_port, ["node", str(BA_SERVER)], ba_env, workdir / "better-auth.log")
    return ours, ba


# --------------------------------------------------------------------------------------------------
# Users, sessions and the checks made before measuring


def email_of(i: int) -> str:
    return f"bench-user-{i:04d}@example.com"


def origin(server: Server) -> dict[str, str]:
    """The Origin header both servers trust: their own base URL."""
    return {"Origin": server.base_url}


def session_cookie(reply: Reply) -> str | None:
    """``better-auth.session_token=<value>`` from a response's Set-Cookie headers."""
    for header in reply.all("set-cookie"):
        pair = header.split(";", 1)[0]
        if pair.startswith(SESSION_COOKIE + "=") and len(pair) > len(SESSION_COOKIE) + 1:
            return pair
    return None


def token_of(cookie: str) -> str:
    """The session token inside a signed cookie pair (``name=token.signature``, URL-encoded)."""
    return unquote(cookie.split("=", 1)[1]).rpartition(".")[0]


def sign_in(server: Server, email: str, password: str = PASSWORD) -> Reply:
    body = {"email": email, "password": password}
    return http_request(server, "POST", "/api/auth/sign-in/email", body, origin(server))


def get_session(server: Server, cookie: str) -> Reply:
    return http_request(server, "GET", "/api/auth/get-session", headers={"Cookie": cookie})


def create_user(server: Server, i: int) -> str:
    """Sign user ``i`` up, then in, through the server's own endpoints; returns the sign-in's session cookie."""
    body = {"email": email_of(i), "password": PASSWORD, "name": f"Bench User {i}", "role": "member"}
    up = http_request(server, "POST", "/api/auth/sign-up/email", body, origin(server))
    if up.status != 200:
        raise BenchError(f"{server.name}: sign-up of {email_of(i)} answered {up.status}: {up.body[:300]!r}")
    signed_in = sign_in(server, email_of(i))
    cookie = session_cookie(signed_in)
    if signed_in.status != 200 or cookie is None:
        raise BenchError(
            f"{server.name}: sign-in of {email_of(i)} answered {signed_in.status}: {signed_in.body[:300]!r}"
        )
    return cookie


def create_users(server: Server, count: int) -> list[str]:
    """``count`` users on ``server`` (a few at a time: each costs two password hashes); their cookies."""
    pool = ThreadPoolExecutor(max_workers=8)
    try:
        return list(pool.map(lambda i: create_user(server, i), range(count)))
    finally:
        # On Ctrl-C or an error, drop the users not started yet instead of waiting for them all.
        pool.shutdown(wait=False, cancel_futures=True)


def _keys(value: object) -> list[str]:
    return list(value) if isinstance(value, dict) else []


@dataclass
class Comparison:
    """What the get-session and sign-in checks found, printed before the figures."""

    sampled: int = 0
    top_keys: list[str] = field(default_factory=list)
    session_keys: dict[str, list[str]] = field(default_factory=dict)
    user_keys: dict[str, list[str]] = field(default_factory=dict)
    body_bytes: dict[str, int] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)


def check_get_session(ours: Server, ba: Server, cookies: dict[str, list[str]], samples: int) -> Comparison:
    """Both answer 200 with a non-null session of the cookie's token, the same top-level keys, no refresh."""
    found = Comparison()
    for server in (ours, ba):
        for cookie in random.Random(3).sample(cookies[server.name], samples):
            reply = get_session(server, cookie)
            body = reply.json() if reply.status == 200 else None
            if not isinstance(body, dict) or not isinstance(body.get("session"), dict):
                raise BenchError(
                    f"{server.name}: get-session with a fresh cookie answered {reply.status} {reply.body[:300]!r}"
                )
            if body["session"].get("token") != token_of(cookie):
                raise BenchError(f"{server.name}: get-session returned another session than the cookie's")
            if reply.all("set-cookie"):
                raise BenchError(f"{server.name}: get-session re-issued cookies for a fresh session (a refresh?)")
            found.session_keys[server.name] = _keys(body["session"])
            found.user_keys[server.name] = _keys(body.get("user"))
            found.body_bytes[server.name] = len(reply.body)
            keys = _keys(body)
            if found.top_keys and keys != found.top_keys:
                raise BenchError(f"get-session top-level keys differ: {found.top_keys} vs {server.name} {keys}")
            found.top_keys = keys
        found.sampled += samples
        bad = get_session(server, f"{SESSION_COOKIE}=not-a-session.{'A' * 43}=")
        if bad.status != 200 or bad.body.strip() != b"null":
            raise BenchError(
                f"{server.name}: get-session with a forged cookie answered {bad.status} {bad.body[:200]!r}"
            )
    return found


def check_sign_in(ours: Server, ba: Server) -> None:
    """The request wrk sends succeeds on both (200, a session cookie); a wrong password is 401 on both."""
    for server in (ours, ba):
        ok = sign_in(server, email_of(1))
        if ok.status != 200 or session_cookie(ok) is None:
            raise BenchError(f"{server.name}: sign-in answered {ok.status} {ok.body[:300]!r}")
        wrong = sign_in(server, email_of(1), "Wrong-Password-0001")
        if wrong.status != 401:
            raise BenchError(f"{server.name}: sign-in with a wrong password answered {wrong.status}, expected 401")


async def stored_hashes(opts: Options) -> dict[str, str]:
    """One stored password hash per server, to show which algorithm each sign-in verifies."""
    out: dict[str, str] = {}
    for name, db, sql in (
        ("ours", opts.ours_db, "SELECT password FROM auth_accounts WHERE provider_id = 'credential' LIMIT 1"),
        (REF, opts.ba_db, """SELECT password FROM account WHERE "providerId" = 'credential' LIMIT 1"""),
    ):
        conn = await asyncpg.connect(opts.url(db))
        try:
            out[name] = str(await conn.fetchval(sql))
        finally:
            await conn.close()
    if not out["ours"].startswith(ARGON2_PREFIX):
        raise BenchError(f"our stored hash is not argon2id at OWASP parameters: {out['ours'][:40]}…")
    if not SCRYPT_HASH.match(out[REF]):
        raise BenchError(f"Better Auth's stored hash is not its scrypt format: {out[REF][:40]}…")
    return out


@dataclass
class Revocation:
    """One revocation check: the revoked session's very next get-session must be null."""

    server: str
    how: str
    before: str
    after: str
    cleared: bool

    @property
    def passed(self) -> bool:
        return self.before == "session" and self.after == "null"


def _state(reply: Reply) -> str:
    if reply.status != 200:
        return f"HTTP {reply.status}"
    body = reply.json()
    return "session" if isinstance(body, dict) and body.get("session") else "null" if body is None else "other"


def check_revocation(server: Server) -> list[Revocation]:
    """Revoke a session two ways (from another session of the user; by signing out) and read it back at once.

    There is no wait between the revocation and the read: a session cache (Better Auth's cookie
    cache, or any in-process cache) would still answer with the session.
    """
    email = email_of(0)
    results = []
    revoker, victim = (session_cookie(sign_in(server, email)) for _ in range(2))
    if revoker is None or victim is None:
        raise BenchError(f"{server.name}: sign-in for the revocation check gave no session cookie")
    before = _state(get_session(server, victim))
    revoked = http_request(
        server,
        "POST",
        "/api/auth/revoke-session",
        {"token": token_of(victim)},
        {"Cookie": revoker, **origin(server)},
    )
    if revoked.status != 200:
        raise BenchError(f"{server.name}: revoke-session answered {revoked.status} {revoked.body[:300]!r}")
    after = get_session(server, victim)
    cleared = any(h.startswith(f"{SESSION_COOKIE}=;") for h in after.all("set-cookie"))
    results.append(Revocation(server.name, "revoke-session (from another session)", before, _state(after), cleared))

    leaving = session_cookie(sign_in(server, email))
    if leaving is None:
        raise BenchError(f"{server.name}: sign-in for the sign-out check gave no session cookie")
    before = _state(get_session(server, leaving))
    out = http_request(server, "POST", "/api/auth/sign-out", {}, {"Cookie": leaving, **origin(server)})
    if out.status != 200:
        raise BenchError(f"{server.name}: sign-out answered {out.status} {out.body[:300]!r}")
    after = get_session(server, leaving)
    cleared = any(h.startswith(f"{SESSION_COOKIE}=;") for h in after.all("set-cookie"))
    results.append(Revocation(server.name, "sign-out", before, _state(after), cleared))
    return results


# --------------------------------------------------------------------------------------------------
# Load


class Workspace:
    """Temporary files: the wrk script and, per server, its cookie list and its sign-in bodies."""

    def __init__(self, directory: Path, cookies: dict[str, list[str]], users: int) -> None:
        self.dir = directory
        self.script = directory / "auth.lua"
        self.script.write_text(WRK_LUA)
        order = list(range(users))
        random.Random(11).shuffle(order)  # the same user order on both servers
        bodies = [json.dumps({"email": email_of(i), "password": PASSWORD}) for i in order]
        self.lines: dict[tuple[str, str], Path] = {}
        for name, server_cookies in cookies.items():
            self._write(name, GET_SESSION, [server_cookies[i] for i in order])
            self._write(name, SIGN_IN, bodies)

    def _write(self, server: str, endpoint: str, lines: list[str]) -> None:
        path = self.dir / f"{server}-{endpoint}.lines"
        path.write_text("\n".join(lines) + "\n")
        self.lines[(server, endpoint)] = path


def wrk_argv(opts: Options, ws: Workspace, server: Server, endpoint: str, seconds: int) -> list[str]:
    return [
        "wrk",
        f"-t{opts.threads}",
        f"-c{opts.connections}",
        f"-d{seconds}s",
        "--timeout",
        "30s",  # sign-in under 50 connections queues for seconds on a server doing ~20 hashes/s
        "-s",
        str(ws.script),
        server.base_url,
        "--",
        endpoint,
        str(ws.lines[(server.name, endpoint)]),
        str(opts.threads),
        server.base_url,
    ]


def run_wrk(opts: Options, ws: Workspace, server: Server, endpoint: str, seconds: int, rnd: int) -> Run:
    """One wrk run, then wait until the server has finished what it had queued (sign-in hashes)."""
    run = wrk_run(wrk_argv(opts, ws, server, endpoint, seconds), server, endpoint, rnd)
    waited = server.settle()
    if waited > 2:
        log(f"{server.name} took {waited:.1f}s to go idle after {endpoint}")
    return run


def measure(opts: Options, ws: Workspace, ours: Server, ba: Server) -> list[Run]:
    """Warm up, then per endpoint ``rounds`` runs per server, alternating (A B, B A, A B …)."""
    return alternate(
        [key for key, _ in ENDPOINTS],
        ours,
        ba,
        functools.partial(run_wrk, opts, ws),
        warmup=opts.warmup,
        rounds=opts.rounds,
        duration=opts.duration,
    )


def profile(opts: Options, ws: Workspace, ours: Server) -> None:
    """py-spy on Tenantry while wrk loads each endpoint; writes collapsed stacks and prints hotspots."""
    assert opts.profile is not None
    spy = py_spy()
    assert spy is not None
    opts.profile.mkdir(parents=True, exist_ok=True)
    for key, label in ENDPOINTS:
        out = opts.profile / f"ours-auth-{key}.txt"
        log(f"profiling ours {key} for {opts.profile_duration}s -> {out}")
        record_profile(
            spy, ours.pid, wrk_argv(opts, ws, ours, key, opts.profile_duration + 4), out, opts.profile_duration
        )
        ours.settle()
        print_hotspots(label, out)


# --------------------------------------------------------------------------------------------------
# Report


def print_checks(comparison: Comparison, revocations: Sequence[Revocation]) -> None:
    print()
    print(f"Checks before measuring ({comparison.sampled} get-session samples):")
    print(f"  get-session: 200 with the cookie's session on both; top-level keys {comparison.top_keys} on both")
    ours_s, ba_s = comparison.session_keys.get("ours", []), comparison.session_keys.get(REF, [])
    print(f"  session keys: {'identical' if ours_s == ba_s else f'ours {ours_s} vs {REF} {ba_s}'}")
    ours_u, ba_u = comparison.user_keys.get("ours", []), comparison.user_keys.get(REF, [])
    if ours_u == ba_u:
        print("  user keys: identical")
    else:
        only_ours = [k for k in ours_u if k not in ba_u]
        only_ba = [k for k in ba_u if k not in ours_u]
        print(
            f"  user keys: only ours {only_ours}, only {REF} {only_ba} (the schema's users entity vs additionalFields)"
        )
    print(f"  body bytes: ours {comparison.body_bytes.get('ours')}, {REF} {comparison.body_bytes.get(REF)}")
    print(f"  stored password hash: ours {comparison.hashes['ours'][:31]}…  {REF} scrypt saltHex:keyHex")
    print("Revocation (the revoked session's very next get-session, no wait):")
    for r in revocations:
        verdict = "PASS" if r.passed else "FAIL"
        target = " (target: immediate)" if r.server == "ours" else " (for reference)"
        print(
            f"  {verdict}  {r.server:11} {r.how:38} before {r.before:8} after {r.after:6} "
            f"cookies cleared: {'yes' if r.cleared else 'no'}{target}"
        )


def print_report(opts: Options, node: str, summaries: Sequence[Summary], runs: Sequence[Run]) -> None:
    print()
    print(
        f"Tenantry vs better-auth {BA_VERSION} (Node {node}): {opts.rounds} rounds x {opts.duration}s per server and "
        f"endpoint, wrk {opts.threads} threads x {opts.connections} connections, {opts.users} users each."
    )
    print(
        f"One process each: uvicorn 1 worker / node 1 process; pool {POOL_SIZE} each; argon2id m=19 MiB t=2 p=1 "
        "(worker thread) vs scrypt N=16384 r=16 p=1 (libuv pool)."
    )
    print("Medians over the rounds; ratio = ours / Better Auth (BA).")
    print_table(summaries, ref="BA")
    print_totals(runs)


def print_targets(summaries: Sequence[Summary], revocations: Sequence[Revocation]) -> bool:
    """PASS/FAIL per target of the issue; True when all pass."""
    print("\nTargets:")
    passed = True
    for s in summaries:
        target = TARGETS[s.endpoint]
        ok = s.ratio >= target
        passed &= ok
        low = min(s.paired_ratios) if s.paired_ratios else 0.0
        cpu = s.base_cpu_us / s.ours_cpu_us if s.ours_cpu_us else 0.0
        print(
            f"  {'PASS' if ok else 'FAIL'}  {s.label:22} ours/BA {s.ratio:5.2f}x (target >= {target:g}x; "
            f"lowest round {low:.2f}x; BA uses {cpu:.2f}x our CPU per request)"
        )
    revoked_ok = all(r.passed for r in revocations if r.server == "ours")
    passed &= revoked_ok
    print(f"  {'PASS' if revoked_ok else 'FAIL'}  revocation is immediate on ours (next get-session is null)")
    return passed


# --------------------------------------------------------------------------------------------------
# Main


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    servers: list[Server] = []
    created: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tenantry-bench-auth-") as tmp, terminate_as_interrupt():
        try:
            node = require_tools(opts)
            for db in (opts.ours_db, opts.ba_db):
                log(f"creating database {db}")
                asyncio.run(create_database(opts.pg_url, db))
                created.append(db)
            create_our_tables(opts)
            ours, ba = make_servers(opts, Path(tmp))
            servers += [ours, ba]
            for server in servers:
                server.start(Path(tmp))
            for server in servers:
                wait_ready(server, "/api/auth/ok")
                log(f"{server.name} ready on {server.base_url} (pid {server.pid})")
            cookies: dict[str, list[str]] = {}
            for server in servers:
                log(f"signing {opts.users} users up and in on {server.name}")
                cookies[server.name] = create_users(server, opts.users)
            comparison = check_get_session(ours, ba, cookies, samples=min(opts.users, 10 if opts.quick else 50))
            check_sign_in(ours, ba)
            comparison.hashes = asyncio.run(stored_hashes(opts))
            revocations = check_revocation(ours) + check_revocation(ba)
            print_checks(comparison, revocations)
            if not all(r.passed for r in revocations if r.server == "ours"):
                log("revocation is NOT immediate on ours; measuring anyway")
            ws = Workspace(Path(tmp), cookies, opts.users)
            runs = measure(opts, ws, ours, ba)
            summaries = summarize(runs, ENDPOINTS, ref=REF)
            print_report(opts, node, summaries, runs)
            targets_met = print_targets(summaries, revocations)
            if opts.json_out is not None:
                payload: dict[str, Any] = {
                    "options": {**asdict(opts), "profile": str(opts.profile), "json_out": str(opts.json_out)},
                    "node": node,
                    "better_auth": BA_VERSION,
                    "checks": asdict(comparison),
                    "revocations": [{**asdict(r), "passed": r.passed} for r in revocations],
                    "summaries": [asdict(s) for s in summaries],
                    "runs": [asdict(r) for r in runs],
                }
                opts.json_out.write_text(json.dumps(payload, indent=2))
            if opts.profile is not None:
                profile(opts, ws, ours)
            bad = [r for r in runs if r.non2xx or r.socket_errors]
            if bad:
                print(f"\nFAILED: {len(bad)} runs had non-2xx responses or socket errors; the figures are not valid.")
                return 1
            return 0 if targets_met else 3
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
                if not opts.keep_db:
                    for db in created:
                        with contextlib.suppress(Exception):
                            asyncio.run(drop_database(opts.pg_url, db))
                            log(f"dropped database {db}")


if __name__ == "__main__":
    sys.exit(main())
