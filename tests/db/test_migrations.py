"""Migrations (Alembic revisions) and development sync, on SQLite and on PostgreSQL.

Every test runs once per database: a fresh SQLite file, and a fresh PostgreSQL database
(``PostgresDatabases.fresh``, dropped at the end of the run). Without a PostgreSQL server the PostgreSQL runs are
skipped, except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from tenantry.db.database import dialect_of, to_sqlalchemy_url
from tenantry.db.migrations import (
    DatabaseAheadError,
    DestructiveChangeError,
    MigrationError,
    alembic_config,
    downgrade,
    ensure_migrations_dir,
    make_revision,
    status,
    sync_schema,
    upgrade,
)
from tenantry.db.tables import TableSet, build_metadata
from tenantry.schema import load_schema, load_schema_text

T = TypeVar("T")

SEED_SCHEMA = Path(__file__).resolve().parents[2] / "examples" / "saas" / "schema.yaml"

PROJECTS = """
projects:
  - name: string (required)
  - description: text (nullable)
  - created_at: timestamp (auto)
"""

PROJECTS_WITH_PRIORITY = PROJECTS + "  - priority: integer (nullable)\n"

PROJECTS_WITHOUT_DESCRIPTION = """
projects:
  - name: string (required)
  - created_at: timestamp (auto)
"""


# ------------------------------------------------------------------------------------------------
# Fixtures and helpers


def tables_for(text: str, url: str) -> TableSet:
    return build_metadata(load_schema_text(text), dialect_of(url))


def on_db(url: str, fn: Callable[[Connection], T]) -> T:
    """Run ``fn`` on a connection to ``url`` and commit."""

    async def main() -> T:
        engine = create_async_engine(to_sqlalchemy_url(url))
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def table_names(url: str) -> set[str]:
    return on_db(url, lambda c: set(sa.inspect(c).get_table_names()))


def columns(url: str, table: str) -> dict[str, dict[str, Any]]:
    return on_db(url, lambda c: {col["name"]: dict(col) for col in sa.inspect(c).get_columns(table)})


def execute(url: str, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    def run(c: Connection) -> list[Any]:
        result = c.execute(sa.text(sql), params or {})
        return list(result) if result.returns_rows else []

    return on_db(url, run)


def insert_project(url: str, name: str = "Apollo") -> None:
    execute(url, "INSERT INTO projects (id, name) VALUES (:id, :name)", {"id": new_id(), "name": name})


def new_id() -> str:
    return str(uuid.uuid4())


def revision_files(project: Path) -> list[Path]:
    return sorted((project / "migrations" / "versions").glob("*.py"))


# ------------------------------------------------------------------------------------------------
# The migrations folder


def test_ensure_migrations_dir_creates_a_delegating_env_and_keeps_edits(project: Path) -> None:
    ensure_migrations_dir(project)
    root = project / "migrations"
    assert (root / "versions").is_dir()
    env = (root / "env.py").read_text()
    assert "from tenantry.db.migrations import run_env" in env
    assert "run_env()" in env
    assert "import tenantry.db.types" in (root / "script.py.mako").read_text()

    (root / "script.py.mako").write_text("edited")
    ensure_migrations_dir(project)
    assert (root / "script.py.mako").read_text() == "edited"


# ------------------------------------------------------------------------------------------------
# Revisions


def test_initial_revision_creates_every_table_of_the_seed_schema(db_url: str, project: Path) -> None:
    tables = build_metadata(load_schema(SEED_SCHEMA), dialect_of(db_url))
    path = make_revision(db_url, tables, project, "initial")
    assert path is not None and path.exists()
    text = path.read_text()
    # Tenantry's own types render as the calls that build them, and their module is imported.
    assert "tenantry.db.types.GUID()" in text
    assert "tenantry.db.types.UTCTimestamp()" in text
    assert "tenantry.db.types.json_type()" in text
    assert "import tenantry.db.types" in text
    assert "length=36" not in text
    # Making a revision does not change the database.
    assert table_names(db_url) == set()

    upgrade(db_url, tables, project)
    assert table_names(db_url) == {
        "organizations",
        "users",
        "projects",
        "subscriptions",
        "audit_logs",
        "alembic_version",
    }
    checks = on_db(db_url, lambda c: {ck["name"] for ck in sa.inspect(c).get_check_constraints("users")})
    assert "ck_users_role" in checks  # the naming convention applies inside migrations too
    fks = on_db(db_url, lambda c: {fk["name"] for fk in sa.inspect(c).get_foreign_keys("projects")})
    assert fks == {"fk_projects_org_id", "fk_projects_created_by"}

    # A freshly migrated database shows no difference: no spurious type, default or CHECK changes.
    assert make_revision(db_url, tables, project, "nothing") is None
    assert len(revision_files(project)) == 1


def test_make_twice_without_upgrading_returns_none(db_url: str, project: Path) -> None:
    tables = tables_for(PROJECTS, db_url)
    assert make_revision(db_url, tables, project, "initial") is not None
    # The comparison is made against head (the first revision), applied in a rolled-back transaction.
    assert make_revision(db_url, tables, project, "again") is None
    assert len(revision_files(project)) == 1
    assert table_names(db_url) == set()


KITCHEN_SINK = """
organizations:
  - name: string (required)
  - created_at: timestamp (auto)

