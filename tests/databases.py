"""Databases for the tests: each distinct set of tables is built once per run, and every test that
asks for those tables gets them with no rows in them.

Building the tables (``sync_schema``: an Alembic comparison of the live database with the
metadata, then the DDL, triggers, row-level security policies and grants) costs far more than most
tests themselves. So it is done once per *key* (``tables_key``): a hash of the dialect, the DDL of
every table and index, and the post-migration steps with what they were built from. Whatever
changes the tables (the schema, the dialect, the auth table-name preset, the enabled plugins, a
test's own contributors) changes the key.

SQLite: the tables are built once per run into a file shared by the run's workers; each test
copies it to a file of its own, so nothing another test wrote can be in it.

PostgreSQL: the tables are built once per run into a template database (under an advisory lock,
so the workers build each one once between them). Each worker clones a template into a database
of its own (a ``KeptDatabase``) and hands that database to one test after another. Before each test its
other sessions are ended, its catalog is compared with a fingerprint taken right after cloning,
every table is emptied and every sequence restarts. A test that changed anything the fingerprint
covers (a second app on other tables, a dropped trigger, a new function, a grant) leaves a
database that is never handed out again: the next test gets a fresh clone.

Tests that need an empty database (migrations, servers that build their tables themselves) get the
worker's scratch database (``PostgresDatabases.scratch``), whose public schema is dropped and
created again whenever a test left something in it, as before.

Tests that need a brand-new database get one from ``PostgresDatabases.fresh``.

Every database of a run is named ``tenantry_test_<run>_…``. Each worker drops its own when it ends,
and the process that started the run drops the templates and anything a worker left
(``drop_run_databases``); several at once, because PostgreSQL makes each ``DROP DATABASE`` wait for
a checkpoint, and drops waiting together share one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from tenantry.app import app_tables
from tenantry.config import Settings
from tenantry.core import Capability
from tenantry.db.migrations import sync_schema
from tenantry.db.tables import DialectName, PostStep, TableSet
from tenantry.schema import Schema

T = TypeVar("T")

DATABASE_PREFIX = "tenantry_test"

# --------------------------------------------------------------------------------------------------
# Keys


def tables_key(tables: TableSet) -> str:
    """A hash of everything ``sync_schema`` would build for ``tables``, the dialect included.

    The DDL covers tables, columns, types, defaults, constraints and indexes; comments are added
    (PostgreSQL sets them with statements of their own). Post-migration steps (triggers, policies,
    grants) are described by their function and the values their closure holds. A value whose text
    differs between processes only costs a second build, never a wrong database.
    """
    dialect = postgresql.dialect() if tables.dialect == "postgresql" else sqlite.dialect()
    parts = [tables.dialect]
    for table in tables.metadata.sorted_tables:
        parts.append(str(CreateTable(table).compile(dialect=dialect)))
        parts.append(repr([table.comment, *(column.comment for column in table.columns)]))
        for index in sorted(table.indexes, key=lambda index: str(index.name)):
            parts.append(str(CreateIndex(index).compile(dialect=dialect)))
    parts.extend(_describe_step(step) for step in tables.post_steps)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _describe_step(step: PostStep) -> str:
    """A post-migration step as text: its function and the values it was made with."""
    cells = [cell.cell_contents for cell in getattr(step, "__closure__", None) or ()]
    values = ", ".join(_describe_value(value) for value in cells)
    return f"{step.__module__}.{step.__qualname__}({values})"


def _describe_value(value: object) -> str:
    # A table's DDL is part of the key already, and its repr shows object addresses.
    if isinstance(value, sa.Table):
        return f"table {value.fullname}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_describe_value(item) for item in value) + "]"
    text = repr(value)
    if " at 0x" in text:
        # Different in every app built: no test would ever find its tables built already.
        raise TypeError(f"cannot describe {text} for a test database key: teach _describe_value about it")
    return text


class AppTables:
    """``app_tables`` with its key, for the apps tests start again and again with the same schema.

    An app's tables depend on its schema, its dialect and its authentication settings only, and
    building them and their key takes a fifth of a small test's time; so the last few are kept, by
    schema object (held here, so that its identity cannot pass to another) and settings.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._built: OrderedDict[tuple[int, str, str], tuple[Schema, TableSet, str]] = OrderedDict()

    def get(
        self,
        schema: Schema,
        dialect: DialectName,
        settings: Settings,
        capabilities: Sequence[Capability] | None = None,
    ) -> tuple[TableSet, str]:
        """The tables of an app of ``schema`` on ``dialect`` configured by ``settings``.

        Of the settings, only authentication's part changes the default capabilities' tables (its
        table names and plugins); an app with a list of its own (``capabilities``) is not kept.
        """
        if capabilities is not None:
            tables = app_tables(schema, settings, dialect, capabilities)
            return tables, tables_key(tables)
        entry = (id(schema), dialect, settings.auth.model_dump_json())
        found = self._built.get(entry)
        if found is not None and found[0] is schema:
            self._built.move_to_end(entry)
            return found[1], found[2]
        tables = app_tables(schema, settings, dialect)
        key = tables_key(tables)
        self._built[entry] = (schema, tables, key)
        if len(self._built) > self._size:
            self._built.popitem(last=False)
        return tables, key


