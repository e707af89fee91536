"""The test databases themselves (tests/databases.py): a database handed to a test holds exactly
its tables and nothing another test left, rows, sequences and DDL alike."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tenantry.app import app_tables, default_capabilities
from tenantry.audit.triggers import trigger_names
from tenantry.auth import AuthSettings
from tenantry.config import Settings
from tenantry.core import Capabilities, Capability
from tenantry.db import TableSet, to_sqlalchemy_url
from tenantry.db.tables import DialectName
from tenantry.schema import Schema, load_schema_text
from tests.conftest import PrepareDatabase, postgres_scratch, seed_schema
from tests.databases import AppTables, PostgresDatabases, SqliteTemplates, tables_key

SCHEMA = """
organizations:
  - name: string (required)
projects:
  - name: string (required)
  - org_id: uuid (references organizations)
"""


def counters(ts: TableSet, schema: Schema) -> None:
    """A table with a database-generated integer key: a sequence on PostgreSQL, AUTOINCREMENT on SQLite."""
    sa.Table(
        "counters",
        ts.metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("note", sa.String(40)),
        sqlite_autoincrement=True,
    )


class Counters(Capability):
    """A capability of the test's own: the ``counters`` table."""

    name = "counters"

    def contribute(self, ts: TableSet, schema: Schema, capabilities: Capabilities) -> None:
        counters(ts, schema)


def fixture_tables(dialect: DialectName) -> TableSet:
    """Every capability's tables (audit triggers, row-level security, grants) and ``counters``."""
    schema = load_schema_text(SCHEMA, "fixture.yaml")
    settings = Settings()
    return app_tables(schema, settings, dialect, [*default_capabilities(settings), Counters()])


# --------------------------------------------------------------------------------------------------
# Keys


def with_auth(**auth: Any) -> Settings:
    return Settings(auth=AuthSettings(**auth))


def test_the_key_follows_everything_that_changes_the_tables() -> None:
    seed = seed_schema()
    key = tables_key(app_tables(seed, Settings(), "sqlite"))
    assert tables_key(app_tables(seed_schema(), Settings(), "sqlite")) == key  # built again: the same key
    others = {
        tables_key(app_tables(seed, Settings(), "postgresql")),
        tables_key(app_tables(seed, with_auth(TENANTRY_AUTH_TABLES="better-auth"), "sqlite")),
        tables_key(app_tables(seed, with_auth(TENANTRY_AUTH_PLUGINS="two-factor"), "sqlite")),
        tables_key(app_tables(seed, with_auth(TENANTRY_AUTH_PLUGINS=""), "sqlite")),
        tables_key(app_tables(load_schema_text(SCHEMA, "fixture.yaml"), Settings(), "sqlite")),
        tables_key(fixture_tables("sqlite")),
    }
    assert key not in others and len(others) == 6
    # Settings that change no table share the tables.
    assert tables_key(app_tables(seed, with_auth(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False), "sqlite")) == key


def test_app_tables_are_reused_only_for_the_same_schema_dialect_and_settings() -> None:
    built = AppTables()
    seed = seed_schema()
    tables, key = built.get(seed, "sqlite", Settings())
    assert built.get(seed, "sqlite", Settings()) == (tables, key)  # equal settings: the same tables
    assert key == tables_key(app_tables(seed, Settings(), "sqlite"))
    # Another schema object, dialect or setting: tables of its own.
    other_schema = load_schema_text(SCHEMA, "fixture.yaml")
    assert built.get(other_schema, "sqlite", Settings())[0] is not tables
    assert built.get(seed, "postgresql", Settings())[0] is not tables
    assert built.get(seed, "sqlite", with_auth(TENANTRY_AUTH_TABLES="better-auth"))[1] != key
    assert built.get(seed, "sqlite", with_auth(TENANTRY_AUTH_PLUGINS="two-factor"))[1] != key
    # An app with capabilities of its own is built each time, never taken for the default one's.
    assert built.get(seed, "sqlite", Settings(), capabilities=[])[1] != key


