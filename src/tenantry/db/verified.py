"""Start-up checks already passed: the check before serving answers at once when nothing changed since one.

Before a node serves (``tenantry serve``, ``tenantry worker``) the database is compared with the
code: the migration files' revisions against the database's, then Alembic's autogenerate comparison
of every table. That costs about half a second of CPU (Alembic's import, reflecting each table), on
every start, though a restart, a crash's replacement or a deploy's second node meets exactly the
database and the code that the last check passed.

So a check that passed is remembered in the database itself, in ``tenantry_schema_checks`` (made by
the first such check, outside the schema's tables as Alembic's version table is, and left out of
every comparison): one row per fingerprint of what was checked, with the code's migration heads.
The fingerprint covers both sides:

- the code (``code_fingerprint``): every table as the DDL that would create it, the migration
  files' bytes, and the versions of what compares them (Tenantry's comparison rules, Alembic,
  SQLAlchemy);
- the database (``catalog_lines``): every table, column (type, nullability, default, identity,
  collation, comment), constraint, index and enum of the schemas on its search path, and the
  revisions it is at (read inside the check's own transaction, so what is remembered is what the
  comparison saw).

A later check computes both and looks the pair up (``verified_heads``): found, it answers with the
heads remembered; any difference on either side, a migration under way in another process, or any
failure to read sends it through the full comparison, which remembers its pair when it passes
(``remember``). Nothing here imports Alembic.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateIndex, CreateTable

from tenantry.db.app_role import REVISIONS_SQL, VERSION_TABLE
from tenantry.db.database import asyncpg_dsn, dialect_of, driver_dialect
from tenantry.db.tables import TableSet

log = logging.getLogger("tenantry.migrations")

CHECKS_TABLE = "tenantry_schema_checks"
MIGRATIONS_DIRNAME = "migrations"  # a project's revisions, beside its schema file
# The passed checks kept: a few deploys back, enough to roll back and forth between them.
KEPT_CHECKS = 20

# The PostgreSQL advisory lock every Tenantry process takes before touching a database's schema (a
# transaction-scoped one: released by the commit or rollback, or by the server if the process dies).
MIGRATION_LOCK_KEY = int.from_bytes(hashlib.sha256(b"tenantry.migrations").digest()[:8], "big", signed=True)

# The rules of the comparison live there: a change to them is a change of the code checked.
_COMPARISON_RULES = Path(__file__).with_name("migrations.py")

# What the comparison reads of a PostgreSQL database, for the schemas on the search path, every value
# as text (the same lines from asyncpg and from SQLAlchemy over it). No '%' anywhere: SQLAlchemy's
# driver-level execution would read it as a parameter.
_IN_PATH = "n.nspname = ANY (current_schemas(false))"
_NOT_CHECKS = f"c.relname <> '{CHECKS_TABLE}'"
POSTGRES_CATALOG = (
    "SELECT 'table', n.nspname::text, c.relname::text, c.relkind::text, c.relrowsecurity::text, "
    "c.relforcerowsecurity::text, obj_description(c.oid, 'pg_class') "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    f"WHERE {_IN_PATH} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND {_NOT_CHECKS}",
    "SELECT 'column', n.nspname::text, c.relname::text, a.attnum::text, a.attname::text, "
    "format_type(a.atttypid, a.atttypmod), a.attnotnull::text, pg_get_expr(d.adbin, d.adrelid), "
    "a.attidentity::text, a.attgenerated::text, a.attcollation::text, col_description(c.oid, a.attnum) "
    "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
    f"WHERE {_IN_PATH} AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {_NOT_CHECKS} "
    "AND a.attnum > 0 AND NOT a.attisdropped",
    "SELECT 'constraint', n.nspname::text, c.relname::text, o.conname::text, pg_get_constraintdef(o.oid) "
    "FROM pg_constraint o JOIN pg_class c ON c.oid = o.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    f"WHERE {_IN_PATH} AND {_NOT_CHECKS}",
    "SELECT 'index', n.nspname::text, c.relname::text, i.relname::text, pg_get_indexdef(x.indexrelid) "
    "FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid "
    f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_IN_PATH} AND {_NOT_CHECKS}",
    "SELECT 'enum', n.nspname::text, t.typname::text, e.enumsortorder::text, e.enumlabel::text "
    "FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid JOIN pg_namespace n ON n.oid = t.typnamespace "
    f"WHERE {_IN_PATH}",
)
# SQLite keeps each table's, index's and trigger's whole definition as its SQL.
SQLITE_CATALOG = (f"SELECT type, name, tbl_name, sql FROM sqlite_master WHERE tbl_name <> '{CHECKS_TABLE}'",)

_FIND = f"SELECT heads FROM {CHECKS_TABLE} WHERE fingerprint = "
_CREATE = {
    "postgresql": f"CREATE TABLE IF NOT EXISTS {CHECKS_TABLE} "
    "(fingerprint text PRIMARY KEY, heads text NOT NULL, checked_at timestamptz NOT NULL DEFAULT now())",
    "sqlite": f"CREATE TABLE IF NOT EXISTS {CHECKS_TABLE} "
    "(fingerprint TEXT PRIMARY KEY, heads TEXT NOT NULL, checked_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
}
_INSERT = f"INSERT INTO {CHECKS_TABLE} (fingerprint, heads) VALUES ({{0}}, {{1}}) ON CONFLICT (fingerprint) DO NOTHING"
_PRUNE = (
    f"DELETE FROM {CHECKS_TABLE} WHERE fingerprint NOT IN "
    f"(SELECT fingerprint FROM {CHECKS_TABLE} ORDER BY checked_at DESC LIMIT {KEPT_CHECKS})"
)


def code_fingerprint(tables: TableSet, project: Path) -> str:
    """What the code brings to a check: its tables' DDL, the files of the ``project``'s migrations, and
    the versions of what compares them."""
    migrations = project / MIGRATIONS_DIRNAME
    digest = hashlib.sha256()
    dialect = driver_dialect(tables.dialect)
    for table in sorted(tables.metadata.tables.values(), key=lambda t: t.fullname):
        digest.update(str(CreateTable(table).compile(dialect=dialect)).encode())
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            digest.update(str(CreateIndex(index).compile(dialect=dialect)).encode())
    if migrations.is_dir():
        for path in sorted(p for p in migrations.rglob("*.py") if "__pycache__" not in p.parts):
            digest.update(str(path.relative_to(migrations)).encode() + b"\0" + path.read_bytes())
    digest.update(_COMPARISON_RULES.read_bytes())
    digest.update(f"{sa.__version__} {metadata.version('alembic')}".encode())
    return digest.hexdigest()


def catalog_statements(dialect: str) -> Sequence[str]:
    """The statements whose rows describe the database's tables (``catalog_lines``)."""
    return POSTGRES_CATALOG if dialect == "postgresql" else SQLITE_CATALOG