# --------------------------------------------------------------------------------------------------
# SQLite


class SqliteTemplates:
    """Prepared SQLite files, one per key, in a directory shared by the run's workers."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def copy_to(self, tables: TableSet, target: Path, key: str | None = None) -> None:
        """Write a database with exactly ``tables`` and no rows to ``target`` (a new file).

        ``key``: ``tables_key(tables)``, when the caller knows it already.
        """
        shutil.copyfile(self.template(tables, key), target)

    def template(self, tables: TableSet, key: str | None = None) -> Path:
        """The prepared file for ``tables``, built by the first worker that needs it."""
        path = self.directory / f"{key or tables_key(tables)}.db"
        if path.exists():
            return path
        with _file_lock(path.with_suffix(".lock")):
            if not path.exists():
                self._build(tables, path)
        return path

    @staticmethod
    def _build(tables: TableSet, path: Path) -> None:
        building = path.with_suffix(f".{os.getpid()}.building")
        building.unlink(missing_ok=True)  # left by a build of this process that failed
        sync_schema(f"sqlite:///{building}", tables)
        # A committed, closed database is one file: no journal or WAL beside it to copy as well.
        leftovers = [p.name for p in building.parent.glob(building.name + "-*")]
        assert not leftovers, f"SQLite left {leftovers} beside {building}"
        os.replace(building, path)  # atomic: readers see no file or a whole one


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (the run's workers), held while the block runs."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------------------
# PostgreSQL

# Tables, sequences, functions, types, views: everywhere but the system's own schemas.
_USER_NAMESPACES = """
    SELECT oid FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%'
