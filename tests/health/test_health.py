"""``/healthz`` and ``/readyz`` on both databases: ready, and each way of not being ready that really happens."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from asgi_lifespan import LifespanManager

from tenantry.app import app_tables, create_app
from tenantry.config import Settings
from tenantry.db.migrations import head_revisions, make_revision, upgrade
from tenantry.health import HealthSettings
from tests.auth.helpers import runtime
from tests.conftest import require_service, seed_schema

REDIS_URL = os.environ.get("TENANTRY_TEST_REDIS", "redis://127.0.0.1:6379/0")


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def secret_free(text: str, settings: Settings) -> None:
    """Nothing in a probe's body says where the dependencies are or how to log in to them."""
    for secret in (settings.database_url, settings.redis_url or "", "127.0.0.1", "postgres", "password", "Error"):
        if secret:
            assert secret not in text


async def test_alive_and_ready(make_client: Any) -> None:
    async with make_client() as client:
        alive = await client.get("/healthz")
        assert alive.status_code == 200 and alive.json() == {"status": "ok"}
        assert alive.headers["cache-control"] == "no-store"
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "checks": {"database": "ok", "workers": "ok"}}
        assert (await client.head("/readyz")).status_code == 200


async def test_no_authentication_rate_limit_or_origin_check(make_client: Any) -> None:
    # A closed API, a foreign origin, a cookie: probes answer all the same, as often as asked.
    async with make_client(TENANTRY_OPEN_API=False) as client:
        headers = {"origin": "https://evil.example", "cookie": "better-auth.session_token=forged"}
        for _ in range(120):  # above the default rate-limit rule (100 per 10 s)
            assert (await client.get("/readyz", headers=headers)).status_code == 200
        assert (await client.get("/healthz", headers=headers)).status_code == 200
        # The CRUD API's catch-all still has the rest.
        assert (await client.get("/api/nothing-here")).status_code == 404


async def test_database_down(make_client: Any) -> None:
    async with make_client() as client:
        app = runtime(client)
        await app.db.close()  # the pool is gone, as when the server went away
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "unavailable" and body["failing"] == ["database"]
        assert body["checks"]["database"] == "failing"
        secret_free(ready.text, app.settings)
        # Liveness is unaffected: restarting the process would not bring the database back.
        assert (await client.get("/healthz")).status_code == 200
        await app.db.open()
        assert (await client.get("/readyz")).status_code == 200


async def test_a_hanging_database_is_a_timeout_not_a_hang(make_client: Any) -> None:
    async with make_client(health=HealthSettings(TENANTRY_HEALTH_TIMEOUT=0.2)) as client:
        app = runtime(client)
        # Every connection of the pool held: the probe's query queues behind them.
        holders = [app.db.connection() for _ in range(app.db.pool_stats().max_size)]
        for holder in holders:
            await holder.__aenter__()
        try:
            ready = await client.get("/readyz")
        finally:
            for holder in holders:
                await holder.__aexit__(None, None, None)
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "timeout"
        assert (await client.get("/readyz")).status_code == 200


async def test_a_stopped_worker(make_client: Any) -> None:
    async with make_client() as client:
        app = runtime(client)
        await app.outbox.worker("mail").stop()
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["failing"] == ["workers"] and body["stopped_workers"] == ["outbox:mail"]
        app.outbox.worker("mail").start()
        assert (await client.get("/readyz")).status_code == 200
        # A capability's own worker (authentication's expiry sweeper) is watched too.
        (sweeper,) = [w for w in app.workers if getattr(w, "name", None) == "auth-sweeper"]
        await sweeper.stop()
        body = (await client.get("/readyz")).json()
        assert body["stopped_workers"] == ["auth-sweeper"]


async def test_draining_is_not_ready(make_client: Any) -> None:
    async with make_client() as client:
        assert (await client.get("/readyz")).status_code == 200
        await runtime(client).drain()  # what `tenantry serve` does on SIGTERM
        ready = await client.get("/readyz")
        assert (ready.status_code, ready.json()) == (503, {"status": "draining"})
        assert (await client.get("/healthz")).status_code == 200  # alive, finishing its requests


async def test_redis_unreachable(make_client: Any) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    async with make_client(REDIS_URL=url) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["failing"] == ["redis"] and body["checks"]["redis"] == "failing"
        secret_free(ready.text, runtime(client).settings)


async def test_redis_reachable(make_client: Any) -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        require_service("Redis", f"cannot reach {REDIS_URL}: {exc}")
    async with make_client(REDIS_URL=REDIS_URL) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["redis"] == "ok"


@pytest.mark.slow(2)
async def test_migrations_at_head_then_behind(database_url: str, tmp_path: Path) -> None:
    """A project with revisions: ready at head; a deploy whose code has a revision the database lacks is not."""
    schema_file = tmp_path / "schema.yaml"
    schema_file.write_text("name: probe\n")
    url = database_url
    tables = app_tables(seed_schema(), Settings(DATABASE_URL=url))
    first = make_revision(url, tables, tmp_path, "initial")
    assert first is not None
    upgrade(url, tables, tmp_path)
    (head,) = head_revisions(tmp_path)
    config = Settings(DATABASE_URL=url, TENANTRY_SCHEMA=str(schema_file))
    app = create_app(seed_schema(), config)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        ready = await c.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["migrations"] == "ok"
    # The next release brings a revision not applied yet.
    versions = tmp_path / "migrations" / "versions"
    (versions / "9999_next.py").write_text(
        f'"""next"""\nrevision = "next0000"\ndown_revision = "{head}"\nbranch_labels = None\ndepends_on = None\n\n'
        "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n"
    )
    app = create_app(seed_schema(), config)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        ready = await c.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["migrations"] == "behind" and ready.json()["failing"] == ["migrations"]
        assert head not in ready.text and "next0000" not in ready.text
