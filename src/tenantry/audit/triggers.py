"""Append-only at the database: triggers that reject UPDATE and DELETE on the audit log.

The API never changes the log (its policy refuses every write to it), but the log must also hold
against code that writes SQL of its own and against anyone with a database session: the database
itself refuses. On SQLite two ``BEFORE UPDATE``/``BEFORE DELETE`` triggers ``RAISE(ABORT, …)``; on
PostgreSQL a row trigger (UPDATE, DELETE) and a statement trigger (TRUNCATE) call one plpgsql
function that raises ``check_violation``, so both back ends report an integrity error.

Alembic neither compares nor generates triggers, so they are created by a post-migration step
(``TableSet.post_steps``) after every sync, upgrade and downgrade: idempotent, and it puts back
what SQLite's batch mode drops when it rebuilds the table. Removing history on purpose (retention)
means dropping the trigger first, which takes the table owner's rights and leaves a trace in the
database's own logs.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tenantry.db.tables import PostStep, TableSet, db_name

PG_FUNCTION = "tenantry_reject_change"

_PG_FUNCTION_SQL = f"""
CREATE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'check_violation',
              HINT = 'Its rows are history: they are added, never changed or removed.';
END
$body$
"""


def message(table: str, operation: str) -> str:
    """The error both back ends give (PostgreSQL formats the same text in its function)."""
    return f"{table} is append-only: {operation} is not allowed"


def trigger_names(table: str, dialect: str) -> dict[str, str]:
    """``trigger name -> operations it rejects`` for ``table`` on ``dialect``."""
    if dialect == "postgresql":
        return {
            db_name("trg", table, "append_only"): "UPDATE OR DELETE",
            db_name("trg", table, "no_truncate"): "TRUNCATE",
        }
    return {db_name("trg", table, "no_update"): "UPDATE", db_name("trg", table, "no_delete"): "DELETE"}


def append_only(table: str) -> PostStep:
    """A post-migration step making ``table`` reject UPDATE and DELETE (and TRUNCATE on PostgreSQL)."""

    def step(conn: Connection, tables: TableSet) -> list[str]:
        if not sa.inspect(conn).has_table(table):
            return []  # an upgrade that stopped before the revision creating it
        if conn.dialect.name == "postgresql":
            return _postgres(conn, table)
        return _sqlite(conn, table)

    return step


def _sqlite(conn: Connection, table: str) -> list[str]:
    quote = conn.dialect.identifier_preparer.quote
    existing = set(
        conn.execute(
            sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"), {"t": table}
        ).scalars()
    )
    created = []
    for name, operation in trigger_names(table, "sqlite").items():
        if name in existing:
            continue
        text = message(table, operation).replace("'", "''")
        # RAISE's message must be a literal; the table name is a checked identifier.
        conn.exec_driver_sql(
            f"CREATE TRIGGER {quote(name)} BEFORE {operation} ON {quote(table)} "
            f"BEGIN SELECT RAISE(ABORT, '{text}'); END"
        )
        created.append(f"create trigger {name} on {table} (rejects {operation})")
    return created


def _postgres(conn: Connection, table: str) -> list[str]:
    quote = conn.dialect.identifier_preparer.quote
    created = []
    if conn.execute(sa.text("SELECT to_regprocedure(:f) IS NULL"), {"f": f"{PG_FUNCTION}()"}).scalar():
        conn.exec_driver_sql(_PG_FUNCTION_SQL)
        created.append(f"create function {PG_FUNCTION}()")
    existing = set(
        conn.execute(
            sa.text("SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(:t) AND NOT tgisinternal"),
            {"t": quote(table)},
        ).scalars()
    )
    for name, operation in trigger_names(table, "postgresql").items():
        if name in existing:
            continue
        each = "STATEMENT" if operation == "TRUNCATE" else "ROW"
        conn.exec_driver_sql(
            f"CREATE TRIGGER {quote(name)} BEFORE {operation} ON {quote(table)} "
            f"FOR EACH {each} EXECUTE FUNCTION {PG_FUNCTION}()"
        )
        created.append(f"create trigger {name} on {table} (rejects {operation})")
    return created
