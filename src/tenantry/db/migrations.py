"""Schema migrations: Alembic revisions for production, direct auto-apply for development.

A Tenantry project keeps its revisions in ``<project>/migrations``. Its ``env.py`` is two lines that
call :func:`run_env`, so upgrading Tenantry upgrades how migrations run; everything Alembic needs (the
database URL, the tables built from the schema, a shared connection) is handed over through
``Config.attributes`` by the functions here, so no ``alembic.ini`` exists.

Every operation runs on one connection inside one transaction. PostgreSQL has transactional DDL, and
SQLite gets it too because the driver is told not to manage transactions (see ``_connect``): an
upgrade that fails half-way leaves nothing behind, and :func:`make_revision` and :func:`status` can
apply pending revisions, look at the result and roll everything back.

Only async drivers are installed (asyncpg, aiosqlite), so the synchronous Alembic API runs inside
``AsyncConnection.run_sync`` on an event loop of our own (``_run_async``).

Several processes may migrate one database at once (every node of a deploy started with
``tenantry serve --migrate``). On PostgreSQL each operation first takes a transaction-scoped
advisory lock (``MIGRATION_LOCK_KEY``), so they run one after the other and each later one finds
the work done; SQLite's ``BEGIN IMMEDIATE`` serialises them already. A database at a revision the
project's files do not have was migrated by newer code: :class:`DatabaseAheadError`, never a guess.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import produce_migrations
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations, ops
from alembic.runtime.plugins import Plugin
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError, PriorityDispatchResult
from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import conv
from sqlalchemy.types import TypeDecorator, TypeEngine

from tenantry.db.app_role import VERSION_TABLE
from tenantry.db.database import dialect_of, to_sqlalchemy_url
from tenantry.db.features import check_before_migrating
from tenantry.db.tables import TableSet
from tenantry.db.types import GUID, Spatial, UTCTimestamp, array_element
from tenantry.db.verified import CHECKS_TABLE, MIGRATION_LOCK_KEY, MIGRATIONS_DIRNAME, catalog_lines

if TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext

T = TypeVar("T")

_ENUM_PLUGIN = "tenantry.enum_checks"
# Alembic's built-in comparisons plus ours (see ``_compare_enum_checks``).
_AUTOGENERATE_PLUGINS = ["alembic.autogenerate.*", _ENUM_PLUGIN]
# Date-prefixed file names list revisions in the order they were written.
_FILE_TEMPLATE = "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s"

ENV_PY = '''\
"""Alembic environment of this project. Tenantry supplies the database and the tables.

Run migrations with the tenantry command (it passes the schema's tables to Alembic), not ``alembic``.
"""

from tenantry.db.migrations import run_env

run_env()
'''

SCRIPT_PY_MAKO = '''\
"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
from collections.abc import Sequence

import sqlalchemy as sa
import tenantry.db.types  # noqa: F401  (columns of Tenantry's own types refer to it)
from alembic import op
${imports if imports else ""}

# revision identifiers, used by Alembic.
revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    """Upgrade schema."""
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    """Downgrade schema."""
    ${downgrades if downgrades else "pass"}
'''


class MigrationError(Exception):
    """A migration could not be made or applied; the message says why."""


class DatabaseAheadError(MigrationError):
    """The database is at revisions this code's migrations do not have: a newer version migrated it."""

    def __init__(self, unknown: Sequence[str], directory: Path) -> None:
        self.unknown = tuple(unknown)
        super().__init__(
            f"the database is at revision {', '.join(self.unknown)}, which {directory} does not have: "
            "a newer version of this project migrated it. Run that version (or a newer one) here; "
            "older code must not serve, or migrate, a database ahead of it"
        )


class DestructiveChangeError(MigrationError):
    """The schema change would drop or narrow data; ``operations`` describes each such change."""

    def __init__(self, operations: Sequence[str]) -> None:
        self.operations = tuple(operations)
        lines = "\n".join(f"  {o}" for o in self.operations)
        super().__init__(
            "these schema changes can lose data and were not made "
            f"(review them, then allow destructive changes to go ahead):\n{lines}"
        )


@dataclass(frozen=True)
class PendingRevision:
    """A revision file not yet applied to the database."""

    revision: str
    message: str
    path: Path


@dataclass(frozen=True)
class MigrationStatus:
    """Where a database stands against the project's revisions and its schema.

    ``unmigrated`` lists, in plain words, the differences between the schema and what the database
    would be once every pending revision is applied: schema changes no revision makes yet.
    """

    current: tuple[str, ...]
    heads: tuple[str, ...]
    pending: tuple[PendingRevision, ...]
    unmigrated: tuple[str, ...]
    # The database's catalog as the comparison saw it (``tenantry.db.verified.catalog_lines``); only
    # when nothing was pending (else it is the catalog of revisions applied and rolled back).
    catalog: tuple[Any, ...] = ()

    @property
    def has_unmigrated_changes(self) -> bool:
        """The schema changed since the last revision was made."""
        return bool(self.unmigrated)

    @property
    def up_to_date(self) -> bool:
        """Nothing to apply and nothing to generate."""
        return not self.pending and not self.unmigrated


@dataclass
class SyncResult:
    """What :func:`sync_schema` did (``applied``) and what it left alone, with the reason (``skipped``)."""

    applied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.applied)


