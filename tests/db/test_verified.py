"""Start-up checks remembered (``tenantry.db.verified``), on SQLite and on PostgreSQL.

A check that passed is found again only for the same code and the same database: any change to
either, made any way, sends the next check through Alembic's full comparison.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tenantry.db.database import dialect_of
from tenantry.db.migrations import make_revision, status, upgrade
from tenantry.db.tables import TableSet
from tenantry.db.verified import (
    CHECKS_TABLE,
    KEPT_CHECKS,
    MIGRATION_LOCK_KEY,
    code_fingerprint,
    fingerprint,
    remember,
    verified_heads,
)
from tests.db.test_migrations import PROJECTS, PROJECTS_WITH_PRIORITY, execute, table_names, tables_for


def migrated(url: str, project: Path) -> TableSet:
    """The projects table, made by a first revision and applied."""
    tables = tables_for(PROJECTS, url)
    assert make_revision(url, tables, project, "create projects") is not None
    upgrade(url, tables, project)
    return tables


def check_and_remember(url: str, tables: TableSet, project: Path) -> tuple[str, tuple[str, ...]]:
    """A full check that passes, remembered as ``tenantry serve``'s check does; the code's fingerprint
    and heads."""
    state = status(url, tables, project)
    assert state.up_to_date and state.catalog
    code = code_fingerprint(tables, project)
    remember(url, fingerprint(code, state.catalog, state.current), state.heads)
    return code, state.heads


def test_a_passed_check_is_found_again_and_never_compared(db_url: str, project: Path) -> None:
    tables = migrated(db_url, project)
    code = code_fingerprint(tables, project)
    assert verified_heads(db_url, code) is None  # nothing remembered yet
    code, heads = check_and_remember(db_url, tables, project)
    # What the quick check reads of the catalog is what the full check saw: the same fingerprint.
    assert verified_heads(db_url, code) == heads and len(heads) == 1
    # The table of checks is the database's, not the schema's: the comparison never lists it.
    assert CHECKS_TABLE in table_names(db_url)
    assert status(db_url, tables, project).unmigrated == ()


def test_any_change_to_the_database_forgets_the_check_until_undone(db_url: str, project: Path) -> None:
    tables = migrated(db_url, project)
    code, heads = check_and_remember(db_url, tables, project)
    changes = [
        ("ALTER TABLE projects ADD COLUMN extra INTEGER", "ALTER TABLE projects DROP COLUMN extra"),
        ("CREATE INDEX ix_by_hand ON projects (name)", "DROP INDEX ix_by_hand"),
        ("CREATE TABLE by_hand (id INTEGER PRIMARY KEY)", "DROP TABLE by_hand"),
        (
            "UPDATE alembic_version SET version_num = 'f00dfeed1234'",
            f"UPDATE alembic_version SET version_num = '{heads[0]}'",
        ),
    ]
    if dialect_of(db_url) == "postgresql":
        changes += [
            (
                "ALTER TABLE projects ALTER COLUMN name DROP NOT NULL",
                "ALTER TABLE projects ALTER COLUMN name SET NOT NULL",
            ),
            (
                "ALTER TABLE projects ALTER COLUMN description SET DEFAULT 'x'",
                "ALTER TABLE projects ALTER COLUMN description DROP DEFAULT",
            ),
            ("COMMENT ON COLUMN projects.name IS 'by hand'", "COMMENT ON COLUMN projects.name IS NULL"),
        ]
    for change, undo in changes:
        execute(db_url, change)
        assert verified_heads(db_url, code) is None, change
        execute(db_url, undo)
        assert verified_heads(db_url, code) == heads, undo


def test_any_change_to_the_code_forgets_the_check(db_url: str, project: Path) -> None:
    tables = migrated(db_url, project)
    _, heads = check_and_remember(db_url, tables, project)
    # Another schema: other tables.
    assert verified_heads(db_url, code_fingerprint(tables_for(PROJECTS_WITH_PRIORITY, db_url), project)) is None
    # A revision file edited (or another one added): other migrations.
    revision = next((project / "migrations" / "versions").glob("*.py"))
    original = revision.read_text()
    revision.write_text(original + "\n# edited\n")
    assert verified_heads(db_url, code_fingerprint(tables, project)) is None
    revision.write_text(original)
    assert verified_heads(db_url, code_fingerprint(tables, project)) == heads


def test_only_the_latest_checks_are_kept(db_url: str, project: Path) -> None:
    tables = migrated(db_url, project)
    _, heads = check_and_remember(db_url, tables, project)
    for n in range(KEPT_CHECKS + 5):
        remember(db_url, f"another-{n:03d}", heads)
    assert execute(db_url, f"SELECT count(*) FROM {CHECKS_TABLE}") == [(KEPT_CHECKS,)]


def test_a_database_that_cannot_answer_is_checked_in_full(tmp_path: Path) -> None:
    # No such server, an in-memory database (empty at every connection): the quick check says nothing.
    assert verified_heads("postgresql://nobody@127.0.0.1:1/none", "code") is None
    assert verified_heads("sqlite:///:memory:", "code") is None
    remember("sqlite:///:memory:", "check", ("head",))  # nothing to remember in, and no error
    assert verified_heads(f"sqlite:///{tmp_path / 'missing' / 'app.db'}", "code") is None


def test_a_migration_under_way_sends_the_check_the_full_way(pg_url: str, project: Path) -> None:
    # PostgreSQL: another process holds the migration lock (SQLite's migrations hold its single
    # writer's lock, which its readers do not wait for; the full check would not either).
    url = pg_url
    tables = migrated(url, project)
    code, heads = check_and_remember(url, tables, project)

    async def while_locked() -> tuple[str, ...] | None:
        other = await asyncpg.connect(url)
        try:
            async with other.transaction():
                await other.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
                return await asyncio.to_thread(verified_heads, url, code)
        finally:
            await other.close()

    assert asyncio.run(while_locked()) is None
    assert verified_heads(url, code) == heads


def test_a_role_that_may_not_create_the_table_only_loses_the_shortcut(
    pg_url: str, project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tables = migrated(pg_url, project)
    state = status(pg_url, tables, project)
    code = code_fingerprint(tables, project)
    role = f"tenantry_reader_{uuid.uuid4().hex[:12]}"
    execute(pg_url, f"CREATE ROLE {role} LOGIN")
    try:
        execute(pg_url, "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        reader = make_url(pg_url).set(username=role).render_as_string(hide_password=False)
        with caplog.at_level(logging.INFO, logger="tenantry.migrations"):
            remember(reader, fingerprint(code, state.catalog, state.current), state.heads)  # no error
        assert "could not be remembered" in caplog.text
        assert CHECKS_TABLE not in table_names(pg_url)
        assert verified_heads(reader, code) is None
    finally:
        execute(pg_url, f"DROP ROLE {role}")