# --------------------------------------------------------------------------------------------------
# SQLite: a copy per test


def _sqlite_rows(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}


def test_sqlite_each_test_gets_an_untouched_copy(sqlite_templates: SqliteTemplates, tmp_path: Path) -> None:
    tables = fixture_tables("sqlite")
    template = sqlite_templates.template(tables)
    before = hashlib.sha256(template.read_bytes()).hexdigest()
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    sqlite_templates.copy_to(tables, first)
    with sqlite3.connect(first) as conn:
        conn.executemany("INSERT INTO counters (note) VALUES (?)", [("a",), ("b",), ("c",)])
        conn.execute("INSERT INTO audit_logs (id, action, resource_type) VALUES ('x', 'create', 'projects')")
        conn.execute("INSERT INTO organizations (id, name) VALUES ('o', 'Acme')")
        conn.execute("INSERT INTO projects (id, name, org_id) VALUES ('p', 'P', 'o')")
    assert _sqlite_rows(first)["sqlite_sequence"] == 1

    sqlite_templates.copy_to(tables, second)
    assert set(_sqlite_rows(second).values()) == {0}  # sqlite_sequence included: AUTOINCREMENT starts over
    with sqlite3.connect(second) as conn:
        assert conn.execute("INSERT INTO counters (note) VALUES ('again') RETURNING id").fetchone() == (1,)
        triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert set(trigger_names("audit_logs", "sqlite")) <= triggers
    assert hashlib.sha256(template.read_bytes()).hexdigest() == before


# --------------------------------------------------------------------------------------------------
# PostgreSQL: a database per key, emptied between tests


@pytest.fixture
def postgres(postgres_databases: PostgresDatabases | None) -> Iterator[PostgresDatabases]:
    postgres_scratch(postgres_databases)  # skips, or fails in CI, without a server
    assert postgres_databases is not None
    yield postgres_databases


async def _pg_state(url: str) -> tuple[dict[str, int], int, set[str], bool]:
    """Rows per table, the next counter id, the audit log's triggers, and its row-level security."""
    conn = await asyncpg.connect(url)
    try:
        tables = [
            r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ]
        rows = {t: await conn.fetchval(f'SELECT count(*) FROM "{t}"') for t in tables}
        next_id = await conn.fetchval("INSERT INTO counters (note) VALUES ('probe') RETURNING id")
        await conn.execute("DELETE FROM counters")
        triggers = {
            r[0]
            for r in await conn.fetch("SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_logs'::regclass")
            if not r[0].startswith("RI_")
        }
        rls = await conn.fetchval("SELECT relrowsecurity FROM pg_class WHERE oid = 'projects'::regclass")
        return rows, next_id, triggers, rls
    finally:
        await conn.close()


async def _leave_traces(url: str) -> asyncpg.Connection:
    """Rows in several tables (the append-only log too), used sequences, and a session left open
    inside a transaction holding a lock, as a test that forgot to close its pool would."""
    conn = await asyncpg.connect(url)
    await conn.execute("INSERT INTO counters (note) SELECT 'n' || i FROM generate_series(1, 5) AS i")
    await conn.execute(
        "INSERT INTO organizations (id, name) VALUES ('01900000-0000-7000-8000-000000000001', 'Acme');"
        "INSERT INTO projects (id, name, org_id) VALUES "
        "('01900000-0000-7000-8000-000000000003', 'P', '01900000-0000-7000-8000-000000000001');"
        "INSERT INTO audit_logs (id, action, resource_type) VALUES "
        "('01900000-0000-7000-8000-000000000002', 'create', 'projects')"
    )
    leaked = await asyncpg.connect(url)
    await leaked.execute("BEGIN; LOCK TABLE counters IN ACCESS EXCLUSIVE MODE; INSERT INTO counters DEFAULT VALUES")
    await conn.close()
    return leaked