# --------------------------------------------------------------------------------------------------
# Public API


def migrations_dir(directory: Path) -> Path:
    """The migrations folder of the project at ``directory``."""
    return Path(directory) / MIGRATIONS_DIRNAME


def ensure_migrations_dir(directory: Path) -> None:
    """Create ``<directory>/migrations`` (``env.py``, ``script.py.mako``, ``versions/``) where missing.

    Existing files are left as they are: a project may have edited its template.
    """
    root = migrations_dir(directory)
    (root / "versions").mkdir(parents=True, exist_ok=True)
    for name, text in (("env.py", ENV_PY), ("script.py.mako", SCRIPT_PY_MAKO)):
        path = root / name
        if not path.exists():
            path.write_text(text, encoding="utf-8")


def make_revision(
    url: str, tables: TableSet, directory: Path, message: str, *, allow_destructive: bool = False
) -> Path | None:
    """Write a revision taking the database at ``url``, once at head, to ``tables``.

    Pending revisions are applied first, inside a transaction that is rolled back afterwards, so the
    comparison is made against head without this call changing the database. Returns the new file,
    or ``None`` when the database at head already matches the tables. Raises
    :class:`DestructiveChangeError` (and writes nothing) when the change would drop a table or a
    column or narrow a column's type, unless ``allow_destructive``.
    """
    ensure_migrations_dir(directory)

    def hook(context: MigrationContext, revision: Any, directives: list[ops.MigrationScript]) -> None:
        script = directives[0]
        if all(upgrade.is_empty() for upgrade in script.upgrade_ops_list):
            directives[:] = []  # nothing changed: write no file
            return
        dialect = context.dialect
        destructive = [
            d for upgrade in script.upgrade_ops_list for d in _destructive_descriptions(upgrade.ops, dialect)
        ]
        if destructive and not allow_destructive:
            raise DestructiveChangeError(destructive)

    def work(conn: Connection) -> Path | None:
        check_before_migrating(conn, tables.spatial)
        config = alembic_config(url, tables, directory, conn)
        command.upgrade(config, "heads")
        produced = command.revision(config, message=message, autogenerate=True, process_revision_directives=hook)
        scripts = [s for s in (produced if isinstance(produced, list) else [produced]) if s is not None]
        return Path(scripts[0].path) if scripts else None

    return _alembic_call(url, work, commit=False)


def upgrade(
    url: str, tables: TableSet, directory: Path, revision: str = "head", *, on_wait: Callable[[], None] | None = None
) -> None:
    """Apply revisions up to ``revision`` (all of them by default), in one transaction.

    Another process migrating the same database at the same time is waited for (``on_wait`` is
    called first, once, when it has to); what it applied is not applied again.
    """
    _require_migrations(directory)

    def work(conn: Connection) -> None:
        check_before_migrating(conn, tables.spatial)
        config = alembic_config(url, tables, directory, conn)
        _refuse_unknown(ScriptDirectory.from_config(config), _current(conn), directory)
        command.upgrade(config, revision)
        run_post_steps(conn, tables)

    _alembic_call(url, work, commit=True, on_wait=on_wait)


def downgrade(url: str, tables: TableSet, directory: Path, revision: str = "-1") -> None:
    """Revert revisions down to ``revision`` (the last one by default), in one transaction."""
    _require_migrations(directory)

    def work(conn: Connection) -> None:
        command.downgrade(alembic_config(url, tables, directory, conn), revision)
        run_post_steps(conn, tables)

    _alembic_call(url, work, commit=True)


def status(
    url: str, tables: TableSet, directory: Path, *, on_wait: Callable[[], None] | None = None
) -> MigrationStatus:
    """Current and head revisions, the revisions still to apply, and schema changes no revision makes.

    Finding the last part applies the pending revisions inside a transaction that is always rolled
    back, so this takes the same locks an upgrade would, briefly, but changes nothing. A migration
    under way in another process is waited for (``on_wait`` is told), so what it reports is after it.
    """
    has_scripts = (migrations_dir(directory) / "env.py").exists()

    def work(conn: Connection) -> MigrationStatus:
        config = alembic_config(url, tables, directory, conn)
        current = _current(conn)
        heads: tuple[str, ...] = ()
        pending: tuple[PendingRevision, ...] = ()
        if has_scripts:
            scripts = ScriptDirectory.from_config(config)
            _refuse_unknown(scripts, current, directory)
            heads = tuple(sorted(scripts.get_heads()))
            pending = _pending(scripts, current)
            if pending:
                try:
                    command.upgrade(config, "heads")
                except sa.exc.DBAPIError as exc:
                    raise MigrationError(f"the pending revisions fail to apply: {exc.orig}") from exc
        elif current:
            raise DatabaseAheadError(current, migrations_dir(directory))
        upgrade_ops = _diff(conn, tables).upgrade_ops
        assert upgrade_ops is not None
        unmigrated = tuple(_describe_all(upgrade_ops.ops, conn.dialect))
        catalog = () if pending else tuple(catalog_lines(conn))
        return MigrationStatus(current, heads, pending, unmigrated, catalog)

    return _alembic_call(url, work, commit=False, on_wait=on_wait)


def _current(conn: Connection) -> tuple[str, ...]:
    """The revisions the database is at (none before the first upgrade)."""
    return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))


