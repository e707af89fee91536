"""Append-only at the database: UPDATE and DELETE fail on both back ends, whoever sends them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tenantry.app import app_tables
from tenantry.audit.triggers import trigger_names
from tenantry.config import Settings
from tenantry.db.database import dialect_of, to_sqlalchemy_url
from tenantry.db.errors import IntegrityViolation
from tenantry.db.migrations import downgrade, make_revision, run_post_steps, status, sync_schema, upgrade
from tests.audit.helpers import audit_rows, person
from tests.auth.helpers import BASE, NO_VERIFICATION, runtime, sql
from tests.conftest import seed_schema

SETTINGS = {"auth": NO_VERIFICATION, "base_url": BASE, "TENANTRY_OPEN_API": False}
ROW_ID = "01900000-0000-7000-8000-000000000000"


async def test_raw_update_and_delete_are_rejected(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ada = await person(client, "ada@example.com", org="acme")
        rows = await audit_rows(client)
        assert len(rows) == 2
        for statement in (
            "UPDATE audit_logs SET action = 'nothing happened'",
            "UPDATE audit_logs SET ip_address = NULL WHERE action = 'sign_up'",
            "DELETE FROM audit_logs",
            "DELETE FROM audit_logs WHERE action = 'create'",
        ):
            with pytest.raises(IntegrityViolation, match="audit_logs is append-only"):
                await sql(client, statement)
        if runtime(client).db.dialect_name == "postgresql":
            # The app's database role may not even try (the owner meets the trigger: see below).
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await sql(client, "TRUNCATE audit_logs")
        assert await audit_rows(client) == rows
        # Adding is what a log is for.
        await person(client, "bob@example.com")
        assert len(await audit_rows(client)) == 3
        assert ada.org_id is not None


def _on_db(url: str, fn: Any) -> Any:
    async def run() -> Any:
        engine = create_async_engine(to_sqlalchemy_url(url))
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _triggers(url: str) -> set[str]:
    def read(conn: sa.Connection) -> set[str]:
        if conn.dialect.name == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_logs'"
        else:
            query = "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass('audit_logs') AND NOT tgisinternal"
        return {str(r[0]) for r in conn.exec_driver_sql(query)}

    return set(_on_db(url, read))


def _try(url: str, statement: str) -> None:
    _on_db(url, lambda conn: conn.exec_driver_sql(statement))


def test_migrations_create_the_triggers_and_development_sync_restores_them(database_url: str, tmp_path: Path) -> None:
    dialect = dialect_of(database_url)
    tables = app_tables(seed_schema(), Settings(), dialect)
    expected = trigger_names("audit_logs", dialect)
    assert make_revision(database_url, tables, tmp_path, "initial") is not None
    upgrade(database_url, tables, tmp_path)
    assert _triggers(database_url) == set(expected)
    assert status(database_url, tables, tmp_path).up_to_date  # triggers are not schema differences
    _try(database_url, f"INSERT INTO audit_logs (id, action, resource_type) VALUES ('{ROW_ID}', 'x', 'y')")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        _try(database_url, "DELETE FROM audit_logs")
    if dialect == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="TRUNCATE is not allowed"):
            _try(database_url, "TRUNCATE audit_logs")

    # Downgraded to nothing, the step has no table to guard; upgraded again, it guards it again.
    downgrade(database_url, tables, tmp_path, "base")
    assert _triggers(database_url) == set()
    upgrade(database_url, tables, tmp_path)
    assert _triggers(database_url) == set(expected)

    # Someone drops a trigger: the next sync notices and puts it back (nothing else changes).
    dropped = sorted(expected)[0]
    _try(database_url, f"DROP TRIGGER {dropped}" + (" ON audit_logs" if dialect == "postgresql" else ""))
    result = sync_schema(database_url, tables)
    assert result.applied == [f"create trigger {dropped} on audit_logs (rejects {expected[dropped]})"]
    assert _triggers(database_url) == set(expected)
    assert sync_schema(database_url, tables).applied == []
    assert _on_db(database_url, lambda conn: run_post_steps(conn, tables)) == []


def test_no_foreign_keys_from_the_log(database_url: str) -> None:
    tables = app_tables(seed_schema(), Settings(DATABASE_URL=database_url))
    sync_schema(database_url, tables)
    fks = _on_db(database_url, lambda conn: sa.inspect(conn).get_foreign_keys("audit_logs"))
    assert fks == []
    assert tables.table("audit_logs").foreign_keys == set()
    # The schema keeps the references, so the API can still join a log entry and its user.
    schema = seed_schema()
    audit = schema.entities["audit_logs"]
    assert {r.name for r in audit.relations} == {"user", "organization"}
    assert audit.system == "audit_logs"
    for name in ("users", "organizations"):
        assert schema.entities[name].relation("audit_logs") is not None