items:
  fields:
    - title: string(80) (required)
    - sku: string (unique, required)
    - price: decimal(12, 2) (default: 0.5)
    - weight: float (default: 1.25)
    - qty: integer (default: 1)
    - big: bigint (default: -5)
    - active: boolean (default: true)
    - launched: date (default: 2024-01-02)
    - stamp: timestamp (default: 2024-01-02T03:04:05Z)
    - meta: json (nullable)
    - ext: uuid (default: 1b4e28ba-2fa1-11d2-883f-0016d3cca427, index)
    - kind: enum(a, bb, ccc) (default: bb)
    - motto: string (default: "it's: here")
    - org_id: uuid (references organizations, required, on delete: cascade)
    - created_at: timestamp (auto)
    - updated_at: timestamp (auto)
  soft_delete: true
  indexes:
    - [title, created_at desc]

counters:
  id: serial
  fields:
    - label: string (required)

tags:
  id: text
  fields:
    - label: string (required, unique)
"""


def test_every_field_type_and_default_round_trips_without_spurious_changes(db_url: str, project: Path) -> None:
    tables = tables_for(KITCHEN_SINK, db_url)
    assert make_revision(db_url, tables, project, "initial") is not None
    upgrade(db_url, tables, project)
    assert make_revision(db_url, tables, project, "nothing") is None
    st = status(db_url, tables, project)
    assert st.up_to_date, st
    # The generated migration built the same constraints the application maps errors from.
    uniques = on_db(db_url, lambda c: {ix["name"] for ix in sa.inspect(c).get_indexes("items") if ix["unique"]})
    assert "uq_items_org_id_sku" in uniques  # unique within the organization (items is a tenant entity)


TICKETS = """
organizations:
  - name: string (required)

tickets:
  fields:
    - code: string (required, unique)
    - title: string (required)
    - org_id: uuid (references organizations, required)
  indexes:
    - fields: [title]
      unique: true
