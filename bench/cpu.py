"""Server CPU per signed-in request, in process: the list, the get, the list with an API key and the dashboard
(and ``/healthz``, which does no I/O: the cost of the middleware and routing alone).

    .venv/bin/python bench/cpu.py [--requests 2000] [--rounds 3] [--database sqlite|postgresql]

One app as ``tenantry serve`` runs it in production (the API closed, row-level security on
PostgreSQL), two users of two organizations with 20 projects each and one API key. Each request is
one raw ASGI call of the app (no HTTP client, no sockets), so what is measured is the app's own
work: its CPU time (``time.process_time``) per request, which the machine's other load moves
less than wall-clock throughput (it still does: compare best rounds on a busy machine). Requests
alternate between the two users, so on PostgreSQL each one finds its connection acting for the
other user (the worst case for row-level security's acting user). PostgreSQL's own CPU is not
counted (it is another process). Rounds rotate the order of the endpoints; it prints the median
and the best round's microseconds per request of each, and the dashboard/list ratio.
``BENCH_CPU_ONLY=list,get`` measures only those endpoints (to profile one:
``py-spy record --pid`` once it prints that it is measuring). The test suite never runs it.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import uvloop
from asgi_lifespan import LifespanManager

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from common import in_process_main  # noqa: E402
from tenantry.app import app_tables, create_app  # noqa: E402
from tenantry.auth import AuthSettings  # noqa: E402
from tenantry.config import Settings  # noqa: E402
from tenantry.db.migrations import sync_schema  # noqa: E402
from tenantry.schema import load_schema  # noqa: E402

BASE = "http://bench.local"
PASSWORD = "Password-One-111"
SECRET = "tenantry-bench-cpu-secret-0123456789abcdef0123456789abcdef"
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def scope_of(path: str, headers: dict[str, str]) -> dict[str, Any]:
    """The ASGI scope of ``GET path`` with ``headers``, as uvicorn builds it."""
    raw_path, _, query = path.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench.local")] + [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }


async def call(app: ASGIApp, scope: dict[str, Any]) -> int:
    """One request through ``app``: its status."""
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(scope, state={}), receive, send)
    return status


def production_settings(database_url: str) -> Settings:
    """The settings of ``tenantry serve`` in production on ``database_url`` (the rest from the environment)."""
    return Settings(
        DATABASE_URL=database_url,
        TENANTRY_BASE_URL=BASE,
        TENANTRY_ENV="production",
        TENANTRY_SECRET=SECRET,
        TENANTRY_AUTO_MIGRATE=False,
        auth=AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False),
    )


async def create_projects(client: httpx.AsyncClient, headers: dict[str, str], count: int) -> list[str]:
    """``count`` projects made through the API with ``headers`` (a signed-in user's): their ids."""
    ids = []
    for i in range(count):
        project = {"name": f"Project {i}", "description": "Benchmark data"}
        made = await client.post("/api/projects", json=project, headers=headers)
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    return ids


async def cpu_per_request(app: ASGIApp, scopes: list[dict[str, Any]], count: int) -> float:
    """CPU seconds per request over ``count`` requests cycling through ``scopes``."""
    started = time.process_time()
    for i in range(count):
        status = await call(app, scopes[i % len(scopes)])
        assert status == 200, (scopes[i % len(scopes)]["path"], status)
    return (time.process_time() - started) / count


async def run(database_url: str, requests: int, rounds: int) -> None:
    os.environ["TENANTRY_API_KEY_RATE_LIMIT_MAX"] = str(10 * requests * rounds + 1000)
    schema = load_schema(ROOT / "tests" / "seed_schema.yaml")
    # Production refuses the development mail outbox; nothing is mailed while measuring.
    os.environ["TENANTRY_MAIL_BACKEND"] = "file"
    os.environ["TENANTRY_MAIL_FILE"] = str(Path(tempfile.mkdtemp()) / "mail.jsonl")
    settings = production_settings(database_url)
    await asyncio.to_thread(sync_schema, database_url, app_tables(schema, settings))
    app = create_app(schema, settings)
    origin = {"origin": BASE}
    lists: list[dict[str, Any]] = []
    gets: list[dict[str, Any]] = []
    keys: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        for name in ("bea", "cal"):
            body = {"email": f"{name}@example.com", "password": PASSWORD, "name": name.title()}
            r = await c.post("/api/auth/sign-up/email", json=body, headers=origin)
            assert r.status_code == 200, r.text
            cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
            c.cookies.clear()
            bearer = {"authorization": f"Bearer {r.json()['token']}"}
            org = await c.post("/api/auth/organization/create", json={"name": name}, headers=bearer | origin)
            assert org.status_code == 200, org.text
            created = await c.post("/api/auth/api-key/create", json={"name": "bench"}, headers=bearer | origin)
            assert created.status_code == 200, created.text
            ids = await create_projects(c, bearer | origin, 20)
            lists.append(scope_of("/api/projects?limit=20", bearer))
            gets.append(scope_of(f"/api/projects/{ids[7]}", bearer))
            keys.append(scope_of("/api/projects?limit=20", {"x-api-key": created.json()["key"]}))
            pages.append(scope_of("/dashboard", {"cookie": cookie}))
        # ``/healthz`` does no I/O: what every request pays for the middleware and routing alone.
        stack = [scope_of("/healthz", {})]
        endpoints = {"list": lists, "get": gets, "key list": keys, "dashboard": pages, "healthz": stack}
        only = [name.strip() for name in os.environ.get("BENCH_CPU_ONLY", "").split(",") if name.strip()]
        endpoints = {name: scopes for name, scopes in endpoints.items() if not only or name in only}
        results: dict[str, list[float]] = {name: [] for name in endpoints}
        for scopes in endpoints.values():
            await cpu_per_request(app, scopes, 100)  # warm up: statements prepared, templates compiled
        names = list(endpoints)
        print(f"measuring (pid {os.getpid()})", flush=True)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                results[name].append(await cpu_per_request(app, endpoints[name], requests))
    print(f"database: {settings.dialect}, {requests} requests x {rounds} rounds, in process, production settings")
    medians = {name: statistics.median(values) for name, values in results.items()}
    for name, m in medians.items():
        # The best round too: other processes' load only ever adds to a round's figure.
        print(f"  {name:<10} {m * 1e6:8.0f} us CPU/request (median), {min(results[name]) * 1e6:6.0f} (best round)")
    if "dashboard" in medians and "list" in medians:
        print(f"  dashboard / list: {medians['dashboard'] / medians['list']:.2f}x")


if __name__ == "__main__":
    uvloop.install()  # the event loop ``tenantry serve`` runs on
    in_process_main(__doc__, "cpu", run)