"""

# What a test could change in a database, short of rows, as one text per object; the fingerprint
# is their hash. It covers what sync_schema builds and what a test might alter with SQL of its own.
FINGERPRINT_SQL = f"""
WITH ns AS ({_USER_NAMESPACES}),
rel AS (SELECT c.* FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM ns)),
lines AS (
    SELECT format('schema %s owner=%s acl=%s', n.nspname, n.nspowner::regrole, n.nspacl) AS line
    FROM pg_namespace n WHERE n.oid IN (SELECT oid FROM ns)
    UNION ALL
    SELECT format('relation %s kind=%s owner=%s rls=%s,%s acl=%s options=%s persistence=%s view=%s',
                  c.oid::regclass, c.relkind, c.relowner::regrole, c.relrowsecurity, c.relforcerowsecurity,
                  c.relacl, c.reloptions, c.relpersistence,
                  CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END)
    FROM rel c
    UNION ALL
    SELECT format('column %s.%s #%s %s notnull=%s default=%s identity=%s generated=%s collation=%s acl=%s',
                  a.attrelid::regclass, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, a.attcollation, a.attacl)
    FROM pg_attribute a
    JOIN rel c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT format('constraint %s %s %s %s', co.conrelid::regclass, co.conname, pg_get_constraintdef(co.oid),
                  co.convalidated)
    FROM pg_constraint co WHERE co.connamespace IN (SELECT oid FROM ns)
    UNION ALL
    SELECT format('index %s valid=%s', pg_get_indexdef(i.indexrelid), i.indisvalid)
    FROM pg_index i JOIN rel c ON c.oid = i.indrelid
    UNION ALL
    SELECT format('trigger %s enabled=%s', pg_get_triggerdef(t.oid), t.tgenabled)
    FROM pg_trigger t JOIN rel c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal
    UNION ALL
    SELECT format('policy %s.%s %s permissive=%s roles=%s using=%s check=%s', p.polrelid::regclass, p.polname,
                  p.polcmd, p.polpermissive, p.polroles, pg_get_expr(p.polqual, p.polrelid),
                  pg_get_expr(p.polwithcheck, p.polrelid))
    FROM pg_policy p JOIN rel c ON c.oid = p.polrelid
    UNION ALL
    SELECT format('rule %s.%s %s', r.ev_class::regclass, r.rulename, pg_get_ruledef(r.oid))
    FROM pg_rewrite r JOIN rel c ON c.oid = r.ev_class
    UNION ALL
    SELECT format('function %s kind=%s src=%s config=%s definer=%s volatile=%s acl=%s owner=%s',
                  p.oid::regprocedure, p.prokind, md5(p.prosrc), p.proconfig, p.prosecdef, p.provolatile,
                  p.proacl, p.proowner::regrole)
    FROM pg_proc p WHERE p.pronamespace IN (SELECT oid FROM ns)
    UNION ALL
    SELECT format('type %s kind=%s labels=%s', t.oid::regtype, t.typtype,
                  (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                   FROM pg_enum e WHERE e.enumtypid = t.oid))
    FROM pg_type t WHERE t.typnamespace IN (SELECT oid FROM ns) AND t.typtype IN ('e', 'd', 'r', 'm')
    UNION ALL
    SELECT format('sequence %s type=%s start=%s step=%s min=%s max=%s cache=%s cycle=%s', s.seqrelid::regclass,
                  s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
    FROM pg_sequence s JOIN rel c ON c.oid = s.seqrelid
    UNION ALL
    SELECT format('default privileges %s %s %s', d.defaclrole::regrole, d.defaclobjtype, d.defaclacl)
    FROM pg_default_acl d
    UNION ALL
    SELECT format('extension %s %s', x.extname, x.extversion) FROM pg_extension x
    UNION ALL
    SELECT format('event trigger %s %s %s', e.evtname, e.evtevent, e.evtenabled) FROM pg_event_trigger e
    UNION ALL
    SELECT format('setting %s %s', s.setrole, s.setconfig) FROM pg_db_role_setting s
    WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
    UNION ALL
    SELECT format('large objects %s', count(*)) FROM pg_largeobject_metadata
    UNION ALL
    SELECT format('prepared transactions %s', count(*)) FROM pg_prepared_xacts WHERE database = current_database()
)
SELECT md5(string_agg(line, E'\\n' ORDER BY line)) FROM lines
"""

# Every table of the database, for emptying it (read once, right after cloning).
_TABLES_SQL = f"""
SELECT format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.oid IN ({_USER_NAMESPACES})
ORDER BY 1
"""

# Every sequence back to its start, as if never used (serial and identity columns included).
_RESTART_SEQUENCES_SQL = f"""
SELECT setval(s.seqrelid, s.seqstart, false)
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
WHERE c.relnamespace IN ({_USER_NAMESPACES})
"""

_OTHER_SESSIONS_SQL = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"


def empty_database_sql(tables: list[str]) -> str:
    """One transaction that removes every row of ``tables`` and restarts every sequence.

    ``session_replication_role = replica`` turns off ordinary triggers, so the audit log's
    append-only triggers do not refuse, and foreign keys (triggers too) do not care about order.
    DELETE rather than TRUNCATE: a test leaves a few rows, and TRUNCATE's new files for every
    table and index cost far more than deleting them.
    """
    deletes = "".join(f"DELETE FROM {table};\n" for table in tables)
    return f"BEGIN;\nSET LOCAL session_replication_role = replica;\n{deletes}{_RESTART_SEQUENCES_SQL};\nCOMMIT;"


class BackgroundLoop:
    """An event loop on a daemon thread, so that synchronous code, and code already running inside
    an event loop, can run asyncpg calls and keep connections open from one test to the next."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-databases", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


@dataclass
class KeptDatabase:
    """A database of this worker's, handed to one test after another: its URL, the connection that
    resets it, the fingerprint of its catalog when it was made, and the SQL that empties it."""

    url: str
    conn: asyncpg.Connection
    fingerprint: str
    empty_sql: str


class PostgresDatabases:
    """A worker's PostgreSQL databases: the scratch database, and a clone per key.

    ``prefix`` names every database of the run (``tenantry_test_<run>``); ``worker`` this process's
    own (``gw0``, or ``main`` without xdist).
    """

    def __init__(self, admin_url: str, prefix: str, worker: str) -> None:
        self.admin_url = admin_url
        self.prefix = prefix
        self.worker = worker
        self._server = admin_url.rpartition("/")[0]
        self._loop = BackgroundLoop()
        self._admin: asyncpg.Connection | None = None
        self._clones: dict[str, KeptDatabase] = {}
        self._scratch: KeptDatabase | None = None
        self._created: list[str] = []  # every database this worker made, in order
        self._count = 0

    # -- public ----------------------------------------------------------------------------------

    def clone_for(self, tables: TableSet, key: str | None = None) -> str:
        """The URL of a database with exactly ``tables`` and no rows, for one test.

        ``key``: ``tables_key(tables)``, when the caller knows it already.
        """
        return self._loop.run(self._clone_for(tables, key or tables_key(tables)))

    def scratch(self) -> str:
        """The URL of the worker's empty database (an empty public schema, as a test left none)."""
        return self._loop.run(self._reset_scratch())

    def fresh(self) -> str:
        """The URL of a new, empty database for one test (migrations, or a database another tool
        builds); it is dropped with the others, at the end, rather than after the test."""
        return self._loop.run(self._create(self._new_name("fresh")))

    def close(self) -> None:
        """Close this worker's connections and drop its databases (the templates are the run's)."""
        self._loop.run(self._close())
        self._loop.close()

    # -- clones ----------------------------------------------------------------------------------

    async def _clone_for(self, tables: TableSet, key: str) -> str:
        clone = self._clones.pop(key, None)
        if clone is not None and not await self._emptied(clone):
            await clone.conn.close()  # changed by its last test: never handed out again, dropped with the run
            clone = None
        if clone is None:
            clone = await self._new_clone(key, tables)
        self._clones[key] = clone
        return clone.url

    async def _emptied(self, clone: KeptDatabase) -> bool:
        """Empty ``clone`` for its next test; False if it no longer has the tables it was cloned with."""
        if not await self._unchanged(clone):
            return False
        try:
            await clone.conn.execute(clone.empty_sql)
        except (asyncpg.PostgresError, OSError):
            return False
        return True

    async def _unchanged(self, clone: KeptDatabase) -> bool:
        """Whether ``clone``'s catalog is as it was when made, once nothing else holds the database."""
        try:
            await _end_other_sessions(clone.conn)
            return bool(await clone.conn.fetchval(FINGERPRINT_SQL) == clone.fingerprint)
        except (asyncpg.PostgresError, OSError):  # TimeoutError is an OSError
            return False

    async def _new_clone(self, key: str, tables: TableSet) -> KeptDatabase:
        template = await self._template(key, tables)
        url = await self._create(self._new_name(key[:12]), template)
        conn = await asyncpg.connect(url)
        table_names = [row[0] for row in await conn.fetch(_TABLES_SQL)]
        return KeptDatabase(url, conn, await conn.fetchval(FINGERPRINT_SQL), empty_database_sql(table_names))

    async def _template(self, key: str, tables: TableSet) -> str:
        """The run's template database for ``key``, built here unless another worker did already."""
        name = f"{self.prefix}_tpl_{key[:12]}"
        admin = await self._admin_connection()
        await admin.execute("SELECT pg_advisory_lock(hashtext($1))", name)
        try:
            # A template takes no connections once built; one that still does was left half-built.
            allows = await admin.fetchval("SELECT datallowconn FROM pg_database WHERE datname = $1", name)
            if allows is None or allows:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.execute(f'CREATE DATABASE "{name}"')
                await asyncio.to_thread(sync_schema, f"{self._server}/{name}", tables)
                await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false IS_TEMPLATE true')
        finally:
            await admin.execute("SELECT pg_advisory_unlock(hashtext($1))", name)
        return name

    # -- scratch ---------------------------------------------------------------------------------

    async def _reset_scratch(self) -> str:
        scratch = self._scratch
        if scratch is not None and await self._unchanged(scratch):
            return scratch.url
        if scratch is not None:
            # Something was left: drop and create the public schema, as the suite always did.
            await _recreate_public_schema(scratch.conn)
            if await scratch.conn.fetchval(FINGERPRINT_SQL) == scratch.fingerprint:
                return scratch.url
            await scratch.conn.close()  # changed outside the public schema: dropped with the run
        self._scratch = await self._new_scratch()
        return self._scratch.url

    async def _new_scratch(self) -> KeptDatabase:
        url = await self._create(self._new_name("scratch"))
        conn = await asyncpg.connect(url)
        await _recreate_public_schema(conn)
        return KeptDatabase(url, conn, await conn.fetchval(FINGERPRINT_SQL), empty_sql="")

    # -- helpers ---------------------------------------------------------------------------------

    def _new_name(self, what: str) -> str:
        self._count += 1
        return f"{self.prefix}_{self.worker}_{what}_{self._count}"

    async def _create(self, name: str, template: str = "template1") -> str:
        """Create database ``name`` (a copy of ``template``), remembered for dropping; its URL."""
        await self._admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self._created.append(name)
        # Commits return before their WAL reaches the disk: what they change is visible to every
        # session at once all the same; only a crash of the server could lose the last of them.
        await self._admin_execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        return f"{self._server}/{name}"

    async def _admin_connection(self) -> asyncpg.Connection:
        if self._admin is None or self._admin.is_closed():
            self._admin = await asyncpg.connect(self.admin_url)
        return self._admin

    async def _admin_execute(self, sql: str) -> None:
        await (await self._admin_connection()).execute(sql)

    async def _close(self) -> None:
        clones = [*self._clones.values(), *([self._scratch] if self._scratch else [])]
        for clone in clones:
            await clone.conn.close()
        if self._admin is not None:
            await self._admin.close()
        # Now, while other workers may still be running tests, rather than all at the very end.
        await _drop_databases(self.admin_url, self._created)


async def _end_other_sessions(conn: asyncpg.Connection) -> None:
    """End every other session on ``conn``'s database, and wait (10 s at most) until they are gone.

    A previous test's pool that was never closed must neither hold locks nor write afterwards.
    """
    async with asyncio.timeout(10):
        while pids := [row[0] for row in await conn.fetch(_OTHER_SESSIONS_SQL)]:
            await conn.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids)
            await asyncio.sleep(0.01)