"""


def _unique_everywhere(conn: Connection) -> None:
    """Put back the rules a database made before uniqueness was per organization: over the
    fields alone, under their old names."""
    operations = Operations(MigrationContext.configure(conn, opts={"render_as_batch": True}))
    with operations.batch_alter_table("tickets") as batch:
        batch.drop_constraint("uq_tickets_org_id_code", type_="unique")
        batch.drop_constraint("uq_tickets_org_id_title", type_="unique")
        batch.create_unique_constraint("uq_tickets_code", ["code"])
        batch.create_unique_constraint("uq_tickets_title", ["title"])


TICKET = "INSERT INTO tickets (id, code, title, org_id) VALUES (:id, :code, :title, :org)"


def _two_organizations_one_ticket(db_url: str) -> list[str]:
    """Two organizations, the first with ticket T-1 "Launch"; their ids."""
    orgs = [new_id(), new_id()]
    for org in orgs:
        execute(db_url, "INSERT INTO organizations (id, name) VALUES (:id, 'Org')", {"id": org})
    execute(db_url, TICKET, {"id": new_id(), "code": "T-1", "title": "Launch", "org": orgs[0]})
    return orgs


def _unique_per_organization(db_url: str, orgs: list[str]) -> None:
    """Another organization may hold the same values; the same organization still may not."""
    execute(db_url, TICKET, {"id": new_id(), "code": "T-1", "title": "Launch", "org": orgs[1]})
    for clash in ({"code": "T-1", "title": "Other"}, {"code": "T-2", "title": "Launch"}):
        with pytest.raises(sa.exc.IntegrityError):
            execute(db_url, TICKET, {"id": new_id(), "org": orgs[0], **clash})
    assert execute(db_url, "SELECT count(*) FROM tickets") == [(2,)]


def test_unique_rules_of_a_tenant_entity_migrate_to_per_organization(db_url: str, project: Path) -> None:
    tables = tables_for(TICKETS, db_url)
    make_revision(db_url, tables, project, "initial")
    upgrade(db_url, tables, project)
    on_db(db_url, _unique_everywhere)
    orgs = _two_organizations_one_ticket(db_url)

    # The change is a plain revision (nothing destructive: every row valid before stays valid).
    assert status(db_url, tables, project).unmigrated
    path = make_revision(db_url, tables, project, "unique per organization")
    assert path is not None
    text = path.read_text()
    assert "'uq_tickets_code'" in text and "'uq_tickets_org_id_code'" in text
    upgrade(db_url, tables, project)
    assert status(db_url, tables, project).up_to_date
    _unique_per_organization(db_url, orgs)


def test_sync_schema_makes_unique_rules_per_organization(db_url: str) -> None:
    tables = tables_for(TICKETS, db_url)
    sync_schema(db_url, tables)
    on_db(db_url, _unique_everywhere)
    orgs = _two_organizations_one_ticket(db_url)
    result = sync_schema(db_url, tables)
    assert result.skipped == [] and len(result.applied) == 4, result  # two rules dropped, two added
    assert not sync_schema(db_url, tables).changed
    _unique_per_organization(db_url, orgs)


def test_upgrade_downgrade_and_status(db_url: str, project: Path) -> None:
    v1 = tables_for(PROJECTS, db_url)
    first = make_revision(db_url, v1, project, "create projects")
    assert first is not None
    st = status(db_url, v1, project)
    assert st.current == ()
    assert [p.message for p in st.pending] == ["create projects"]
    assert st.heads == (st.pending[0].revision,)
    assert not st.has_unmigrated_changes  # the pending revision covers the schema

    upgrade(db_url, v1, project)
    st = status(db_url, v1, project)
    assert st.current == st.heads and st.pending == () and st.up_to_date
    rev1 = st.current[0]

    v2 = tables_for(PROJECTS_WITH_PRIORITY, db_url)
    st = status(db_url, v2, project)
    assert st.unmigrated == ("add column projects.priority",)
    assert not st.up_to_date

    second = make_revision(db_url, v2, project, "add priority")
    assert second is not None
    st = status(db_url, v2, project)
    assert st.current == (rev1,)
    assert [(p.message, p.path) for p in st.pending] == [("add priority", second)]
    assert st.unmigrated == ()
    assert "priority" not in columns(db_url, "projects")  # status changed nothing

    upgrade(db_url, v2, project)
    assert "priority" in columns(db_url, "projects")
    assert status(db_url, v2, project).up_to_date

    downgrade(db_url, v2, project)
    assert "priority" not in columns(db_url, "projects")
    assert status(db_url, v2, project).current == (rev1,)

    downgrade(db_url, v2, project, "base")
    assert table_names(db_url) <= {"alembic_version"}
    with pytest.raises(MigrationError):
        downgrade(db_url, v2, project)  # nothing left to revert


def test_a_database_at_an_unknown_revision_is_reported(db_url: str, project: Path) -> None:
    tables = tables_for(PROJECTS, db_url)
    path = make_revision(db_url, tables, project, "initial")
    assert path is not None
    upgrade(db_url, tables, project)
    path.unlink()
    with pytest.raises(MigrationError):
        status(db_url, tables, project)
    with pytest.raises(MigrationError):
        upgrade(db_url, tables, project)


def test_status_reports_pending_revisions_that_cannot_apply(db_url: str, project: Path) -> None:
    v1 = tables_for(PROJECTS, db_url)
    make_revision(db_url, v1, project, "initial")
    upgrade(db_url, v1, project)
    insert_project(db_url)
    v2 = tables_for(PROJECTS + "  - code: string (required)\n", db_url)
    make_revision(db_url, v2, project, "required code")  # cannot apply: the row would have no code
    with pytest.raises(MigrationError, match="fail to apply"):
        status(db_url, v2, project)
    with pytest.raises(sa.exc.DBAPIError):  # NOT NULL violation (SQLite: refused outright)
        upgrade(db_url, v2, project)
    assert "code" not in columns(db_url, "projects")


def test_upgrade_without_migrations_is_an_error(db_url: str, project: Path) -> None:
    with pytest.raises(MigrationError, match="make a revision first"):
        upgrade(db_url, tables_for(PROJECTS, db_url), project)


def test_adding_a_field_makes_an_add_column_revision(db_url: str, project: Path) -> None:
    v1 = tables_for(PROJECTS, db_url)
    make_revision(db_url, v1, project, "initial")
    upgrade(db_url, v1, project)
    insert_project(db_url)

    v2 = tables_for(PROJECTS_WITH_PRIORITY, db_url)
    path = make_revision(db_url, v2, project, "add priority")
    assert path is not None
    text = path.read_text()
    assert "add_column" in text and "'priority'" in text
    if dialect_of(db_url) == "sqlite":
        assert "batch_alter_table('projects'" in text
    upgrade(db_url, v2, project)
    assert columns(db_url, "projects")["priority"]["nullable"] is True
    assert execute(db_url, "SELECT name, priority FROM projects") == [("Apollo", None)]
    assert make_revision(db_url, v2, project, "nothing") is None


def test_removing_a_field_is_destructive_until_allowed(db_url: str, project: Path) -> None:
    v1 = tables_for(PROJECTS, db_url)
    make_revision(db_url, v1, project, "initial")
    upgrade(db_url, v1, project)

    v2 = tables_for(PROJECTS_WITHOUT_DESCRIPTION, db_url)
    with pytest.raises(DestructiveChangeError) as info:
        make_revision(db_url, v2, project, "drop description")
    assert info.value.operations == ("drop column projects.description",)
    assert "drop column projects.description" in str(info.value).splitlines()[-1]
    assert len(revision_files(project)) == 1  # nothing written

    path = make_revision(db_url, v2, project, "drop description", allow_destructive=True)
    assert path is not None and "drop_column" in path.read_text()
    upgrade(db_url, v2, project)
    assert "description" not in columns(db_url, "projects")


def test_every_destructive_change_is_listed(db_url: str, project: Path) -> None:
    before = """