def _refuse_unknown(scripts: ScriptDirectory, current: Sequence[str], directory: Path) -> None:
    known = {script.revision for script in scripts.walk_revisions()}
    unknown = [revision for revision in current if revision not in known]
    if unknown:
        raise DatabaseAheadError(unknown, migrations_dir(directory))


def head_revisions(directory: Path) -> tuple[str, ...]:
    """The head revision(s) of the project at ``directory``, read from its files (no database).

    Empty when the project has no revisions (a development database kept by ``sync_schema``).
    """
    if not (migrations_dir(directory) / "env.py").exists():
        return ()
    return tuple(sorted(ScriptDirectory(str(migrations_dir(directory))).get_heads()))


def sync_schema(url: str, tables: TableSet, *, allow_destructive: bool = False) -> SyncResult:
    """Make the database at ``url`` match ``tables`` directly, without revision files (development).

    New tables, columns, indexes and constraints, widened types and changed defaults are applied.
    Destructive changes (dropping a table or column, narrowing a type) are left out and listed in
    ``skipped`` unless ``allow_destructive``; so is a required column without a default that cannot
    be added (or enforced) because the table has rows that would have no value. A column whose field
    was removed is kept, and made nullable if it was required without a default, so inserts that no
    longer mention it still work.
    """

    def work(conn: Connection) -> SyncResult:
        check_before_migrating(conn, tables.spatial)
        upgrade_ops = _diff(conn, tables).upgrade_ops
        assert upgrade_ops is not None
        result = SyncResult()
        plan = _plan_sync(conn, upgrade_ops.ops, allow_destructive, result)
        context = MigrationContext.configure(conn, opts=_context_options(conn.dialect, tables))
        _apply(Operations(context), plan, batch=conn.dialect.name == "sqlite")
        result.applied.extend(run_post_steps(conn, tables))
        return result

    return _run_async(lambda: _in_transaction(url, work, commit=True))


def run_post_steps(conn: Connection, tables: TableSet) -> list[str]:
    """Run the contributors' post-migration steps (``TableSet.post_steps``) on ``conn``, in order.

    Called after every sync, upgrade and downgrade, inside the same transaction: Alembic neither
    compares nor generates triggers or policies, and SQLite's batch mode drops a table's triggers
    when it rebuilds the table, so they are checked (and recreated where missing) every time.
    Returns what the steps changed, in plain words.
    """
    changed: list[str] = []
    for step in tables.post_steps:
        changed.extend(step(conn, tables))
    return changed


def run_env() -> None:
    """The body of a project's ``migrations/env.py``: run Alembic's command with Tenantry's settings.

    Reads ``url`` and ``tables`` (a :class:`TableSet`) from ``config.attributes``, and uses the
    connection in ``config.attributes["connection"]`` when one is given (then the caller owns the
    transaction); otherwise it opens its own async engine and commits when done.
    """
    from alembic import context

    config = context.config
    url = config.attributes.get("url")
    tables = config.attributes.get("tables")
    if not isinstance(url, str) or not isinstance(tables, TableSet):
        raise MigrationError(
            "migrations run through Tenantry, which passes the database URL and the tables to Alembic; "
            "use the tenantry command (or tenantry.db.migrations), not the alembic command"
        )
    if context.is_offline_mode():
        raise MigrationError("offline (--sql) migrations are not supported: run them against a database")

    def run(conn: Connection) -> None:
        context.configure(connection=conn, **_context_options(conn.dialect, tables))
        with context.begin_transaction():
            context.run_migrations()

    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        run(connection)
        return

    async def own_connection() -> None:
        async with _connect(url) as conn:
            # Alembic's own command line (no Tenantry call around it): PostGIS first, as ``upgrade`` does.
            await conn.run_sync(check_before_migrating, tables.spatial)
            await conn.run_sync(run)
            await conn.commit()

    _run_async(own_connection)


# --------------------------------------------------------------------------------------------------
# Connections and Alembic configuration


def _run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from synchronous code.

    When this thread already runs an event loop (a caller inside an async app), ``asyncio.run``
    is not allowed there, so the coroutine gets its own loop on a worker thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


