"""Shared fixtures: every API test runs against SQLite and against a real PostgreSQL.

PostgreSQL comes from ``TENANTRY_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
Without a server the PostgreSQL variants are skipped with the reason printed, except when ``CI=true``,
where they fail: CI must never pass by skipping.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from tenantry.app import app_tables, create_app
from tenantry.auth import AuthSettings
from tenantry.config import Settings
from tenantry.core import Capability
from tenantry.db.migrations import sync_schema
from tenantry.hooks import Hooks
from tenantry.schema import Schema, load_schema, load_schema_text

ROOT = Path(__file__).resolve().parents[1]
SEED_SCHEMA_PATH = ROOT / "examples" / "saas" / "schema.yaml"
PG_ADMIN_URL = os.environ.get("TENANTRY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_service(name: str, reason: str) -> None:
    """Skip (locally) or fail (in CI) when a service the test needs is missing."""
    message = f"{name} is not available: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true: services are required, not optional)")
    pytest.skip(message)


async def _pg_reachable() -> str | None:
    try:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return str(exc) or type(exc).__name__
    await conn.close()
    return None


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    """A PostgreSQL database created for this test session (None when no server is reachable)."""
    problem = asyncio.run(_pg_reachable())
    if problem is not None:
        yield None
        return
    name = f"tenantry_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_database: str | None) -> str:
    """A database URL for each back end; PostgreSQL's public schema is emptied before each test."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    if postgres_database is None:
        require_service("PostgreSQL", f"cannot connect to {PG_ADMIN_URL}")
    assert postgres_database is not None

    reset_public_schema(postgres_database)
    return postgres_database


def reset_public_schema(url: str) -> None:
    """Empty the PostgreSQL database at ``url`` (its public schema) for the next test."""

    async def reset() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        finally:
            await conn.close()

    asyncio.run(reset())


def seed_schema() -> Schema:
    return load_schema(SEED_SCHEMA_PATH)


ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def make_client(database_url: str) -> ClientFactory:
    """``async with make_client(schema_or_text, **settings) as client``: an app on a fresh database.

    ``settings`` are ``Settings`` fields: flat ones by their variable name (``TENANTRY_BASE_URL=…``)
    and capabilities' parts by name (``mail=MailSettings(…)``); ``auth`` is the ``auth`` part.
    ``capabilities`` replaces the app's default list (a test capability added to it).
    """

    @asynccontextmanager
    async def factory(
        schema: Schema | str | None = None,
        *,
        hooks: Hooks | None = None,
        auth: AuthSettings | None = None,
        capabilities: Sequence[Capability] | None = None,
        base_url: str = "http://testserver",
        **settings: Any,
    ) -> AsyncIterator[httpx.AsyncClient]:
        if schema is None:
            schema = seed_schema()
        elif isinstance(schema, str):
            schema = load_schema_text(schema, "test.yaml")
        settings.setdefault("TENANTRY_BASE_URL", base_url)
        if auth is not None:
            settings["auth"] = auth
        config = Settings(DATABASE_URL=database_url, **settings)
        tables = app_tables(schema, config, capabilities=capabilities)
        await asyncio.to_thread(sync_schema, database_url, tables)
        app = create_app(schema, config, hooks=hooks, capabilities=capabilities)
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as client,
        ):
            client.app = app  # type: ignore[attr-defined]
            yield client

    return factory