ledger:
  - label: string (required)
  - notes: text (nullable)
  - total: decimal(12, 4) (nullable)
  - counter: bigint (nullable)
  - obsolete: string (nullable)
  - kind: enum(credit, debit, void) (nullable)
archive:
  - label: string (nullable)
"""
    after = """
ledger:
  - label: string(50) (required)
  - notes: string(100) (nullable)
  - total: decimal(10, 2) (nullable)
  - counter: integer (nullable)
  - kind: enum(credit, debit) (nullable)
"""
    v1 = tables_for(before, db_url)
    make_revision(db_url, v1, project, "initial")
    upgrade(db_url, v1, project)
    with pytest.raises(DestructiveChangeError) as info:
        make_revision(db_url, tables_for(after, db_url), project, "narrow everything")
    ops = info.value.operations
    assert "drop table archive" in ops
    assert "drop column ledger.obsolete" in ops
    narrowed = {o.split(":")[0] for o in ops if "narrow type" in o}
    assert narrowed == {f"alter column ledger.{c}" for c in ("label", "notes", "total", "counter")}
    assert "change allowed values of ledger.kind: disallow void" in ops
    assert len(ops) == 7
    for op in ops:
        assert op in str(info.value).splitlines() or f"  {op}" in str(info.value).splitlines()


def test_shrinking_a_string_is_destructive_and_widening_is_not(db_url: str, project: Path) -> None:
    v1 = tables_for(PROJECTS, db_url)
    make_revision(db_url, v1, project, "initial")
    upgrade(db_url, v1, project)

    shrunk = tables_for(PROJECTS.replace("name: string (required)", "name: string(40) (required)"), db_url)
    with pytest.raises(DestructiveChangeError, match=r"alter column projects\.name: narrow type"):
        make_revision(db_url, shrunk, project, "shrink")

    widened = tables_for(PROJECTS.replace("name: string (required)", "name: string(1000) (required)"), db_url)
    path = make_revision(db_url, widened, project, "widen")
    assert path is not None
    upgrade(db_url, widened, project)
    assert columns(db_url, "projects")["name"]["type"].length == 1000
    assert make_revision(db_url, widened, project, "nothing") is None


def test_adding_an_enum_value_updates_its_check_constraint(db_url: str, project: Path) -> None:
    v1 = tables_for("tasks:\n  - state: enum(todo, done) (default: todo)\n", db_url)
    make_revision(db_url, v1, project, "initial")
    upgrade(db_url, v1, project)
    insert = "INSERT INTO tasks (id, state) VALUES (:id, :state)"
    with pytest.raises(sa.exc.IntegrityError):
        execute(db_url, insert, {"id": new_id(), "state": "nope"})  # fits VARCHAR(4), fails the CHECK

    v2 = tables_for("tasks:\n  - state: enum(todo, doing, done) (default: todo)\n", db_url)
    path = make_revision(db_url, v2, project, "add doing")
    assert path is not None
    assert "ck_tasks_state" in path.read_text()
    upgrade(db_url, v2, project)
    execute(db_url, insert, {"id": new_id(), "state": "doing"})
    assert make_revision(db_url, v2, project, "nothing") is None

    # Going back fails while a row holds the new value, and leaves everything as it was: the
    # whole downgrade ran in one transaction (SQLite included, whose table was being rebuilt).
    head = status(db_url, v2, project).current
    with pytest.raises(sa.exc.IntegrityError):
        downgrade(db_url, v2, project)
    assert status(db_url, v2, project).current == head
    assert execute(db_url, "SELECT count(*) FROM tasks") == [(1,)]

    execute(db_url, "DELETE FROM tasks")
    downgrade(db_url, v2, project)  # the old constraint comes back
    with pytest.raises(sa.exc.IntegrityError):
        execute(db_url, insert, {"id": new_id(), "state": "nope"})


def test_required_column_without_default_still_makes_a_revision(db_url: str, project: Path) -> None:
    v1 = tables_for(PROJECTS, db_url)
    make_revision(db_url, v1, project, "initial")
    upgrade(db_url, v1, project)
    path = make_revision(db_url, tables_for(PROJECTS + "  - code: string (required)\n", db_url), project, "code")
    assert path is not None and "add_column" in path.read_text()


def test_run_env_opens_its_own_connection_when_given_none(db_url: str, project: Path) -> None:
    tables = tables_for(PROJECTS, db_url)
    make_revision(db_url, tables, project, "initial")
    command.upgrade(alembic_config(db_url, tables, project), "head")  # env.py without a shared connection
    assert "projects" in table_names(db_url)


def test_run_env_refuses_to_run_without_tenantry(project: Path) -> None:
    ensure_migrations_dir(project)
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(project / "migrations"))
    with pytest.raises(MigrationError, match="not the alembic command"):
        command.upgrade(config, "head")


# ------------------------------------------------------------------------------------------------
# Development sync


def test_sync_schema_creates_everything_then_does_nothing(db_url: str) -> None:
    tables = build_metadata(load_schema(SEED_SCHEMA), dialect_of(db_url))
    result = sync_schema(db_url, tables)
    assert {"create table organizations", "create table users", "create table projects"} <= set(result.applied)
    assert result.skipped == []
    assert table_names(db_url) == {"organizations", "users", "projects", "subscriptions", "audit_logs"}

    again = sync_schema(db_url, tables)
    assert again.applied == [] and again.skipped == [] and not again.changed


def test_sync_schema_kitchen_sink_is_stable(db_url: str) -> None:
    tables = tables_for(KITCHEN_SINK, db_url)
    assert sync_schema(db_url, tables).changed
    assert sync_schema(db_url, tables).applied == []


def test_sync_schema_adds_a_nullable_column_to_a_table_with_rows(db_url: str) -> None:
    sync_schema(db_url, tables_for(PROJECTS, db_url))
    insert_project(db_url)
    result = sync_schema(db_url, tables_for(PROJECTS_WITH_PRIORITY, db_url))
    assert result.applied == ["add column projects.priority"]
    assert result.skipped == []
    assert execute(db_url, "SELECT name, priority FROM projects") == [("Apollo", None)]


def test_sync_schema_skips_a_required_column_without_default_when_rows_exist(db_url: str) -> None:
    required = tables_for(PROJECTS + "  - code: string (required)\n", db_url)
    sync_schema(db_url, tables_for(PROJECTS, db_url))
    insert_project(db_url)
    result = sync_schema(db_url, required)
    assert result.applied == []
    assert len(result.skipped) == 1
    message = result.skipped[0]
    assert message.startswith("add column projects.code")
    assert "add a default" in message and "nullable" in message
    assert "code" not in columns(db_url, "projects")

    # With a default the same column can be added, and existing rows get it.
    defaulted = tables_for(PROJECTS + "  - code: string (required, default: P-0)\n", db_url)
    assert sync_schema(db_url, defaulted).applied == ["add column projects.code"]
    assert execute(db_url, "SELECT code FROM projects") == [("P-0",)]


def test_sync_schema_adds_a_required_column_to_an_empty_table(db_url: str) -> None:
    sync_schema(db_url, tables_for(PROJECTS, db_url))
    result = sync_schema(db_url, tables_for(PROJECTS + "  - code: string (required)\n", db_url))
    assert result.applied == ["add column projects.code"]
    assert columns(db_url, "projects")["code"]["nullable"] is False


def test_sync_schema_leaves_destructive_changes_unless_allowed(db_url: str) -> None:
    sync_schema(db_url, tables_for(PROJECTS + "  - code: string (required)\n", db_url))
    execute(
        db_url, "INSERT INTO projects (id, name, code, description) VALUES (:id, 'Apollo', 'A', 'd')", {"id": new_id()}
    )
    smaller = tables_for(PROJECTS_WITHOUT_DESCRIPTION, db_url)  # drops description and code

    result = sync_schema(db_url, smaller)
    assert sorted(s.split(":")[0] for s in result.skipped) == [
        "drop column projects.code",
        "drop column projects.description",
    ]
    # The kept required column no longer gets a value from inserts, so it is relaxed.
    assert result.applied == ["make column projects.code nullable (its field was removed)"]
    assert {"code", "description"} <= set(columns(db_url, "projects"))
    insert_project(db_url, "Gemini")  # an insert that names neither column works

    result = sync_schema(db_url, smaller, allow_destructive=True)
    assert sorted(result.applied) == ["drop column projects.code", "drop column projects.description"]
    assert result.skipped == []
    assert set(columns(db_url, "projects")) == {"id", "name", "created_at"}
    assert sorted(r[0] for r in execute(db_url, "SELECT name FROM projects")) == ["Apollo", "Gemini"]


def test_sync_schema_keeps_a_removed_table_unless_allowed(db_url: str) -> None:
    sync_schema(db_url, tables_for(PROJECTS + "tags:\n  - label: string (index)\n", db_url))
    result = sync_schema(db_url, tables_for(PROJECTS, db_url))
    assert result.applied == []
    assert [s.split(":")[0] for s in result.skipped] == ["drop table tags"]
    assert "tags" in table_names(db_url)
    assert sync_schema(db_url, tables_for(PROJECTS, db_url), allow_destructive=True).applied == ["drop table tags"]
    assert "tags" not in table_names(db_url)


def test_sync_schema_widens_a_column_and_updates_enum_values(db_url: str) -> None:
    v1 = "tasks:\n  - title: string(20) (required)\n  - state: enum(todo, done) (default: todo)\n"
    v2 = "tasks:\n  - title: string(200) (required)\n  - state: enum(todo, doing, done) (default: todo)\n"
    sync_schema(db_url, tables_for(v1, db_url))
    execute(db_url, "INSERT INTO tasks (id, title) VALUES (:id, 'first')", {"id": new_id()})
    result = sync_schema(db_url, tables_for(v2, db_url))
    assert result.skipped == []
    assert any(a.startswith("alter column tasks.title: change type") for a in result.applied)
    assert "change allowed values of tasks.state: allow doing" in result.applied
    execute(db_url, "INSERT INTO tasks (id, title, state) VALUES (:id, :t, 'doing')", {"id": new_id(), "t": "x" * 150})
    assert sync_schema(db_url, tables_for(v2, db_url)).applied == []

    # Taking a value away again is destructive: rows may hold it.
    result = sync_schema(db_url, tables_for(v1.replace("string(20)", "string(200)"), db_url))
    assert [s.split(": ")[:2] for s in result.skipped] == [
        ["alter column tasks.state", "narrow type from VARCHAR(5) to VARCHAR(4)"],
        ["change allowed values of tasks.state", "disallow doing"],
    ]
    assert result.applied == []


def test_sync_schema_refuses_to_require_a_column_holding_nulls(db_url: str) -> None:
    sync_schema(db_url, tables_for(PROJECTS, db_url))
    insert_project(db_url)  # description is NULL
    required = tables_for(PROJECTS.replace("description: text (nullable)", "description: text (required)"), db_url)
    result = sync_schema(db_url, required)
    assert result.applied == []
    assert result.skipped[0].startswith("alter column projects.description: make required")
    execute(db_url, "UPDATE projects SET description = 'filled'")
    assert sync_schema(db_url, required).applied == ["alter column projects.description: make required (NOT NULL)"]
    assert columns(db_url, "projects")["description"]["nullable"] is False


async def test_sync_schema_works_from_inside_a_running_event_loop(db_url: str) -> None:
    result = sync_schema(db_url, tables_for(PROJECTS, db_url))
    assert result.applied == ["create table projects"]


def test_an_enum_field_added_later_is_checked(db_url: str, project: Path) -> None:
    v1 = tables_for(PROJECTS, db_url)
    make_revision(db_url, v1, project, "initial")
    upgrade(db_url, v1, project)
    v2 = tables_for(PROJECTS + "  - stage: enum(alpha, beta) (nullable)\n", db_url)
    assert make_revision(db_url, v2, project, "stage") is not None
    upgrade(db_url, v2, project)
    assert make_revision(db_url, v2, project, "nothing") is None
    with pytest.raises(sa.exc.IntegrityError):
        execute(db_url, "INSERT INTO projects (id, name, stage) VALUES (:id, 'x', 'gamma')", {"id": new_id()})


def test_sync_schema_checks_an_enum_field_added_later(db_url: str) -> None:
    sync_schema(db_url, tables_for(PROJECTS, db_url))
    insert_project(db_url)
    v2 = tables_for(PROJECTS + "  - stage: enum(alpha, beta) (nullable)\n", db_url)
    assert sync_schema(db_url, v2).applied == ["add column projects.stage"]
    assert sync_schema(db_url, v2).applied == []
    with pytest.raises(sa.exc.IntegrityError):
        execute(db_url, "INSERT INTO projects (id, name, stage) VALUES (:id, 'x', 'gamma')", {"id": new_id()})


# ------------------------------------------------------------------------------------------------
# Several processes at once, and code older than its database


# One node: what ``tenantry serve --migrate`` does before it serves (a process of its own, as a node is).
NODE = """
import sys
from pathlib import Path
from tenantry.db.migrations import upgrade
from tenantry.db.tables import build_metadata
from tenantry.schema import load_schema_text

