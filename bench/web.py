"""The web app's pages against the JSON API they share a pipeline with, in one invocation.

    .venv/bin/python bench/web.py [--requests 400] [--rounds 3] [--database sqlite|postgresql]

One app, one signed-in admin with 20 projects. Each round sends the same number of requests to
``GET /dashboard`` (20 project cards, the organization switcher, the role check) and to its
baseline ``GET /api/projects?limit=20`` (the same rows as JSON), in process through httpx's ASGI
transport: no sockets, so the figures are the server's own work per request (session lookup,
pipeline, rendering). Rounds alternate which goes first; it prints the median time per request
of each and the page/API ratio. The test suite never runs it.
"""

from __future__ import annotations

import asyncio
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
from tenantry.config import Settings  # noqa: E402
from tenantry.db.migrations import sync_schema  # noqa: E402
from tenantry.schema import load_schema  # noqa: E402

BASE = "http://bench.local"
PASSWORD = "Password-One-111"


async def timed(client: httpx.AsyncClient, url: str, count: int) -> float:
    """Seconds per request for ``count`` sequential GETs of ``url``."""
    started = time.perf_counter()
    for _ in range(count):
        response = await client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    return (time.perf_counter() - started) / count


async def run(database_url: str, requests: int, rounds: int) -> None:
    schema = load_schema(ROOT / "tests" / "seed_schema.yaml")
    settings = Settings(DATABASE_URL=database_url, TENANTRY_BASE_URL=BASE, TENANTRY_OPEN_API=False)
    await asyncio.to_thread(sync_schema, database_url, app_tables(schema, settings))
    app = create_app(schema, settings)
    origin = {"origin": BASE}
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        form = {"organization": "Bench", "name": "Bea", "email": "bea@example.com", "password": PASSWORD}
        assert (await c.post("/signup", data=form, headers=origin)).status_code == 303
        mails = await c.get("/dev/mail.json?to=bea@example.com")
        verify = mails.json()[0]["url"].removeprefix(BASE)
        assert (await c.get(verify)).status_code == 302
        login = {"email": "bea@example.com", "password": PASSWORD}
        assert (await c.post("/login", data=login, headers=origin)).status_code == 303
        for i in range(20):
            body = {"name": f"Project {i}", "description": "Benchmark data", "status": "active"}
            assert (await c.post("/app/projects/new", data=body, headers=origin)).status_code == 303
        page, api = "/dashboard", "/api/projects?limit=20"
        await timed(c, page, 50)  # warm up: templates compiled, statements prepared
        await timed(c, api, 50)
        pages: list[float] = []
        apis: list[float] = []
        for r in range(rounds):
            order = [(page, pages), (api, apis)] if r % 2 == 0 else [(api, apis), (page, pages)]
            for url, results in order:
                results.append(await timed(c, url, requests))
    p, a = statistics.median(pages), statistics.median(apis)
    print(f"database: {settings.dialect}, {requests} requests x {rounds} rounds, in process")
    print(f"  GET /dashboard (HTML, 20 cards)   {p * 1000:7.2f} ms/request")
    print(f"  GET /api/projects?limit=20 (JSON) {a * 1000:7.2f} ms/request  (baseline)")
    print(f"  page / API: {p / a:.2f}x")


if __name__ == "__main__":
    in_process_main(__doc__, "web", run)