def catalog_lines(connection: sa.engine.Connection) -> list[Any]:
    """The catalog rows of the database ``connection`` reaches (inside the caller's transaction)."""
    rows: list[Any] = []
    for statement in catalog_statements(connection.dialect.name):
        rows.extend(tuple(row) for row in connection.exec_driver_sql(statement))
    return rows


def fingerprint(code: str, catalog: Iterable[Sequence[Any]], revisions: Iterable[str]) -> str:
    """The fingerprint of one check: the code's, the catalog's rows (in any order) and the revisions."""
    digest = hashlib.sha256(code.encode())
    for line in sorted(repr(tuple(row)) for row in catalog):
        digest.update(line.encode() + b"\n")
    digest.update(" ".join(sorted(revisions)).encode())
    return digest.hexdigest()


def verified_heads(url: str, code: str) -> tuple[str, ...] | None:
    """The heads remembered with a check that passed for this code and the database at ``url`` as it
    is now; None when none did (or the database cannot say: the full check finds out why)."""
    try:
        if dialect_of(url) == "postgresql":
            return asyncio.run(_postgres_heads(url, code))
        return _sqlite_heads(url, code)
    except Exception as exc:  # the full check reports whatever is wrong with the database
        log.debug("no quick start-up check: %s", exc)
        return None


def remember(url: str, check: str, heads: Sequence[str]) -> None:
    """Note that the check fingerprinted ``check`` passed, with the code's ``heads``. Best effort: a
    role that may not create the table (or a race with another node) costs only the next start's speed."""
    try:
        if dialect_of(url) == "postgresql":
            asyncio.run(_postgres_remember(url, check, " ".join(heads)))
        else:
            _sqlite_remember(url, check, " ".join(heads))
    except Exception as exc:
        log.info("the passed start-up check could not be remembered (%s): the next start checks in full", exc)


def _heads(found: Any) -> tuple[str, ...] | None:
    return None if found is None else tuple(found.split())


async def _postgres_heads(url: str, code: str) -> tuple[str, ...] | None:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        async with conn.transaction(readonly=True):
            # Another process migrating: the full check waits for it, and says so.
            if not await conn.fetchval(f"SELECT pg_try_advisory_xact_lock({MIGRATION_LOCK_KEY})"):
                return None
            found = await conn.fetchrow(
                "SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL", VERSION_TABLE, CHECKS_TABLE
            )
            if not (found and found[1]):
                return None
            catalog = [tuple(row) for statement in POSTGRES_CATALOG for row in await conn.fetch(statement)]
            # No version table: a project without revisions (its tables made otherwise), at none.
            revisions = [row[0] for row in await conn.fetch(REVISIONS_SQL)] if found[0] else []
            return _heads(await conn.fetchval(_FIND + "$1", fingerprint(code, catalog, revisions)))
    finally:
        await conn.close()


async def _postgres_remember(url: str, check: str, heads: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        async with conn.transaction():
            await conn.execute(_CREATE["postgresql"])
            await conn.execute(_INSERT.format("$1", "$2"), check, heads)
            await conn.execute(_PRUNE)
    finally:
        await conn.close()


def _sqlite_heads(url: str, code: str) -> tuple[str, ...] | None:
    with _sqlite(url) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if CHECKS_TABLE not in names:
            return None
        catalog = [tuple(row) for statement in SQLITE_CATALOG for row in conn.execute(statement)]
        revisions = [row[0] for row in conn.execute(REVISIONS_SQL)] if VERSION_TABLE in names else []
        found = conn.execute(_FIND + "?", (fingerprint(code, catalog, revisions),)).fetchone()
        return _heads(found[0] if found else None)


def _sqlite_remember(url: str, check: str, heads: str) -> None:
    with _sqlite(url) as conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(_CREATE["sqlite"])
        conn.execute(_INSERT.format("?", "?"), (check, heads))
        conn.execute(_PRUNE)
        conn.execute("COMMIT")


def _sqlite(url: str) -> contextlib.closing[sqlite3.Connection]:
    """A plain connection to the SQLite file of ``url``, closed on exit (sqlite3's own ``with`` closes nothing)."""
    database = make_url(url).database or ""
    if database in ("", ":memory:"):
        raise ValueError("an in-memory database starts empty: nothing to remember")
    return contextlib.closing(sqlite3.connect(database, isolation_level=None, timeout=10))
