"""Shared fixtures: every API test runs against SQLite and against a real PostgreSQL.

PostgreSQL comes from ``TENANTRY_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
Without a server the PostgreSQL variants are skipped with the reason printed, except when ``CI=true``,
where they fail: CI must never pass by skipping.

The databases themselves (tables built once per run, handed to each test with no rows) are in
``tests/databases.py``; DEVELOPERS.md says which fixture to use when. The hooks here let the suite
run on several pytest-xdist workers: one run id for all of them, the longest tests first, and the
isolation test's counts reported by the process that prints the summary.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import gc
import json
import os
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher, Type
from asgi_lifespan import LifespanManager

from tenantry.app import SERVING_GC_THRESHOLDS, create_app
from tenantry.auth import AuthSettings, passwords
from tenantry.config import Settings
from tenantry.core import Capability
from tenantry.db import TableSet, dialect_of
from tenantry.db.codecs import utc_now
from tenantry.db.migrations import sync_schema
from tenantry.db.tables import DialectName
from tenantry.hooks import Hooks
from tenantry.schema import Schema, load_schema, load_schema_text
from tests.databases import DATABASE_PREFIX, AppTables, PostgresDatabases, SqliteTemplates, drop_run_databases
from tests.tenancy.conftest import IsolationRun
from tests.tenancy.conftest import runs_of as isolation_runs_of
from tests.tenancy.conftest import write_summary as write_isolation_summary

# Password hashing at test cost. argon2id at OWASP's cost (19 MiB, two passes) takes 70-200 ms a
# hash on two busy cores, and the suite signs up and in thousands of times: most of a small test's
# time. As Django's documentation advises, the tests hash with the same code and the same algorithm
# at the lowest cost argon2 allows (every stored hash is still a real argon2id hash, verified and
# upgraded the same way); the production cost has a test of its own (``production_password_cost``,
# tests/auth/test_protection.py). Servers started as other processes hash at the production cost.
PRODUCTION_ARGON2 = passwords.ARGON2
TEST_ARGON2 = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)
passwords.ARGON2 = TEST_ARGON2

# The collector tuned as a serving process tunes it (``served_app``). Every test builds an app and
# drops it; with the default thresholds the full collections that followed scanned the whole heap
# (every module, schema and template) again and again: an eighth of a test run's time.
gc.set_threshold(*SERVING_GC_THRESHOLDS)

ROOT = Path(__file__).resolve().parents[1]
SEED_SCHEMA_PATH = ROOT / "tests" / "seed_schema.yaml"
PG_ADMIN_URL = os.environ.get("TENANTRY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def production_password_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash passwords at the production cost (OWASP's argon2id parameters) for this test."""
    monkeypatch.setattr(passwords, "ARGON2", PRODUCTION_ARGON2)


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


RUN_ID = pytest.StashKey[str]()


def run_prefix(config: pytest.Config) -> str:
    """``tenantry_test_<run>``: the start of the name of every PostgreSQL database this run makes."""
    return f"{DATABASE_PREFIX}_{config.stash[RUN_ID]}"


def worker_id(config: pytest.Config) -> str:
    """``gw0``, ``gw1`` … under pytest-xdist; ``main`` in a run without workers."""
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else "main"


def pytest_configure(config: pytest.Config) -> None:
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    # One id for the whole run, workers included, so that two runs at once never share a database.
    config.stash[RUN_ID] = workerinput["tenantry_run"] if workerinput else uuid.uuid4().hex[:10]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: hand the run's id to each worker it starts."""
    node.workerinput["tenantry_run"] = node.config.stash[RUN_ID]