async def _recreate_public_schema(conn: asyncpg.Connection) -> None:
    await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")


def drop_run_databases(admin_url: str, prefix: str) -> list[str]:
    """Drop every database whose name starts with ``prefix``; returns their names.

    Run by the process that started the run, once its workers have ended: the templates, and
    whatever a worker that died left behind.
    """

    async def names() -> list[str]:
        conn = await asyncpg.connect(admin_url)
        try:
            rows = await conn.fetch("SELECT datname FROM pg_database WHERE starts_with(datname, $1)", prefix)
        finally:
            await conn.close()
        return [row[0] for row in rows]

    found = asyncio.run(names())
    asyncio.run(_drop_databases(admin_url, found))
    return found


async def _drop_databases(admin_url: str, names: list[str], at_once: int = 16) -> None:
    """Drop ``names`` (templates too), several at a time.

    Each ``DROP DATABASE`` waits for a checkpoint, and drops waiting together share one.
    """
    limit = asyncio.Semaphore(at_once)

    async def drop(name: str) -> None:
        async with limit:
            conn = await asyncpg.connect(admin_url)
            try:
                await conn.execute(f'ALTER DATABASE "{name}" IS_TEMPLATE false')
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except asyncpg.InvalidCatalogNameError:
                pass  # dropped already
            finally:
                await conn.close()

    await asyncio.gather(*(drop(name) for name in names))