@asynccontextmanager
async def _connect(url: str) -> AsyncIterator[AsyncConnection]:
    """One connection to ``url``; on SQLite, one whose transactions are real (DDL included)."""
    engine = create_async_engine(to_sqlalchemy_url(url), poolclass=NullPool)
    if dialect_of(url) == "sqlite":
        # Python's sqlite3 module only opens a transaction before INSERT/UPDATE/DELETE, so DDL would
        # commit statement by statement and a batch table rebuild could stop half-way. Take
        # transactions over: no implicit handling, and an explicit BEGIN IMMEDIATE (the write lock up
        # front, so a concurrent writer makes us wait rather than fail mid-way).
        @event.listens_for(engine.sync_engine, "connect")
        def _manual_transactions(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        async with engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()


def _one_at_a_time(conn: Connection, on_wait: Callable[[], None] | None) -> None:
    """Take the migration lock (PostgreSQL), after telling ``on_wait`` when another process holds it."""
    if conn.dialect.name != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE holds the single writer's lock already
    if conn.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({MIGRATION_LOCK_KEY})").scalar():
        return
    if on_wait is not None:
        on_wait()
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")


async def _in_transaction(
    url: str, fn: Callable[[Connection], T], *, commit: bool, on_wait: Callable[[], None] | None = None
) -> T:
    """``fn(connection)`` inside one transaction, committed only if ``commit`` and ``fn`` succeeded.

    The transaction holds the migration lock first (``_one_at_a_time``): what ``fn`` reads of the
    schema, another process is not changing.
    """
    async with _connect(url) as conn:
        await conn.begin()
        try:
            await conn.run_sync(_one_at_a_time, on_wait)
            result = await conn.run_sync(fn)
        except BaseException:
            await conn.rollback()
            raise
        await (conn.commit() if commit else conn.rollback())
        return result


def _alembic_call(
    url: str, fn: Callable[[Connection], T], *, commit: bool, on_wait: Callable[[], None] | None = None
) -> T:
    """Like ``_in_transaction``, with Alembic's command errors turned into :class:`MigrationError`."""
    try:
        return _run_async(lambda: _in_transaction(url, fn, commit=commit, on_wait=on_wait))
    except (CommandError, RevisionError) as exc:  # e.g. the database is at a revision no file has
        raise MigrationError(str(exc)) from exc


def alembic_config(url: str, tables: TableSet, directory: Path, connection: Connection | None = None) -> Config:
    """An Alembic configuration built in code: no ``alembic.ini``, quiet, state in ``attributes``."""
    config = Config(cmd_opts=argparse.Namespace(quiet=True))
    # ConfigParser interpolates '%', so a '%' in the path must be doubled.
    config.set_main_option("script_location", str(migrations_dir(directory)).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", _FILE_TEMPLATE)
    config.attributes.update(url=url, tables=tables, connection=connection)
    return config


def _require_migrations(directory: Path) -> None:
    if not (migrations_dir(directory) / "env.py").exists():
        raise MigrationError(f"no migrations in {migrations_dir(directory)}: make a revision first")


def _pending(scripts: ScriptDirectory, current: Sequence[str]) -> tuple[PendingRevision, ...]:
    """Revisions that are not the current one(s) or their ancestors, oldest first."""
    applied: set[str] = set()
    if current:
        applied = {rev.revision for rev in scripts.iterate_revisions(tuple(current), "base") if rev is not None}
    out: list[Script] = [rev for rev in scripts.walk_revisions() if rev.revision not in applied]
    return tuple(PendingRevision(rev.revision, rev.doc or "", Path(rev.path)) for rev in reversed(out))


def _context_options(dialect: Dialect, tables: TableSet) -> dict[str, Any]:
    """The ``MigrationContext`` options shared by revisions, upgrades and development sync."""
    return {
        "target_metadata": tables.metadata,
        "compare_type": _compare_type,
        "compare_server_default": _compare_server_default,
        # SQLite alters little in place; batch mode rebuilds the table (copying its rows) instead.
        "render_as_batch": dialect.name == "sqlite",
        "include_object": _include_object,
        "render_item": _render_item,
        "version_table": VERSION_TABLE,
        "autogenerate_plugins": _AUTOGENERATE_PLUGINS,
    }


def _diff(conn: Connection, tables: TableSet) -> ops.MigrationScript:
    """Alembic's autogenerate comparison of the live database with ``tables``."""
    context = MigrationContext.configure(conn, opts=_context_options(conn.dialect, tables))
    return produce_migrations(context, tables.metadata)


# Tables the metadata never lists: Alembic's version table, the start-up checks passed
# (``tenantry.db.verified``), and what an extension creates in the schema it is installed in
# (PostGIS's table of reference systems).
_OTHERS_TABLES = frozenset({VERSION_TABLE, CHECKS_TABLE, "spatial_ref_sys"})


def _include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Compare every table, except those the metadata never lists (``_OTHERS_TABLES``)."""
    return not (type_ == "table" and reflected and compare_to is None and name in _OTHERS_TABLES)


def _compare_type(
    context: MigrationContext,
    inspected_column: sa.Column[Any],
    metadata_column: sa.Column[Any],
    inspected_type: Any,
    metadata_type: Any,
) -> bool | None:
    """PostGIS columns: compare PostgreSQL's own spelling of the type; every other type: Alembic's rules.

    SQLAlchemy reflects ``geometry(Point,4326)`` without its subtype and SRID, so they are read
    from the catalog (``format_type``) for the columns that declare one.
    """
    if not isinstance(metadata_type, Spatial):
        return None
    table = inspected_column.table
    qualified = f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
    found = context.connection.execute(  # type: ignore[union-attr]
        sa.text(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = to_regclass(:table) AND attname = :column"
        ),
        {"table": qualified, "column": inspected_column.name},
    ).scalar()
    declared = metadata_type.get_col_spec()
    return found is None or str(found).replace(" ", "").lower() != declared.lower()


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write Tenantry's column types as the calls that build them.

    Alembic's default would write ``GUID(length=36)``/``UTCTimestamp(timezone=True)`` (arguments of
    the SQLite/PostgreSQL storage types, not of ours), and the JSON variant as
    ``postgresql.JSONB(astext_type=Text())`` with an unimported ``Text``.
    """
    if type_ != "type":
        return False
    if isinstance(obj, GUID):
        return "tenantry.db.types.GUID()"
    if isinstance(obj, UTCTimestamp):
        return "tenantry.db.types.UTCTimestamp()"
    if isinstance(obj, Spatial):
        return f"tenantry.db.types.Spatial({obj.kind!r})"
    # SQLAlchemy offers no public way to ask a type for its dialect variants.
    if isinstance(obj, sa.JSON) and "postgresql" in obj._variant_mapping:  # noqa: SLF001
        element = array_element(obj._variant_mapping["postgresql"])  # noqa: SLF001
        if element is not None:
            return f"tenantry.db.types.array_type({element!r})"
        return "tenantry.db.types.json_type()"
    module = type(obj).__module__
    if not module.startswith(("sqlalchemy.", "tenantry.db.types")):
        # A contributor's own type: Alembic writes it as module.Class(...); import that module.
        autogen_context.imports.add(f"import {module}")
    return False


# --------------------------------------------------------------------------------------------------
# Server defaults


_QUOTED = re.compile(r"^'((?:[^']|'')*)'$")


def _compare_server_default(
    context: MigrationContext,
    inspected_column: sa.Column[Any],
    metadata_column: sa.Column[Any],
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """Compare plain-string defaults ourselves; leave SQL expression defaults to Alembic (``None``).

    Alembic puts a string default between quotes without escaping it, so a default containing a
    quote made PostgreSQL's comparison query fail and SQLite report a change on every run.
    """
    if not isinstance(metadata_default, sa.DefaultClause) or not isinstance(metadata_default.arg, str):
        return None
    if inspected_default is None:
        return True
    value = metadata_default.arg
    if context.dialect.name == "postgresql":
        # PostgreSQL rewrites literals ('2024-01-02 03:04:05+00'::timestamp with time zone), so ask it
        # whether the two are equal as values of the column's type.
        conn = context.connection
        assert conn is not None
        literal = "'" + value.replace("'", "''") + "'"
        try:
            with conn.begin_nested():  # a failed comparison must not abort the whole transaction
                return not conn.scalar(sa.select(sa.literal_column(f"({inspected_default}) = {literal}")))
        except sa.exc.DBAPIError:
            return True
    text = inspected_default.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    m = _QUOTED.match(text)
    return m is None or m.group(1).replace("''", "'") != value


# --------------------------------------------------------------------------------------------------
# Enum CHECK constraints


_LITERAL = re.compile(r"'((?:[^']|'')*)'")


def _literals(sql: str) -> frozenset[str]:
    """The quoted string literals of a CHECK expression, e.g. the values of ``status IN ('a', 'b')``."""
    return frozenset(m.replace("''", "'") for m in _LITERAL.findall(sql))


@dataclass(frozen=True)
class _EnumChange:
    """What an operation on an enum's CHECK constraint does, for describing and classifying it.

    ``restrict``: a column gains the constraint; ``change``: the allowed values change (the drop of a
    drop-and-add pair; the add is marked ``enum_check_pair``); ``unrestrict``: the constraint goes.
    """

    kind: Literal["restrict", "change", "unrestrict"]
    target: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _compare_enum_checks(
    autogen_context: AutogenContext,
    modify_table_ops: ops.ModifyTableOps,
    schema: str | None,
    tname: str,
    conn_table: sa.Table | None,
    metadata_table: sa.Table | None,
) -> PriorityDispatchResult:
    """Keep the CHECK constraint of each enum column in step with the enum's values.

    Alembic compares no CHECK constraints by default, so adding a value to an enum (same column
    length) produced no migration and the database kept rejecting the new value. Constraints are
    matched by name (``ck_<table>_<field>``, from the naming convention) and compared by the set of
    quoted values in their expression, which both dialects reflect faithfully, however they rewrite
    the rest (PostgreSQL turns ``IN (...)`` into ``= ANY (ARRAY[...])``).
    """
    if conn_table is None or metadata_table is None:
        return PriorityDispatchResult.CONTINUE
    dialect = autogen_context.dialect
    assert dialect is not None
    for op in modify_table_ops.ops:
        if isinstance(op, ops.AlterColumnOp) and isinstance(op.modify_type, sa.Enum):
            # An enum whose longest value changed: alter the column as the plain VARCHAR it is. As an
            # Enum, Alembic would also add or drop the enum's own CHECK (in batch mode, the one this
            # function creates), and the constraint is managed below, by value.
            op.modify_type = sa.String(op.modify_type.length)
    prefix = f"ck_{tname}_"
    wanted: dict[str, sa.CheckConstraint] = {}
    for constraint in metadata_table.constraints:
        if isinstance(constraint, sa.CheckConstraint) and isinstance(constraint.name, str):
            wanted[str(constraint.name)] = constraint
    existing = {
        str(ck["name"]): ck["sqltext"]
        for ck in autogen_context.inspector.get_check_constraints(tname, schema=schema)
        if ck.get("name") and str(ck["name"]).startswith(prefix)
    }
    for name, constraint in sorted(wanted.items()):
        new_values = _literals(str(constraint.sqltext.compile(dialect=dialect, compile_kwargs={"literal_binds": True})))
        columns = [c.name for c in constraint.columns]
        column = f"{tname}.{columns[0]}" if columns else tname
        if name not in existing:
            # A constraint of a column being added arrives with the column (add_column emits it).
            if columns and all(c in conn_table.c for c in columns):
                add = ops.AddConstraintOp.from_constraint(constraint)
                add.info["enum_check"] = _EnumChange("restrict", column, added=sorted(new_values))
                modify_table_ops.ops.append(add)
            continue
        old_values = _literals(existing[name])
        if old_values != new_values:
            # conv(): the name is final; the naming convention must not prefix it a second time.
            reflected = sa.CheckConstraint(sa.text(existing[name]), name=conv(name))
            conn_table.append_constraint(reflected)
            drop = ops.DropConstraintOp.from_constraint(reflected)
            drop.info["enum_check"] = _EnumChange(
                "change", column, added=sorted(new_values - old_values), removed=sorted(old_values - new_values)
            )
            add = ops.AddConstraintOp.from_constraint(constraint)
            add.info["enum_check_pair"] = name
            modify_table_ops.ops.extend([drop, add])
    for name in sorted(set(existing) - set(wanted)):
        reflected = sa.CheckConstraint(sa.text(existing[name]), name=conv(name))
        conn_table.append_constraint(reflected)
        drop = ops.DropConstraintOp.from_constraint(reflected)
        drop.info["enum_check"] = _EnumChange("unrestrict", name)
        modify_table_ops.ops.append(drop)
    return PriorityDispatchResult.CONTINUE


def _register_enum_plugin() -> None:
    try:
        plugin = Plugin(_ENUM_PLUGIN)
    except ValueError:  # registered already (this module was reloaded)
        return
    plugin.add_autogenerate_comparator(_compare_enum_checks, "table", "tenantry_enum_checks")


_register_enum_plugin()


# --------------------------------------------------------------------------------------------------
# Describing operations, and telling which lose data


def _type_sql(t: Any, dialect: Dialect) -> str:
    try:
        return str(t.compile(dialect=dialect))
    except sa.exc.SQLAlchemyError:
        return repr(t)


def _default_sql(d: Any) -> str:
    if d is None or d is False:
        return "none"
    arg = getattr(d, "arg", d)
    if isinstance(arg, str):
        return repr(arg)
    return str(getattr(arg, "text", arg))


def _describe(op: ops.MigrateOperation, dialect: Dialect) -> str | None:
    """One operation in plain words (``drop column projects.description``); None for a pair's 2nd half."""
    if op.info.get("enum_check_pair"):
        return None
    enum_change = op.info.get("enum_check")
    if isinstance(enum_change, _EnumChange):
        if enum_change.kind == "restrict":
            return f"restrict values of {enum_change.target} to {', '.join(enum_change.added)}"
        if enum_change.kind == "unrestrict":
            return f"drop check constraint {enum_change.target}"
        parts = [f"allow {', '.join(enum_change.added)}"] if enum_change.added else []
        parts += [f"disallow {', '.join(enum_change.removed)}"] if enum_change.removed else []
        return f"change allowed values of {enum_change.target}: {'; '.join(parts)}"
    if isinstance(op, ops.CreateTableOp):
        return f"create table {op.table_name}"
    if isinstance(op, ops.DropTableOp):
        return f"drop table {op.table_name}"
    if isinstance(op, ops.AddColumnOp):
        return f"add column {op.table_name}.{op.column.name}"
    if isinstance(op, ops.DropColumnOp):
        return f"drop column {op.table_name}.{op.column_name}"
    if isinstance(op, ops.AlterColumnOp):
        target = f"{op.table_name}.{op.column_name}"
        changes: list[str] = []
        if op.modify_type is not None:
            verb = "narrow type" if _narrows(op.existing_type, op.modify_type, dialect) else "change type"
            changes.append(
                f"{verb} from {_type_sql(op.existing_type, dialect)} to {_type_sql(op.modify_type, dialect)}"
            )
        if op.modify_nullable is not None:
            changes.append("make nullable" if op.modify_nullable else "make required (NOT NULL)")
        if op.modify_server_default is not False:
            changes.append(
                f"change default from {_default_sql(op.existing_server_default)} "
                f"to {_default_sql(op.modify_server_default)}"
            )
        if op.modify_comment is not False:
            changes.append("change comment")
        if op.modify_name is not None:
            changes.append(f"rename to {op.modify_name}")
        return f"alter column {target}: {'; '.join(changes) or 'no change'}"
    if isinstance(op, ops.CreateIndexOp):
        return f"create {'unique ' if op.unique else ''}index {op.index_name} on {op.table_name}"
    if isinstance(op, ops.DropIndexOp):
        return f"drop index {op.index_name} on {op.table_name}"
    if isinstance(op, ops.AddConstraintOp):
        kind = {"unique_constraint": "unique", "foreign_key_constraint": "foreign key", "check_constraint": "check"}
        name = getattr(op, "constraint_name", None)
        return f"add {kind.get(op.constraint_type, op.constraint_type)} constraint {name} on {_table_of(op)}"
    if isinstance(op, ops.DropConstraintOp):
        kind_name = {"foreignkey": "foreign key", None: ""}.get(op.constraint_type, op.constraint_type or "")
        return f"drop {kind_name + ' ' if kind_name else ''}constraint {op.constraint_name} on {op.table_name}"
    return f"{type(op).__name__} on {_table_of(op)}"


def _table_of(op: ops.MigrateOperation) -> str:
    return str(getattr(op, "table_name", None) or getattr(op, "source_table", None) or "?")


def _flatten(operations: Iterable[ops.MigrateOperation]) -> list[ops.MigrateOperation]:
    out: list[ops.MigrateOperation] = []
    for op in operations:
        if isinstance(op, ops.OpContainer):
            out.extend(_flatten(op.ops))
        else:
            out.append(op)
    return out


def _describe_all(operations: Iterable[ops.MigrateOperation], dialect: Dialect) -> list[str]:
    return [d for op in _flatten(operations) if (d := _describe(op, dialect)) is not None]


def _is_destructive(op: ops.MigrateOperation, dialect: Dialect) -> bool:
    """Whether applying ``op`` can lose data, or make existing rows invalid."""
    if isinstance(op, ops.DropTableOp | ops.DropColumnOp):
        return True
    if isinstance(op, ops.AlterColumnOp) and op.modify_type is not None:
        return _narrows(op.existing_type, op.modify_type, dialect)
    # Disallowing an enum value would make rows holding it invalid (the constraint cannot be added).
    enum_change = op.info.get("enum_check")
    return isinstance(enum_change, _EnumChange) and enum_change.kind == "change" and bool(enum_change.removed)


def _destructive_descriptions(operations: Iterable[ops.MigrateOperation], dialect: Dialect) -> list[str]:
    return [
        d for op in _flatten(operations) if _is_destructive(op, dialect) and (d := _describe(op, dialect)) is not None
    ]


def _storage(t: TypeEngine[Any], dialect: Dialect) -> TypeEngine[Any]:
    """The type as the dialect stores it: decorators unwrapped, variants resolved."""
    impl = t.dialect_impl(dialect)
    while isinstance(impl, TypeDecorator):
        impl = impl.impl_instance
    return impl


def _str_length(t: TypeEngine[Any]) -> int | None:
    """The maximum length of a textual type; None for unbounded (TEXT, VARCHAR without length)."""
    return getattr(t, "length", None)


def _shorter(old: int | None, new: int | None) -> bool:
    if new is None:
        return False
    return old is None or new < old


def _int_bits(t: TypeEngine[Any]) -> int:
    if isinstance(t, sa.SmallInteger):
        return 16
    if isinstance(t, sa.BigInteger):
        return 64
    return 32


_INT_DIGITS = {16: 5, 32: 10, 64: 19}


def _float_bits(t: TypeEngine[Any]) -> int:
    """Mantissa bits: 24 for REAL/FLOAT(p<=24), 53 for DOUBLE PRECISION and plain FLOAT."""
    if isinstance(t, sa.Double):
        return 53
    if isinstance(t, sa.REAL):
        return 24
    precision = getattr(t, "precision", None)
    return 24 if precision is not None and precision <= 24 else 53


def _narrows(old: Any, new: Any, dialect: Dialect) -> bool:
    """Whether changing a column from type ``old`` to ``new`` can lose data or reject stored values.

    Known widenings are allowed (longer strings, string to text, integer to bigint, more numeric
    digits, date to timestamp …); any other change of kind counts as narrowing.
    """
    if old is None or new is None:
        return False
    old, new = _storage(old, dialect), _storage(new, dialect)
    if isinstance(old, sa.String):  # VARCHAR, CHAR, TEXT, non-native enums
        return not isinstance(new, sa.String) or _shorter(_str_length(old), _str_length(new))
    if isinstance(old, sa.Uuid):
        return not (isinstance(new, sa.Uuid) or (isinstance(new, sa.String) and not _shorter(36, _str_length(new))))
    if isinstance(old, sa.Integer):
        bits = _int_bits(old)
        if isinstance(new, sa.Integer):
            return _int_bits(new) < bits
        if isinstance(new, sa.Float):
            return _float_bits(new) < bits
        if isinstance(new, sa.Numeric):
            return new.precision is not None and new.precision - (new.scale or 0) < _INT_DIGITS[bits]
        if isinstance(new, sa.String):
            return _shorter(_INT_DIGITS[bits] + 1, _str_length(new))
        return True
    if isinstance(old, sa.Float):  # before Numeric: Float is a Numeric
        if isinstance(new, sa.Float):
            return _float_bits(new) < _float_bits(old)
        return not (isinstance(new, sa.String) and _str_length(new) is None)
    if isinstance(old, sa.Numeric):
        if isinstance(new, sa.Numeric) and not isinstance(new, sa.Float):
            if old.precision is None or new.precision is None:
                return old.precision is None and new.precision is not None
            old_scale, new_scale = old.scale or 0, new.scale or 0
            return new_scale < old_scale or new.precision - new_scale < old.precision - old_scale
        if isinstance(new, sa.Integer):
            return bool(old.scale) or old.precision is None or old.precision > _INT_DIGITS[_int_bits(new)] - 1
        return not (isinstance(new, sa.String) and _str_length(new) is None)
    if isinstance(old, sa.DateTime):
        if isinstance(new, sa.DateTime):
            return bool(old.timezone) and not new.timezone
        return not (isinstance(new, sa.String) and _str_length(new) is None)
    if isinstance(old, sa.Date):
        return not isinstance(new, sa.Date | sa.DateTime) and not (
            isinstance(new, sa.String) and not _shorter(10, _str_length(new))
        )
    if isinstance(old, sa.Boolean):
        return not isinstance(new, sa.Boolean | sa.Integer) and not (
            isinstance(new, sa.String) and not _shorter(5, _str_length(new))
        )
    if isinstance(old, sa.JSON):
        return not isinstance(new, sa.JSON) and not (isinstance(new, sa.String) and _str_length(new) is None)
    # SQLAlchemy's own notion of "the same kind of type", which it keeps private.
    return old._type_affinity is not new._type_affinity  # noqa: SLF001


# --------------------------------------------------------------------------------------------------
# Development sync


@dataclass
class _Step:
    """Operations to apply: a top-level one, or those of one table (a batch on SQLite)."""

    ops: list[ops.MigrateOperation]
    table: str | None = None
    recreate: Literal["auto", "always"] = "auto"


def _has_rows(conn: Connection, table: str, where: sa.ColumnElement[bool] | None = None) -> bool:
    query = sa.select(sa.literal(1)).select_from(sa.table(table)).limit(1)
    if where is not None:
        query = query.where(where)
    return conn.execute(query).first() is not None


def _plan_sync(
    conn: Connection, operations: Sequence[ops.MigrateOperation], allow_destructive: bool, result: SyncResult
) -> list[_Step]:
    """Choose which operations ``sync_schema`` applies, recording every decision in ``result``."""
    dialect = conn.dialect
    steps: list[_Step] = []
    dropped_tables = {op.table_name for op in operations if isinstance(op, ops.DropTableOp)}
    for op in operations:
        if isinstance(op, ops.ModifyTableOps):
            if op.table_name in dropped_tables:
                # Dropping a table first drops its indexes: part of "drop table", not worth a line,
                # and to be left alone with the table when the drop is not allowed.
                if allow_destructive:
                    steps.append(_Step(_flatten(op.ops)))
                continue
            step = _plan_table(conn, op, allow_destructive, result)
            if step.ops:
                steps.append(step)
            continue
        description = _describe(op, dialect)
        if _is_destructive(op, dialect) and not allow_destructive:
            result.skipped.append(f"{description}: would delete its data; not applied")
            continue
        steps.append(_Step([op]))
        if description:
            result.applied.append(description)
    return steps


def _plan_table(conn: Connection, table_ops: ops.ModifyTableOps, allow_destructive: bool, result: SyncResult) -> _Step:
    dialect = conn.dialect
    table = table_ops.table_name
    step = _Step([], table=table)
    skipped_pairs: set[str] = set()
    table_has_rows: bool | None = None

    def has_rows() -> bool:
        nonlocal table_has_rows
        if table_has_rows is None:
            table_has_rows = _has_rows(conn, table)
        return table_has_rows

    for op in _flatten(table_ops.ops):
        pair = op.info.get("enum_check_pair")
        if pair is not None:
            if pair not in skipped_pairs:
                step.ops.append(op)
            continue
        description = _describe(op, dialect)
        if _is_destructive(op, dialect) and not allow_destructive:
            if isinstance(op, ops.DropConstraintOp):
                skipped_pairs.add(str(op.constraint_name))
                reason = "rows may hold the values it no longer allows; not applied"
            elif isinstance(op, ops.DropColumnOp):
                reason = "would delete its data; not applied (the column stays)"
                kept = op.to_column()
                if not kept.nullable and kept.server_default is None and not kept.primary_key:
                    # Inserts no longer name this column: NOT NULL without a default would reject them.
                    step.ops.append(
                        ops.AlterColumnOp(
                            table,
                            op.column_name,
                            modify_nullable=True,
                            existing_type=kept.type,
                            existing_nullable=False,
                        )
                    )
                    result.applied.append(f"make column {table}.{op.column_name} nullable (its field was removed)")
            else:
                reason = "may lose or reject existing data; not applied"
            result.skipped.append(f"{description}: {reason}")
            continue
        if isinstance(op, ops.AddColumnOp) and _needs_value(op.column):
            if has_rows():
                result.skipped.append(
                    f"{description}: the column is required and has no default, and {table} already has rows "
                    "that would have no value; add a default to the field or make it nullable"
                )
                continue
            # SQLite cannot ADD COLUMN ... NOT NULL without a default even to an empty table;
            # rebuilding the (empty) table can.
            step.recreate = "always"
        if (
            isinstance(op, ops.AlterColumnOp)
            and op.modify_nullable is False
            and _has_rows(conn, table, sa.column(op.column_name).is_(None))
        ):
            result.skipped.append(
                f"{description}: some rows have no value in {op.column_name}; fill them in, "
                "or give the field a default, first"
            )
            continue
        step.ops.append(op)
        if description:
            result.applied.append(description)
    return step


def _needs_value(column: sa.Column[Any]) -> bool:
    return not column.nullable and column.server_default is None and not column.primary_key


def _apply(operations: Operations, steps: Sequence[_Step], *, batch: bool) -> None:
    for step in steps:
        if batch and step.table is not None:
            with operations.batch_alter_table(step.table, recreate=step.recreate) as batch_ops:
                for op in step.ops:
                    batch_ops.invoke(op)
        else:
            for op in step.ops:
                operations.invoke(op)