# The tenant isolation property test's runs, for the terminal summary (tests/tenancy/conftest.py).
_ISOLATION_RUNS: list[IsolationRun] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Reports reach this hook in the process that prints them (the controller under xdist).
    _ISOLATION_RUNS.extend(isolation_runs_of(report))
    _record_duration(report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if getattr(config, "workerinput", None) is None:  # a worker's summary is never shown
        write_isolation_summary(terminalreporter, _ISOLATION_RUNS)


# Measured seconds per test (setup, call and teardown), for the longest-first order; written by
# ``pytest --store-durations`` (see ``pytest_addoption``).
DURATIONS_PATH = ROOT / "tests" / "durations.json"
# A test shorter than this is left out of the table: at the end of a run it costs little, and kept
# in file order it shares its module's fixtures with its neighbours.
STORED_FROM_SECONDS = 2.0
_DURATIONS: dict[str, float] = {}  # what this run measured, for --store-durations


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store-durations",
        nargs="?",
        const=str(DURATIONS_PATH),
        default=None,
        metavar="PATH",
        help="write each test's measured seconds (those over 2 s) to PATH (default tests/durations.json), "
        "the table the longest-first order reads; run the whole suite with `make pytest` to refresh it",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest tests first, so that parallel workers finish together instead of one of them
    starting a long test when the others are nearly done.

    The length of a test is what ``tests/durations.json`` measured (a whole run on two cores); for a
    test not in it, its ``@pytest.mark.slow(seconds)`` hint, or a browser's 10 s. PostgreSQL's
    variant goes before SQLite's. The sort is stable: every other test keeps its place (and its
    module's fixtures their sharing).
    """
    measured = _measured_durations()
    items.sort(key=functools.partial(_expected_seconds, measured), reverse=True)


def _measured_durations() -> dict[str, float]:
    try:
        table = json.loads(DURATIONS_PATH.read_text())
    except FileNotFoundError:
        return {}
    return {str(nodeid): float(seconds) for nodeid, seconds in table.items()}


def _expected_seconds(measured: dict[str, float], item: pytest.Item) -> tuple[float, bool]:
    mark = item.get_closest_marker("slow")
    hint = float(mark.args[0]) if mark and mark.args else 10.0 if mark else 0.0
    if not hint and "browser" in getattr(item, "fixturenames", ()):
        hint = 10.0
    seconds = measured.get(item.nodeid, hint)
    return seconds, seconds > 0 and "[postgresql" in item.nodeid


def _record_duration(report: pytest.TestReport) -> None:
    _DURATIONS[report.nodeid] = _DURATIONS.get(report.nodeid, 0.0) + report.duration


def _store_durations(config: pytest.Config) -> None:
    """``--store-durations``: the run's measured seconds, merged over the table's (a run of some
    tests only keeps the others' figures)."""
    path = config.getoption("store_durations")
    if path is None or not _DURATIONS:
        return
    target = Path(path)
    table = json.loads(target.read_text()) if target.exists() else {}
    for nodeid, seconds in _DURATIONS.items():
        if seconds >= STORED_FROM_SECONDS:
            table[nodeid] = round(seconds, 1)
        else:
            table.pop(nodeid, None)
    target.write_text(json.dumps(dict(sorted(table.items())), indent=1) + "\n")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop the run's PostgreSQL databases, once its workers (if any) have ended."""
    if getattr(session.config, "workerinput", None) is not None:
        return
    _store_durations(session.config)
    if asyncio.run(_pg_reachable()) is None:
        drop_run_databases(PG_ADMIN_URL, run_prefix(session.config))


@pytest.fixture(scope="session")
def postgres_databases(pytestconfig: pytest.Config) -> Iterator[PostgresDatabases | None]:
    """This worker's PostgreSQL databases (None when no server is reachable); see tests/databases.py."""
    if asyncio.run(_pg_reachable()) is not None:
        yield None
        return
    databases = PostgresDatabases(PG_ADMIN_URL, run_prefix(pytestconfig), worker_id(pytestconfig))
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture(scope="session")
def sqlite_templates(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> SqliteTemplates:
    """Prepared SQLite files, shared by the run's workers (each worker's temporary directory is
    inside the run's own)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if getattr(pytestconfig, "workerinput", None) else base
    return SqliteTemplates(shared / "sqlite-templates")


def postgres_scratch(databases: PostgresDatabases | None) -> str:
    """The worker's empty PostgreSQL database; without a server, skip (locally) or fail (CI)."""
    if databases is None:
        require_service("PostgreSQL", f"cannot connect to {PG_ADMIN_URL}")
    assert databases is not None
    return databases.scratch()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_databases: PostgresDatabases | None) -> str:
    """An empty database of each kind: a new SQLite file, or the worker's PostgreSQL scratch database
    (its public schema dropped and created again whenever a test left something in it)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return postgres_scratch(postgres_databases)


class PrepareDatabase:
    """``prepare_database(tables)``: the URL of a database with exactly ``tables``, and no rows.

    The first call of a test takes tables built once per run (tests/databases.py): on SQLite a copy
    written to ``database_url``'s file, on PostgreSQL a database of this worker's kept for those
    tables (not ``database_url``). Later calls of the same test bring that same database to their
    tables with ``sync_schema``, keeping its rows, as an app restarted on a changed schema would.
    """

    def __init__(
        self, database_url: str, postgres: PostgresDatabases | None, sqlite_templates: SqliteTemplates
    ) -> None:
        self.database_url = database_url
        self.dialect: DialectName = dialect_of(database_url)
        self._postgres = postgres
        self._sqlite_templates = sqlite_templates
        self._chosen: str | None = None
        self._lock = threading.Lock()  # apps of one test may start in several threads

    def __call__(self, tables: TableSet, key: str | None = None) -> str:
        """``key``: ``tables_key(tables)``, when the caller knows it already."""
        with self._lock:
            if self._chosen is not None:
                sync_schema(self._chosen, tables)
            else:
                self._chosen = self._fresh(tables, key)
            return self._chosen

    def _fresh(self, tables: TableSet, key: str | None) -> str:
        if self.dialect == "postgresql":
            assert self._postgres is not None  # database_url has required the server
            return self._postgres.clone_for(tables, key)
        path = Path(self.database_url.removeprefix("sqlite:///"))
        if path.exists():
            sync_schema(self.database_url, tables)  # the test made this file itself: build on what it holds
        else:
            self._sqlite_templates.copy_to(tables, path, key)
        return self.database_url


@pytest.fixture
def prepare_database(
    database_url: str, postgres_databases: PostgresDatabases | None, sqlite_templates: SqliteTemplates
) -> PrepareDatabase:
    """A database with the tables a test asks for, on each back end (see ``PrepareDatabase``)."""
    return PrepareDatabase(database_url, postgres_databases, sqlite_templates)


@functools.cache
def seed_schema() -> Schema:
    """The seed's schema (the example app's, without its plans), loaded once: a schema is never
    changed once built."""
    return load_schema(SEED_SCHEMA_PATH)


def seed_project(directory: Path) -> Path:
    """A project folder in ``directory`` for server processes: the seed's schema (no plan limits) with
    the example app's hooks."""
    project = directory / "seed"
    project.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SEED_SCHEMA_PATH, project / "schema.yaml")
    shutil.copyfile(ROOT / "examples" / "saas" / "hooks.py", project / "hooks.py")
    return project


