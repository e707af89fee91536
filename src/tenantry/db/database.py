"""The executor interface shared by the PostgreSQL and SQLite back ends.

SQL is built with SQLAlchemy Core and compiled once per statement shape (see ``compiled``); this
interface only runs that SQL with positional parameters. Both back ends return rows that support
indexing by position, and translate driver errors into ``tenantry.db.errors``.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.engine import Dialect, make_url

from tenantry.db.tables import DialectName

Row = Sequence[Any]

# Called before each statement a back end runs, given its SQL: a context manager entered around the
# statement (tracing's span per query), or None when this one is not observed. Set before the
# database opens (PostgreSQL chooses its connections' class when its pool is made).
QueryObserver = Callable[[str], AbstractContextManager[object] | None]


class Connection(Protocol):
    """One database connection, inside or outside a transaction."""

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def fetchrow(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; returns the number of rows it changed."""
        ...

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the surrounding transaction has committed (never if it rolls back).

        Used to wake deliverers (mail, events) exactly when what they deliver becomes visible.
        """
        ...


@dataclass(frozen=True)
class PoolStats:
    """The connection pool at one moment, for metrics: how full it is and how often callers queued.

    ``waits`` counts the acquisitions that found every connection in use and had to queue since the
    database was created; ``wait_seconds`` is the time they spent queueing, in total.
    """

    size: int
    max_size: int
    in_use: int
    waits: int
    wait_seconds: float


class PoolWaits:
    """The wait counters a back end keeps (only acquisitions that queue touch them: cheap)."""

    __slots__ = ("count", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.seconds += seconds


class _Nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


_NOTHING = _Nothing()


class Database(abc.ABC):
    """A pool of connections to one database."""

    dialect_name: DialectName
    sa_dialect: Dialect
    # Set by tracing (see ``QueryObserver``); None costs nothing.
    query_observer: QueryObserver | None = None

    def __init__(self, url: str) -> None:
        self.url = url
        self.waits = PoolWaits()

    @abc.abstractmethod
    def pool_stats(self) -> PoolStats:
        """How many connections are open, in use, and how often callers had to wait for one."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect (the pool is created lazily by nothing else)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close every connection."""

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """``async with db.transaction() as conn``: commit on success, roll back on any exception."""

    @abc.abstractmethod
    def connection(self) -> AbstractAsyncContextManager[Connection]:
        """``async with db.connection() as conn``: a connection for reads outside a transaction."""

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self.connection() as conn:
            return await conn.fetch(sql, params)

    async def fetchrow(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self.connection() as conn:
            return await conn.fetchrow(sql, params)

    async def fetch_identifying(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """A statement that authenticates a request and names its acting user for row-level
        security in the same round trip (see ``PostgresDatabase``); elsewhere a plain ``fetch``."""
        return await self.fetch(sql, params)

    def begin_request(self) -> object | None:
        """A request starts (``ActorPerRequest``): a slot for what the back end keeps for it until
        ``end_request`` (PostgreSQL: the connection its last statement used), or None: nothing kept."""
        return None

    async def end_request(self, slot: object) -> None:
        """The request whose ``slot`` ``begin_request`` gave has ended: give back what it kept."""
        return None

    async def hand_back(self) -> None:
        """The current request's answer is starting: give back what it keeps (it may still run a
        statement, which then takes a connection anew)."""
        return None

    def request_scope(self) -> AbstractAsyncContextManager[None]:
        """Around one request (``ActorPerRequest``): what the back end keeps for the request's
        duration (PostgreSQL: the connection its identifying statement used); nothing here."""
        return _NOTHING

    @property
    def sqlalchemy_url(self) -> str:
        """The URL for SQLAlchemy's async engines (Alembic runs through one)."""
        return to_sqlalchemy_url(self.url)


def dialect_of(url: str) -> DialectName:
    """``postgresql`` or ``sqlite`` for a ``DATABASE_URL``; raises ``ValueError`` for anything else."""
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    if scheme == "sqlite":
        return "sqlite"
    raise ValueError(f"unsupported DATABASE_URL scheme '{scheme}' (use sqlite:/// or postgresql://)")


def driver_dialect(name: DialectName) -> Dialect:
    """SQLAlchemy's dialect for the driver each back end runs (asyncpg, aiosqlite).

    SQL compiled for it has the paramstyle the executors take (``$1`` on PostgreSQL, ``?`` on SQLite).
    """
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import asyncpg

        return asyncpg.dialect()  # type: ignore[no-untyped-call]
    from sqlalchemy.dialects.sqlite import aiosqlite

    return aiosqlite.dialect()


def to_sqlalchemy_url(url: str) -> str:
    """``postgresql://…`` -> ``postgresql+asyncpg://…``; ``sqlite:///x`` -> ``sqlite+aiosqlite:///x``."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    driver = "asyncpg" if dialect_of(url) == "postgresql" else "aiosqlite"
    return parsed.set(drivername=f"{parsed.get_backend_name()}+{driver}").render_as_string(hide_password=False)


def asyncpg_dsn(url: str) -> str:
    """The DSN asyncpg takes for a PostgreSQL ``DATABASE_URL`` (no SQLAlchemy driver name, no ``postgres://``)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1).replace("postgres://", "postgresql://", 1)


def create_database(url: str, *, pool_size: int = 10) -> Database:
    """The executor for ``url`` (not yet opened)."""
    if dialect_of(url) == "postgresql":
        from tenantry.db.postgres import PostgresDatabase

        return PostgresDatabase(url, pool_size=pool_size)
    from tenantry.db.sqlite import SQLiteDatabase

    return SQLiteDatabase(url, pool_size=min(pool_size, 4))


def run_after_commit(callbacks: list[Callable[[], None]]) -> None:
    """Run and forget the after-commit callbacks of a transaction; one failing does not stop the rest."""
    pending, callbacks[:] = list(callbacks), []
    for callback in pending:
        try:
            callback()
        except Exception:
            logging.getLogger("tenantry.db").exception("after-commit callback failed")


@asynccontextmanager
async def nullcontext_conn(conn: Connection) -> AsyncIterator[Connection]:
    """Reuse an already-open connection where a context manager is expected."""
    yield conn
