"""PostgreSQL through a pool of asyncpg connections (``tenantry.db.pool``; prepared statements are
cached per connection by asyncpg)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractContextManager, asynccontextmanager
from contextvars import ContextVar, Token
from typing import Any, NoReturn, TypeVar

import asyncpg
from sqlalchemy.dialects.postgresql import asyncpg as sa_asyncpg

from tenantry.db.actor import APP_ROLE, DbActor, current_actor
from tenantry.db.database import Database, PoolStats, QueryObserver, Row, asyncpg_dsn, run_after_commit
from tenantry.db.errors import DatabaseUnavailable, DataRejected, IntegrityViolation
from tenantry.db.pool import ConnectionPool, PoolClosed

# What a statement, an acquisition or a commit raises when the server cannot be used: refused or
# broken connections (the operating system's errors, asyncpg's class 08), a server shutting down or
# starting up (57P01-57P03), no connection slot left (53300), a connection attempt that timed out, a
# write sent to a standby after a failover (25006). Each is the database's fault, not the request's:
# ``DatabaseUnavailable`` (503), never a 500.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.ReadOnlySQLTransactionError,
)
# Everything the driver or the network may raise around a statement (translated by ``_raise_translated``).
_DRIVER_ERRORS: tuple[type[BaseException], ...] = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
log = logging.getLogger("tenantry.db")
T = TypeVar("T")
# Bound on opening a connection: a database host that drops packets must not hold requests for
# asyncpg's default minute.
CONNECT_TIMEOUT = 5.0


def _is_closed(conn: asyncpg.Connection) -> bool:
    """Whether ``conn`` is gone (a pool's proxy whose connection was dropped refuses even to say)."""
    try:
        return bool(conn.is_closed())
    except asyncpg.InterfaceError:
        return True


def _raise_translated(exc: BaseException, conn: asyncpg.Connection | None = None) -> NoReturn:
    if isinstance(exc, _UNAVAILABLE) or (conn is not None and _is_closed(conn)):
        raise DatabaseUnavailable(f"{type(exc).__name__}: {exc}") from exc
    if isinstance(exc, asyncpg.UniqueViolationError):
        raise IntegrityViolation(
            "unique",
            str(exc),
            constraint=exc.constraint_name,
            table=exc.table_name,
            columns=_detail_columns(exc.detail),
        ) from exc
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        raise IntegrityViolation("foreign_key", str(exc), constraint=exc.constraint_name, table=exc.table_name) from exc
    if isinstance(exc, asyncpg.NotNullViolationError):
        cols = (exc.column_name,) if exc.column_name else ()
        raise IntegrityViolation("not_null", str(exc), table=exc.table_name, columns=cols) from exc
    if isinstance(exc, asyncpg.CheckViolationError):
        raise IntegrityViolation("check", str(exc), constraint=exc.constraint_name, table=exc.table_name) from exc
    if isinstance(exc, (asyncpg.DataError, asyncpg.exceptions.DataError, asyncpg.ProgramLimitExceededError)):
        raise DataRejected(str(exc)) from exc
    raise exc


def _detail_columns(detail: str | None) -> tuple[str, ...]:
    # asyncpg: 'Key (slug)=(acme) already exists.' -> ('slug',)
    if not detail or not detail.startswith("Key ("):
        return ()
    inner = detail[5 : detail.find(")=")]
    return tuple(c.strip().strip('"') for c in inner.split(","))


class _PgConnection:
    __slots__ = ("_conn", "committed")

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self.committed: list[Callable[[], None]] = []

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return await self._conn.fetch(sql, *params)  # type: ignore[no-any-return]
        except _DRIVER_ERRORS as exc:
            _raise_translated(exc, self._conn)

    async def fetchrow(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        try:
            return await self._conn.fetchrow(sql, *params)  # type: ignore[no-any-return]
        except _DRIVER_ERRORS as exc:
            _raise_translated(exc, self._conn)

    def on_commit(self, callback: Callable[[], None]) -> None:
        self.committed.append(callback)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            status: str = await self._conn.execute(sql, *params)
        except _DRIVER_ERRORS as exc:
            _raise_translated(exc, self._conn)
        # 'UPDATE 3' / 'DELETE 1' / 'INSERT 0 1'
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0


class _ObservedConnection(asyncpg.Connection):  # type: ignore[misc]
    """An asyncpg connection that enters its pool's ``QueryObserver`` around every statement it
    sends (tracing's span per query), whoever sends it: our queries, a transaction's BEGIN and
    COMMIT, the acting user's settings. The pool uses this class only when an observer is set.

    The methods are not coroutines themselves: a statement the observer does not trace gets the
    driver's own coroutine back (no extra frame on the hot path), a traced one a wrapper around it."""

    __slots__ = ()
    observer: QueryObserver  # set on a subclass made per pool (``observed_connection_class``)

    def execute(self, query: str, *args: Any, **options: Any) -> Awaitable[str]:
        return _observed(self.observer(query), asyncpg.Connection.execute(self, query, *args, **options))

    def executemany(self, command: str, args: Any, **options: Any) -> Awaitable[None]:
        return _observed(self.observer(command), asyncpg.Connection.executemany(self, command, args, **options))

    def fetch(self, query: str, *args: Any, **options: Any) -> Awaitable[Any]:
        return _observed(self.observer(query), asyncpg.Connection.fetch(self, query, *args, **options))

    def fetchrow(self, query: str, *args: Any, **options: Any) -> Awaitable[Any]:
        return _observed(self.observer(query), asyncpg.Connection.fetchrow(self, query, *args, **options))

    def fetchval(self, query: str, *args: Any, **options: Any) -> Awaitable[Any]:
        return _observed(self.observer(query), asyncpg.Connection.fetchval(self, query, *args, **options))


def _observed(observation: AbstractContextManager[object] | None, statement: Awaitable[T]) -> Awaitable[T]:
    """``statement`` itself when nothing observes it, else a coroutine running it inside ``observation``."""
    if observation is None:
        return statement
    return _inside(observation, statement)


async def _inside(observation: AbstractContextManager[object], statement: Awaitable[T]) -> T:
    with observation:
        return await statement


def observed_connection_class(observer: QueryObserver) -> type[asyncpg.Connection]:
    """A connection class whose statements are observed by ``observer`` (one class per pool: two
    apps in one process trace with their own providers)."""
    return type("ObservedConnection", (_ObservedConnection,), {"__slots__": (), "observer": staticmethod(observer)})


def quote_identifier(name: str) -> str:
    """``name`` as a PostgreSQL identifier (for statements that take no parameters, like SET ROLE)."""
    return '"' + name.replace('"', '""') + '"'


_SET_ACTOR = "SELECT set_config('tenantry.user_id', $1, false), set_config('tenantry.system', $2, false)"
# How long a connection kept for a request waits for the request's next statement before it goes
# back to the pool anyway: a route that does other slow work (a call to another service) after
# authenticating must not keep a connection from everyone else meanwhile; long enough for an
# event loop that lags under load.
HOLD_SECONDS = 0.5


class _Held:
    """A request's slot for the connection its last statement used (see ``begin_request``)."""

    __slots__ = ("conn", "timer", "token")

    def __init__(self) -> None:
        self.conn: asyncpg.Connection | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.token: Token[_Held | None] | None = None


class PostgresDatabase(Database):
    """A pool of asyncpg connections, each acting as ``role`` for the current ``DbActor``.

    Every new connection takes on ``role`` (``SET ROLE``; ``tenantry_app`` by default), which row-level
    security applies to. Before any statement a connection's ``tenantry.user_id``/``tenantry.system``
    settings are made to match ``current_actor``; the values last set on each connection are
    remembered, so a connection that served the same actor before costs no round trip (see
    ``tenantry.db.actor``).

    The statement that authenticates a request (the session or API key lookup) names its user in
    the same round trip (``fetch_identifying``). Inside a request (``begin_request`` …
    ``end_request``) the connection a statement used is kept for the request's next one (for
    ``HOLD_SECONDS`` at most, and only until the answer starts: ``hand_back``), which therefore
    finds it acting for the right user already: two round trips for an authenticated read, and no
    other request ever gets a connection while it is kept.
    ``role=None`` keeps the login role (tools that need the owner's rights, and tests of them).
    """

    dialect_name = "postgresql"
    sa_dialect = sa_asyncpg.dialect()  # type: ignore[no-untyped-call]

    def __init__(self, url: str, *, pool_size: int = 10, role: str | None = APP_ROLE) -> None:
        super().__init__(url)
        self.pool_size = pool_size
        self.role = role
        self._pool: ConnectionPool | None = None
        # The class of the pool's connections (observed when tracing is on), made once by ``open``.
        self._connection_class: type[asyncpg.Connection] = asyncpg.Connection
        # server process id -> the actor whose settings that connection holds
        self._actors: dict[int, DbActor] = {}
        # The loop the pool was opened on (set by ``open``), for the hold timers.
        self._loop: asyncio.AbstractEventLoop | None = None
        # Called with the text of every statement the pool's connections send (``listen_statements``).
        self._statement_listeners: list[Callable[[str], None]] = []
        # The current request's slot (one variable per database: two apps in one process keep apart).
        self._held: ContextVar[_Held | None] = ContextVar(f"tenantry_held_connection_{id(self)}", default=None)

    async def _new_connection(self) -> asyncpg.Connection:
        """A connection for the pool, ready to serve (``_init_connection``); cut if that fails."""
        conn: asyncpg.Connection = await asyncpg.connect(
            self.dsn, command_timeout=60, timeout=CONNECT_TIMEOUT, connection_class=self._connection_class
        )
        try:
            await self._init_connection(conn)
        except BaseException:
            conn.terminate()
            raise
        return conn

    async def _init_connection(self, conn: asyncpg.Connection) -> None:
        """A new connection: take on the application role, and hold no actor yet.

        Connections go back to the pool as they are, with no reset (asyncpg's default runs ``RESET
        ALL; UNLISTEN *; CLOSE ALL; pg_advisory_unlock_all()``: a round trip that cost a quarter of
        a session lookup's time): Tenantry never leaves session state on a pooled connection (no SET
        outside a transaction, no LISTEN, cursors or advisory locks), and the pool drops one left in
        a transaction. The two settings it does keep (the role and the acting user) are set again
        by every acquisition that needs other values.
        """
        self._actors.pop(conn.get_server_pid(), None)  # a new process may reuse an old one's id
        for listener in self._statement_listeners:
            conn.add_query_logger(lambda logged, listener=listener: listener(logged.query))
        if self.role is not None:
            try:
                await conn.execute(f"SET ROLE {quote_identifier(self.role)}")
            except asyncpg.PostgresError as exc:
                raise DatabaseUnavailable(
                    f"cannot act as the database role {self.role!r} ({exc}); "
                    "run `tenantry migrate up` (or sync) as the database owner first, which creates it"
                ) from exc

    async def _set_actor(self, conn: asyncpg.Connection) -> None:
        """Before a connection runs a statement: make its settings name the current actor."""
        actor = current_actor.get()
        pid = conn.get_server_pid()
        if self._actors.get(pid) == actor:
            return
        # Forgotten first: if setting fails half-way, the next use sets both again.
        self._actors.pop(pid, None)
        await conn.fetchrow(_SET_ACTOR, *actor.settings())
        self._actors[pid] = actor

    async def listen_statements(self, listener: Callable[[str], None]) -> None:
        """Call ``listener`` with the text of every statement sent from now on (a test counting round
        trips). asyncpg calls it soon after each statement, in the context of the task that sent it.
        Open connections are replaced at their next use, so that they report too."""
        self._statement_listeners.append(listener)
        if self._pool is not None:
            self._pool.expire()

    @property
    def dsn(self) -> str:
        return asyncpg_dsn(self.url)

    async def open(self) -> None:
        if self._pool is not None:
            return
        # Bound to the loop that opens the pool (an app may be started again on another loop). The
        # loop is kept rather than asked for twice a request: under load, asking asyncio for the
        # running loop showed in profiles (CPython 3.11 checks ``getpid()`` in it, against forks).
        self._loop = asyncio.get_running_loop()
        observer = self.query_observer
        self._connection_class = asyncpg.Connection if observer is None else observed_connection_class(observer)
        pool = ConnectionPool(self._new_connection, self.pool_size)
        # One connection at start proves the database is there; no floor is kept after that (a pool
        # that restores one in the background logs every retry of an outage): requests open what
        # they need, and the first after an outage reconnects.
        try:
            pool.release(await pool.acquire())
        except _DRIVER_ERRORS as exc:
            await pool.close()
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
        self._pool = pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def _require_pool(self) -> ConnectionPool:
        if self._pool is None:
            raise DatabaseUnavailable("the database is not open")
        return self._pool

    def pool_stats(self) -> PoolStats:
        pool = self._pool
        size = pool.open_count if pool is not None else 0
        idle = pool.idle_count if pool is not None else 0
        return PoolStats(
            size=size,
            max_size=self.pool_size,
            in_use=size - idle,
            waits=self.waits.count,
            wait_seconds=self.waits.seconds,
        )

    # -- connections: taken from the request's slot or the pool, and given back ---------------------

    async def _take(self, *, sync: bool = True) -> asyncpg.Connection:
        """A connection for the caller: the one the request's identifying statement kept, else one
        from the pool (an acquisition that has to queue is counted and timed: ``pool_stats``);
        ``sync``: acting for ``current_actor``."""
        held = self._held.get()
        conn = held.conn if held is not None else None
        if conn is not None:
            assert held is not None
            held.conn = None
            if held.timer is not None:
                held.timer.cancel()
                held.timer = None
        else:
            pool = self._require_pool()
            queued = pool.must_wait
            started = time.perf_counter() if queued else 0.0
            try:
                # Opening a connection (the pool replaces broken ones here) is where an outage shows first.
                conn = await pool.acquire()
            except PoolClosed as exc:
                raise DatabaseUnavailable(str(exc)) from exc
            except _DRIVER_ERRORS as exc:
                _raise_translated(exc)
            if queued:
                self.waits.add(time.perf_counter() - started)
        if sync:
            try:
                await self._set_actor(conn)
            except _DRIVER_ERRORS as exc:
                try:
                    _raise_translated(exc, conn)  # while ``conn`` can still say whether it is closed
                finally:
                    self._release(conn)
            except BaseException:
                self._release(conn)
                raise
        return conn

    async def _give_back(self, conn: asyncpg.Connection) -> None:
        """Keep ``conn`` for the request's next statement (inside ``begin_request``), else return it
        to the pool."""
        if not self._keep(conn):
            self._release(conn)

    def _release(self, conn: asyncpg.Connection) -> None:
        """Return ``conn`` to the pool (a plain call: nothing to wait for); with the pool closed
        meanwhile, the connection goes with it."""
        pool = self._pool
        if pool is None:
            conn.terminate()
            return
        pool.release(conn)

    def _keep(self, conn: asyncpg.Connection) -> bool:
        """Keep ``conn`` in the request's slot for its next statement; False outside a request, when
        the slot is taken (statements run concurrently) or ``conn`` is broken."""
        held = self._held.get()
        if held is None or held.conn is not None or _is_closed(conn) or conn.is_in_transaction():
            return False
        held.conn = conn
        assert self._loop is not None, "a connection is kept only from an open pool"
        held.timer = self._loop.call_later(HOLD_SECONDS, self._expire, held)
        return True

    def _expire(self, held: _Held) -> None:
        """Back to the pool with the kept connection: the request did not use it soon enough, or its
        answer is starting."""
        conn, held.conn, held.timer = held.conn, None, None
        if conn is not None:
            self._release(conn)

    def begin_request(self) -> _Held:
        """A request starts: a slot for the connection its last statement used (see ``end_request``)."""
        held = _Held()
        held.token = self._held.set(held)
        return held

    async def end_request(self, slot: object) -> None:
        """The request ``begin_request`` began has ended: its kept connection goes back to the pool."""
        assert isinstance(slot, _Held) and slot.token is not None
        self._held.reset(slot.token)
        slot.token = None
        await self._hand_back(slot)

    async def hand_back(self) -> None:
        """The request's answer is starting: its kept connection goes back to the pool now, not held
        through the rest of the answer (a later statement of the request takes one from the pool)."""
        held = self._held.get()
        if held is not None and held.conn is not None:
            if held.timer is not None:
                held.timer.cancel()
            self._expire(held)

    async def _hand_back(self, held: _Held) -> None:
        if held.timer is not None:
            held.timer.cancel()
            held.timer = None
        if held.conn is not None:
            conn, held.conn = held.conn, None
            self._release(conn)

    @asynccontextmanager
    async def request_scope(self) -> AsyncIterator[None]:
        """Around one request: ``begin_request`` … ``end_request``."""
        held = self.begin_request()
        try:
            yield
        finally:
            await self.end_request(held)

    async def fetch_identifying(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run a statement that names the acting user itself: it reads only tables without row-level
        security (sessions, users, memberships, keys), so the user the connection acted for before
        does not matter to it, and ends with ``actor_columns`` of the user it finds. The connection
        acts for that user afterwards (no row: as before), and inside ``begin_request`` it is kept
        for the request's next statement."""
        conn = await self._take(sync=False)
        pid = conn.get_server_pid()
        # Unknown until the statement's answer says: a failure must not leave a stale belief.
        before = self._actors.pop(pid, None)
        try:
            rows: list[Row] = await conn.fetch(sql, *params)
        except _DRIVER_ERRORS as exc:
            try:
                _raise_translated(exc, conn)
            finally:
                self._release(conn)
        except BaseException:
            self._release(conn)
            raise
        if rows:
            row = rows[0]
            self._actors[pid] = DbActor(user_id=row[-2] or None, system=row[-1] == "on")
        elif before is not None:
            self._actors[pid] = before
        await self._give_back(conn)
        return rows

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection acting for ``current_actor``, given back when the block ends."""
        conn = await self._take()
        try:
            yield conn
        except BaseException:
            self._release(conn)
            raise
        await self._give_back(conn)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[_PgConnection]:
        async with self._acquire() as conn:
            yield _PgConnection(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgConnection]:
        async with self._acquire() as conn:
            wrapped = _PgConnection(conn)
            transaction = conn.transaction()
            try:
                await transaction.start()
            except _DRIVER_ERRORS as exc:
                _raise_translated(exc, conn)
            try:
                yield wrapped
            except BaseException:
                # A connection lost mid-transaction cannot roll back; the server already has. The
                # caller's exception is the one that matters.
                if not _is_closed(conn):
                    with contextlib.suppress(*_DRIVER_ERRORS):
                        await transaction.rollback()
                raise
            try:
                await transaction.commit()
            except _DRIVER_ERRORS as exc:
                _raise_translated(exc, conn)
        run_after_commit(wrapped.committed)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        conn = await self._take()
        try:
            return await conn.fetch(sql, *params)  # type: ignore[no-any-return]
        except _DRIVER_ERRORS as exc:
            _raise_translated(exc, conn)
        finally:
            await self._give_back(conn)

    async def fetchrow(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        conn = await self._take()
        try:
            return await conn.fetchrow(sql, *params)  # type: ignore[no-any-return]
        except _DRIVER_ERRORS as exc:
            _raise_translated(exc, conn)
        finally:
            await self._give_back(conn)