@functools.cache
def schema_from_text(text: str) -> Schema:
    """A schema written in a test, loaded once per text."""
    return load_schema_text(text, "test.yaml")


_APP_TABLES = AppTables()


ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def make_client(database_url: str, prepare_database: PrepareDatabase) -> ClientFactory:
    """``async with make_client(schema_or_text, **settings) as client``: an app on a database with its
    tables and no rows (``prepare_database``); ``client.app`` is the app.

    ``settings`` are ``Settings`` fields: flat ones by their variable name (``TENANTRY_BASE_URL=…``)
    and capabilities' parts by name (``mail=MailSettings(…)``); ``auth`` is the ``auth`` part.
    ``capabilities`` replaces the app's default list (a test capability added to it); ``clock`` the
    app's clock (a test that moves time).
    """

    @asynccontextmanager
    async def factory(
        schema: Schema | str | None = None,
        *,
        hooks: Hooks | None = None,
        auth: AuthSettings | None = None,
        capabilities: Sequence[Capability] | None = None,
        base_url: str = "http://testserver",
        clock: Callable[[], dt.datetime] | None = None,
        **settings: Any,
    ) -> AsyncIterator[httpx.AsyncClient]:
        if schema is None:
            schema = seed_schema()
        elif isinstance(schema, str):
            schema = schema_from_text(schema)
        settings.setdefault("TENANTRY_BASE_URL", base_url)
        if auth is not None:
            settings["auth"] = auth
        config = Settings(DATABASE_URL=database_url, **settings)
        tables, key = _APP_TABLES.get(schema, prepare_database.dialect, config, capabilities)
        url = await asyncio.to_thread(prepare_database, tables, key)
        config = config.model_copy(update={"database_url": url})
        app = create_app(schema, config, hooks=hooks, capabilities=capabilities, clock=clock or utc_now)
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as client,
        ):
            client.app = app  # type: ignore[attr-defined]
            yield client

    return factory