async def test_postgres_a_reused_database_has_nothing_of_the_last_test(postgres: PostgresDatabases) -> None:
    tables = fixture_tables("postgresql")
    url = await asyncio.to_thread(postgres.clone_for, tables)
    rows, first_id, triggers, rls = await _pg_state(url)
    assert set(rows.values()) == {0} and first_id == 1 and rls
    assert triggers == set(trigger_names("audit_logs", "postgresql"))

    leaked = await _leave_traces(url)
    again = await asyncio.to_thread(postgres.clone_for, tables)
    assert again == url  # the same database, emptied: no build, no clone
    assert await _pg_state(again) == (rows, 1, triggers, True)
    assert leaked.is_closed() or not await _alive(leaked)  # its session was ended, its insert rolled back


async def test_postgres_a_database_whose_tables_changed_is_replaced(postgres: PostgresDatabases) -> None:
    tables = fixture_tables("postgresql")
    url = await asyncio.to_thread(postgres.clone_for, tables)
    trigger = sorted(trigger_names("audit_logs", "postgresql"))[0]
    await _execute(url, f'DROP TRIGGER "{trigger}" ON audit_logs')
    replaced = await asyncio.to_thread(postgres.clone_for, tables)
    assert replaced != url
    assert (await _pg_state(replaced))[2] == set(trigger_names("audit_logs", "postgresql"))
    # Changes a test could make without touching a table's columns are noticed too.
    for change in (
        "ALTER TABLE projects DISABLE ROW LEVEL SECURITY",
        "REVOKE SELECT ON projects FROM tenantry_app",
        "CREATE FUNCTION f() RETURNS int AS 'SELECT 1' LANGUAGE sql",
        "ALTER SEQUENCE counters_id_seq INCREMENT BY 5",
    ):
        url = replaced
        await _execute(url, change)
        replaced = await asyncio.to_thread(postgres.clone_for, tables)
        assert replaced != url, change


async def test_postgres_scratch_is_empty_again(postgres: PostgresDatabases) -> None:
    url = await asyncio.to_thread(postgres.scratch)
    await _execute(url, "CREATE TABLE left_behind (id int); CREATE FUNCTION f() RETURNS int AS 'SELECT 1' LANGUAGE sql")
    again = await asyncio.to_thread(postgres.scratch)
    assert again == url
    assert await _fetch(again, "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace") == 0
    assert await _fetch(again, "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace") == 0


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _fetch(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _alive(conn: asyncpg.Connection) -> bool:
    try:
        await conn.fetchval("SELECT 1", timeout=5)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        return False
    return True


# --------------------------------------------------------------------------------------------------
# The fixture tests use


def test_prepare_database_first_fresh_then_the_same_database_changed(
    prepare_database: PrepareDatabase, database_url: str
) -> None:
    dialect: DialectName = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    url = prepare_database(fixture_tables(dialect))
    assert asyncio.run(_on(url, "SELECT count(*) FROM counters")) == 0
    asyncio.run(_on(url, "INSERT INTO counters (note) VALUES ('kept')"))
    wider = fixture_tables(dialect)
    sa.Table("extra", wider.metadata, sa.Column("id", sa.Integer, primary_key=True))
    # A second app in the same test, on more tables: the same database, its rows kept.
    assert prepare_database(wider) == url
    assert asyncio.run(_on(url, "SELECT count(*) FROM counters")) == 1
    assert asyncio.run(_on(url, "SELECT count(*) FROM extra")) == 0


async def _on(url: str, sql: str) -> object:
    """Run one statement on either back end; the first column of its first row, if any."""
    engine = create_async_engine(to_sqlalchemy_url(url))
    try:
        async with engine.begin() as conn:
            result = await conn.execute(sa.text(sql))
            return result.scalar() if result.returns_rows else None
    finally:
        await engine.dispose()