url, project, schema = sys.argv[1:4]
upgrade(url, build_metadata(load_schema_text(schema), "postgresql"), Path(project), on_wait=lambda: print("WAITED"))
"""


def test_three_nodes_migrating_at_once_apply_each_revision_once(pg_url: str, project: Path) -> None:
    url = pg_url
    tables = tables_for(PROJECTS, url)
    path = make_revision(url, tables, project, "initial")
    assert path is not None
    # A revision that counts its runs, and is slow enough for the three to overlap.
    text = path.read_text()
    path.write_text(
        text.replace(
            '    """Upgrade schema."""\n',
            '    """Upgrade schema."""\n'
            '    op.execute("CREATE TABLE IF NOT EXISTS migration_runs (at timestamptz DEFAULT now())")\n'
            '    op.execute("INSERT INTO migration_runs DEFAULT VALUES")\n'
            '    op.execute("SELECT pg_sleep(1)")\n',
        )
    )
    args = [sys.executable, "-c", NODE, url, str(project), PROJECTS]
    nodes = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outputs = [node.communicate(timeout=60)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0, 0], outputs  # every node started
    assert execute(url, "SELECT count(*) FROM migration_runs") == [(1,)]
    assert sum("WAITED" in out for out in outputs) >= 1, "no node waited for another: they did not overlap"
    state = status(url, tables, project)
    assert state.current == state.heads and state.pending == ()


def test_code_older_than_its_database_is_refused_clearly(db_url: str, project: Path) -> None:
    tables = tables_for(PROJECTS, db_url)
    make_revision(db_url, tables, project, "initial")
    upgrade(db_url, tables, project)
    # A newer version of the project migrated the database one revision further.
    execute(db_url, "UPDATE alembic_version SET version_num = 'f00dfeed1234'")
    for operation in (status, upgrade):
        with pytest.raises(DatabaseAheadError, match=r"f00dfeed1234.*a newer version of this project migrated it"):
            operation(db_url, tables, project)
