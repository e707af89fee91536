"""What authenticating with an API key costs, against a session, in one invocation.

    .venv/bin/python bench/api_key.py [--requests 400] [--rounds 3] [--database sqlite|postgresql]

One app, one admin with 20 projects and one API key. Each round sends the same number of
``GET /api/projects?limit=20`` requests three ways, in process through httpx's ASGI transport (no
sockets, so the figures are the server's own work): with the session as a bearer token (the
baseline: one session lookup), with ``x-api-key`` (the key's lookup with its user and membership,
then one transaction counting the use and writing its audit row), and with ``x-api-key`` with the
per-request audit row turned off (``TENANTRY_API_KEY_AUDIT_USE=false``). Rounds rotate the order;
it prints the median time per request of each and the key/session ratios, and the audit rows
written. The test suite never runs it.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from common import in_process_main  # noqa: E402
from tenantry.app import app_tables, create_app  # noqa: E402
from tenantry.auth import Authentication, AuthSettings  # noqa: E402
from tenantry.auth.plugins.api_key import ApiKeyPlugin  # noqa: E402
from tenantry.config import Settings  # noqa: E402
from tenantry.db.migrations import sync_schema  # noqa: E402
from tenantry.schema import load_schema  # noqa: E402

BASE = "http://bench.local"
PASSWORD = "Password-One-111"
URL = "/api/projects?limit=20"


async def timed(client: httpx.AsyncClient, headers: dict[str, str], count: int) -> float:
    """Seconds per request for ``count`` sequential GETs of the list with ``headers``."""
    started = time.perf_counter()
    for _ in range(count):
        response = await client.get(URL, headers=headers)
        assert response.status_code == 200, response.text
    return (time.perf_counter() - started) / count


async def run(database_url: str, requests: int, rounds: int) -> None:
    # Keys created by this run may make every request the bench sends.
    os.environ["TENANTRY_API_KEY_RATE_LIMIT_MAX"] = str(10 * requests * rounds + 1000)
    schema = load_schema(ROOT / "tests" / "seed_schema.yaml")
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)
    settings = Settings(DATABASE_URL=database_url, TENANTRY_BASE_URL=BASE, TENANTRY_OPEN_API=False, auth=auth)
    await asyncio.to_thread(sync_schema, database_url, app_tables(schema, settings))
    app = create_app(schema, settings)
    origin = {"origin": BASE}
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        body = {"email": "bea@example.com", "password": PASSWORD, "name": "Bea"}
        token = (await c.post("/api/auth/sign-up/email", json=body, headers=origin)).json()["token"]
        c.cookies.clear()
        session = {"authorization": f"Bearer {token}", **origin}
        org = await c.post("/api/auth/organization/create", json={"name": "Bench"}, headers=session)
        assert org.status_code == 200, org.text
        created = await c.post("/api/auth/api-key/create", json={"name": "bench"}, headers=session)
        key = {"x-api-key": created.json()["key"]}
        for i in range(20):
            project = {"name": f"Project {i}", "description": "Benchmark data"}
            assert (await c.post("/api/projects", json=project, headers=session)).status_code == 201
        plugin = app.state.tenantry.get(Authentication).plugin("api-key")
        assert isinstance(plugin, ApiKeyPlugin)

        async def with_key(audited: bool, count: int) -> float:
            plugin.settings.audit_use = audited
            return await timed(c, key, count)

        async def with_session(count: int) -> float:
            return await timed(c, session, count)

        await with_session(50)  # warm up: statements prepared, pools filled
        await with_key(True, 50)
        await with_key(False, 50)
        results: dict[str, list[float]] = {"session": [], "key": [], "key, no audit row": []}
        for r in range(rounds):
            order = ["session", "key", "key, no audit row"]
            order = order[r % 3 :] + order[: r % 3]
            for mode in order:
                if mode == "session":
                    results[mode].append(await with_session(requests))
                else:
                    results[mode].append(await with_key(mode == "key", requests))
        rows = await app.state.tenantry.db.fetch("SELECT count(*) FROM audit_logs WHERE action = 'api_key_use'")
    base = statistics.median(results["session"])
    print(f"database: {settings.dialect}, {requests} requests x {rounds} rounds, in process")
    for mode, values in results.items():
        m = statistics.median(values)
        print(f"  GET {URL} with {mode:<18} {m * 1000:7.2f} ms/request  ({m / base:.2f}x the session)")
    print(f"  audit rows written for key uses: {rows[0][0]}")


if __name__ == "__main__":
    in_process_main(__doc__, "api_key", run)
