"""SQL for the API key table: insert, read (by id, by owner, by hash with its user and
membership), update, delete, and the guarded writes that count a key's use.

Statements are built once and cached compiled; values go in and out through the authentication
store's conversions (timestamps, ids, SQLite's 0/1 booleans).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import orjson
import sqlalchemy as sa

from tenantry.auth.plugins.api_key.scopes import Scopes, load_scopes
from tenantry.auth.plugins.api_key.tables import ApiKeyTables
from tenantry.auth.service import AuditRows
from tenantry.auth.store import REQUIRE_TWO_FACTOR, AuthStore, UserRecord, iso
from tenantry.auth.tables import AuthTables
from tenantry.db import Connection, Database, SQLCompiler

_TIMESTAMPS = frozenset({"last_refill_at", "last_request", "expires_at", "created_at", "updated_at", "window_start"})
_FLAGS = frozenset({"enabled", "rate_limit_enabled"})
SORTABLE = {
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "name": "name",
    "expiresAt": "expires_at",
    "lastRequest": "last_request",
}


@dataclass
class ApiKey:
    """One key's row (``key`` is the stored hash, never the key itself)."""

    id: str
    config_id: str
    name: str | None
    start: str | None
    reference_id: Any
    prefix: str | None
    key: str
    refill_interval: int | None
    refill_amount: int | None
    last_refill_at: dt.datetime | None
    enabled: bool
    rate_limit_enabled: bool
    rate_limit_time_window: int | None
    rate_limit_max: int | None
    request_count: int
    remaining: int | None
    last_request: dt.datetime | None
    expires_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    permissions: str | None
    metadata: str | None
    window_start: dt.datetime | None
    organization_id: str | None = None

    @property
    def scopes(self) -> Scopes | None:
        return load_scopes(self.permissions)

    def json(self) -> dict[str, Any]:
        """Better Auth's JSON for a key (its field order, without the hash), plus ``organizationId``."""
        metadata = None
        if self.metadata:
            try:
                metadata = orjson.loads(self.metadata)
            except orjson.JSONDecodeError:
                metadata = None
        return {
            "id": self.id,
            "configId": self.config_id,
            "name": self.name,
            "start": self.start,
            "referenceId": str(self.reference_id),
            "prefix": self.prefix,
            "refillInterval": self.refill_interval,
            "refillAmount": self.refill_amount,
            "lastRefillAt": iso(self.last_refill_at),
            "enabled": self.enabled,
            "rateLimitEnabled": self.rate_limit_enabled,
            "rateLimitTimeWindow": self.rate_limit_time_window,
            "rateLimitMax": self.rate_limit_max,
            "requestCount": self.request_count,
            "remaining": self.remaining,
            "lastRequest": iso(self.last_request),
            "expiresAt": iso(self.expires_at),
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "permissions": self.scopes,
            "metadata": metadata,
            "organizationId": self.organization_id,
        }


KEY_FIELDS = tuple(f.name for f in fields(ApiKey))


@dataclass
class Found:
    """A key looked up by its hash, with its user and the user's role in the key's organization now."""

    key: ApiKey
    user: UserRecord
    role: str | None
    # Whether the key's organization requires two-factor (None: not known from the lookup).
    requires_two_factor: bool | None = None

    # What acting for the key reads of it, named as ``Counted`` names them.
    @property
    def key_id(self) -> Any:
        return self.key.id

    @property
    def organization_id(self) -> str | None:
        return self.key.organization_id

    @property
    def scopes(self) -> Scopes | None:
        return self.key.scopes


@dataclass(frozen=True, slots=True)
class Counted:
    """A key's use that ``find_and_count`` counted: what acting for the key needs, and no more."""

    key_id: Any
    organization_id: str | None
    permissions: str | None
    user: UserRecord
    role: str | None
    # Whether the key's organization requires two-factor (None: not known from the lookup).
    requires_two_factor: bool | None = None

    @property
    def scopes(self) -> Scopes | None:
        return load_scopes(self.permissions)


Usage = Literal["skip", "start", "increment"]


@dataclass(frozen=True, slots=True)
class AuditedUse:
    """The audit row of a key's use, written by the statement that counts the use (``AuditRows``)."""

    rows: AuditRows
    params: dict[str, Any]


class ApiKeyStore:
    """Reads and writes of the API key table."""

    def __init__(
        self, db: Database, tables: ApiKeyTables, auth: AuthTables, store: AuthStore, sql: SQLCompiler
    ) -> None:
        self.db = db
        self.t = tables
        self.auth = auth
        self.store = store
        self.sql = sql
        self.dialect = db.dialect_name
        self.fields = tuple(k for k in KEY_FIELDS if k != "organization_id" or tables.members is not None)

    # -- conversions --------------------------------------------------------------------------

    def _in(self, key: str, value: Any) -> Any:
        if value is None:
            return None
        if key in _TIMESTAMPS:
            return self.store.ts_in(value)
        if key in _FLAGS:
            return bool(value) if self.dialect == "postgresql" else int(bool(value))
        if key == "reference_id":
            return str(value) if self.t.preset == "better-auth" else self.store.user_id_in(value)
        if key == "organization_id":
            return self.store.org_id_in(value)
        return value

    def _key(self, row: Sequence[Any]) -> ApiKey:
        values = dict(zip(self.fields, row[: len(self.fields)], strict=True))
        for key in _TIMESTAMPS:
            values[key] = self.store.ts_out(values[key])
        for key in _FLAGS:
            values[key] = bool(values[key])
        values["reference_id"] = str(values["reference_id"])
        if values.get("organization_id") is not None:
            values["organization_id"] = str(values["organization_id"])
        return ApiKey(**values)

    def _columns(self) -> list[Any]:
        return [self.t.keys.c[k] for k in self.fields]

    async def _fetch(
        self, conn: Connection | None, statement: tuple[Any, ...], build: Callable[[], Any], /, **params: Any
    ) -> list[Any]:
        stmt = self.sql.prepared(("api-key", *statement), build)
        args = stmt.params(extras=params)
        if conn is None:
            return await self.db.fetch(stmt.sql, args)
        return await conn.fetch(stmt.sql, args)

    async def _update(
        self,
        conn: Connection,
        statement: tuple[Any, ...],
        build: Callable[[], Any],
        audit: AuditedUse | None,
        /,
        **params: Any,
    ) -> ApiKey | None:
        """Run the ``UPDATE`` ``build`` makes and return the key it changed (None: no row matched);
        with ``audit``, the audit row is written by the same statement when a row matched."""
        if audit is None:
            rows = await self._fetch(conn, statement, lambda: build().returning(*self._columns()), **params)
            return self._key(rows[0]) if rows else None
        writer = audit.rows

        def audited() -> Any:
            used = build().returning(*self._columns()).cte("used")
            logged = writer.insert_when(used).cte("logged")
            return sa.select(*used.c).add_cte(logged)  # the key's columns, in ``_columns`` order

        rows = await self._fetch(conn, (*statement, "audited"), audited, **params, **audit.params)
        return self._key(rows[0]) if rows else None

    # -- rows ---------------------------------------------------------------------------------

    async def create(self, conn: Connection, values: dict[str, Any]) -> ApiKey:
        """Insert a key; ``values`` by column key (unset ones take their defaults)."""
        row = {k: self._in(k, values.get(k)) for k in self.fields}
        keys = self.fields
        t = self.t.keys
        rows = await self._fetch(
            conn,
            ("create",),
            lambda: sa.insert(t).values({k: sa.bindparam(k) for k in keys}).returning(*self._columns()),
            **row,
        )
        return self._key(rows[0])

    async def by_id(self, key_id: str, conn: Connection | None = None) -> ApiKey | None:
        t = self.t.keys
        rows = await self._fetch(
            conn, ("by_id",), lambda: sa.select(*self._columns()).where(t.c.id == sa.bindparam("id")), id=key_id
        )
        return self._key(rows[0]) if rows else None

    async def of_user(
        self, user_id: Any, *, organization_id: str | None = None, sort: str | None = None, descending: bool = False
    ) -> list[ApiKey]:
        """The user's keys (those acting in ``organization_id`` when given), oldest first unless sorted."""
        t = self.t.keys
        column = SORTABLE.get(sort or "", "created_at")
        by_org = organization_id is not None and self.t.members is not None

        def build() -> Any:
            order = t.c[column].desc() if descending else t.c[column].asc()
            query = sa.select(*self._columns()).where(t.c.reference_id == sa.bindparam("ref"))
            if by_org:
                query = query.where(t.c.organization_id == sa.bindparam("org"))
            return query.order_by(order, t.c.id)

        params: dict[str, Any] = {"ref": self._in("reference_id", user_id)}
        if by_org:
            params["org"] = self._in("organization_id", organization_id)
        rows = await self._fetch(None, ("of_user", column, descending, by_org), build, **params)
        return [self._key(r) for r in rows]

    async def update(self, conn: Connection, key_id: str, changes: dict[str, Any]) -> ApiKey | None:
        """Set columns by key; ``updatedAt`` moves too."""
        changes = {**changes, "updated_at": changes.get("updated_at") or dt.datetime.now(dt.UTC)}
        values = {k: self._in(k, v) for k, v in changes.items()}
        keys = tuple(sorted(values))
        t = self.t.keys
        rows = await self._fetch(
            conn,
            ("update", keys),
            lambda: (
                sa.update(t)
                .where(t.c.id == sa.bindparam("_id"))
                .values({k: sa.bindparam(k) for k in keys})
                .returning(*self._columns())
            ),
            _id=key_id,
            **values,
        )
        return self._key(rows[0]) if rows else None

    async def delete(self, conn: Connection, key_id: str) -> int:
        t = self.t.keys
        rows = await self._fetch(
            conn, ("delete",), lambda: sa.delete(t).where(t.c.id == sa.bindparam("id")).returning(t.c.id), id=key_id
        )
        return len(rows)

    async def delete_expired(self, conn: Connection, user_id: Any, now: dt.datetime) -> int:
        """Delete the user's keys whose expiry has passed."""
        t = self.t.keys
        rows = await self._fetch(
            conn,
            ("delete_expired",),
            lambda: (
                sa.delete(t)
                .where(
                    t.c.reference_id == sa.bindparam("ref"),
                    t.c.expires_at.is_not(None),
                    t.c.expires_at < sa.bindparam("now"),
                )
                .returning(t.c.id)
            ),
            ref=self._in("reference_id", user_id),
            now=self.store.ts_in(now),
        )
        return len(rows)

    # -- use ----------------------------------------------------------------------------------

    @property
    def _organizations(self) -> sa.Table | None:
        memberships = self.store.memberships
        return memberships.organizations if memberships is not None else None

    @property
    def _reads_requirement(self) -> bool:
        """Whether a lookup reads the two-factor plugin's flag on the key's organization (its check
        on every request reads it there)."""
        o = self._organizations
        return self.t.members is not None and o is not None and REQUIRE_TWO_FACTOR in o.c

    def _found_parts(self, keys: Any = None) -> tuple[Any, list[Any]]:
        """What a lookup selects from (the key, or ``keys``: the rows of keys counted, joined to
        its user, the user's membership in the key's organization and that organization) and the
        membership's columns (built once per statement: the compiled SQL is kept)."""
        k = self.t.keys if keys is None else keys
        u, m, o = self.auth.users, self.t.members, self._organizations
        joined = k.join(u, u.c.id == k.c.reference_id)
        extra: list[Any] = []
        if m is not None:
            joined = joined.outerjoin(
                m, sa.and_(m.c.organization_id == k.c.organization_id, m.c.user_id == k.c.reference_id)
            )
            extra = [m.c.role]
            if self._reads_requirement:
                assert o is not None
                joined = joined.outerjoin(o, o.c.id == m.c.organization_id)
                extra.append(o.c[REQUIRE_TWO_FACTOR])
        return joined, extra

    def _membership(self, row: Sequence[Any], offset: int) -> tuple[str | None, bool | None, int]:
        """The role and the organization's two-factor rule read by ``_found_parts``'s columns at
        ``offset`` of ``row``, and where the columns after them start."""
        role = org_requires = None
        if self.t.members is not None:
            role = row[offset]
            offset += 1
            if self._reads_requirement:
                org_requires = bool(row[offset]) if role is not None else None
                offset += 1
        return role, org_requires, offset

    def _found(self, row: Sequence[Any]) -> tuple[Found, int]:
        """The ``Found`` of a lookup's row, and where the row's columns after the user's start."""
        role, org_requires, offset = self._membership(row, len(self.fields))
        # The authentication store reads the user columns it selects the same way.
        user = self.store.user_from_row(row, offset=offset)
        return Found(self._key(row), user, role, org_requires), offset + len(self.store.user_select)

    async def find(self, hashed: str) -> Found | None:
        """The key with this hash, its user, and the user's role in the key's organization (one query)."""
        t, u = self.t.keys, self.auth.users

        def build() -> Any:
            joined, extra = self._found_parts()
            return (
                sa.select(*self._columns(), *extra, *self.store.user_select, *self.store.actor_columns(u.c.id))
                .select_from(joined)
                .where(t.c.key == sa.bindparam("key"))
            )

        # It authenticates the request: its connection acts for the key's user from then on.
        rows = await self.store.fetch_identifying(("api_key", "find"), build, key=hashed)
        return self._found(rows[0])[0] if rows else None

    async def find_and_count(
        self,
        hashed: str,
        now: dt.datetime,
        *,
        rate_limits: bool,
        admits: Sequence[Callable[[sa.Table, Any], Any]] = (),
        audit: AuditedUse | None = None,
    ) -> Counted | None:
        """The use of the key counted, and what acting for it needs, by one statement (PostgreSQL:
        a data-modifying CTE); None when this use was not counted (no such key, or one to refuse,
        with a quota, or a lost race: the caller looks it up and goes the usual way).

        A use is counted only for a key that may be used now without a quota (enabled, not
        expired, ``remaining`` unset), whose organization (if any) has the user as a member, whose
        user every condition of ``admits`` lets through (a plugin's session guard, in SQL), and,
        with ``rate_limits``, within its rate limit: a window that has run out starts again with
        this request, else the count goes up while under the maximum (a guarded update, which holds
        across processes). With ``audit``, the use's audit row is written by the same statement,
        its user, organization and key read from the counted row. The rest of the statement reads
        from the counted row alone: its user, the user's role in its organization, and what the
        principal takes of the key (not the key's other columns: a counted use needs none)."""
        t, u, m = self.t.keys, self.auth.users, self.t.members
        with_org = "organization_id" in self.fields

        def build() -> Any:
            at = sa.bindparam("now", type_=t.c.last_request.type)
            usable = [
                t.c.key == sa.bindparam("key"),
                t.c.enabled.is_(True),
                t.c.remaining.is_(None),
                sa.or_(t.c.expires_at.is_(None), t.c.expires_at > at),
                sa.exists().where(u.c.id == t.c.reference_id, *(admit(u, at) for admit in admits)),
            ]
            if m is not None:
                member = sa.exists().where(m.c.organization_id == t.c.organization_id, m.c.user_id == t.c.reference_id)
                usable.append(sa.or_(t.c.organization_id.is_(None), member))
            values: dict[Any, Any] = {t.c.last_request: at, t.c.updated_at: at}
            if rate_limits:
                window = t.c.rate_limit_time_window
                limited = sa.and_(
                    t.c.rate_limit_enabled.is_(True), sa.func.coalesce(window, 0) != 0, t.c.rate_limit_max.is_not(None)
                )
                millisecond = sa.literal_column("interval '1 millisecond'", sa.Interval)
                elapsed = millisecond.op("*", return_type=sa.Interval)(window)
                fresh = sa.or_(t.c.window_start.is_(None), t.c.window_start <= at - elapsed)
                usable.append(sa.or_(sa.not_(limited), fresh, t.c.request_count < t.c.rate_limit_max))
                values[t.c.request_count] = sa.case(
                    (sa.not_(limited), t.c.request_count), (fresh, 1), else_=t.c.request_count + 1
                )
                values[t.c.window_start] = sa.case((sa.and_(limited, fresh), at), else_=t.c.window_start)
            # What the principal and the audit row read of the counted key.
            returned = ["id", "reference_id", *(["organization_id"] if with_org else []), "permissions"]
            used = sa.update(t).where(*usable).values(values).returning(*(t.c[k] for k in returned)).cte("used")
            joined, extra = self._found_parts(used)
            org = [used.c.organization_id] if with_org else [sa.null()]
            query = sa.select(
                used.c.id, *org, used.c.permissions, *extra, *self.store.user_select, *self.store.actor_columns(u.c.id)
            ).select_from(joined)
            if audit is not None:
                taken = {"user_id": used.c.reference_id, "resource_id": used.c.id}
                if with_org:
                    taken["org_id"] = used.c.organization_id
                query = query.add_cte(audit.rows.insert_when(used, taken).cte("logged"))
            return query

        params: dict[str, Any] = {"key": hashed, "now": self.store.ts_in(now)}
        if audit is not None:
            params.update(audit.params)
        statement = ("api_key", "find_and_count", rate_limits, len(admits), audit is not None)
        # It authenticates the request: its connection acts for the key's user from then on.
        rows = await self.store.fetch_identifying(statement, build, **params)
        if not rows:
            return None
        row = rows[0]
        role, org_requires, offset = self._membership(row, 3)
        organization = None if row[1] is None else str(row[1])
        user = self.store.user_from_row(row, offset=offset)
        return Counted(row[0], organization, row[2], user, role, org_requires)

    async def start_window(
        self, conn: Connection, key: ApiKey, now: dt.datetime, audit: AuditedUse | None = None
    ) -> ApiKey | None:
        """Open a new rate-limit window with this request, unless another request just did."""
        t = self.t.keys
        window = dt.timedelta(milliseconds=key.rate_limit_time_window or 0)
        return await self._update(
            conn,
            ("start_window",),
            lambda: (
                sa.update(t)
                .where(
                    t.c.id == sa.bindparam("id"),
                    sa.or_(t.c.window_start.is_(None), t.c.window_start <= sa.bindparam("cutoff")),
                )
                .values(
                    request_count=1,
                    window_start=sa.bindparam("now"),
                    last_request=sa.bindparam("now"),
                    updated_at=sa.bindparam("now"),
                )
            ),
            audit,
            id=key.id,
            cutoff=self.store.ts_in(now - window),
            now=self.store.ts_in(now),
        )

    async def count_request(
        self, conn: Connection, key: ApiKey, now: dt.datetime, audit: AuditedUse | None = None
    ) -> ApiKey | None:
        """Count this request in the current window while it is under the limit (compare-and-set:
        concurrent requests on any process can never push the count past the maximum)."""
        t = self.t.keys
        window = dt.timedelta(milliseconds=key.rate_limit_time_window or 0)
        return await self._update(
            conn,
            ("count_request",),
            lambda: (
                sa.update(t)
                .where(
                    t.c.id == sa.bindparam("id"),
                    t.c.window_start > sa.bindparam("cutoff"),
                    t.c.request_count < sa.bindparam("max"),
                )
                .values(
                    request_count=t.c.request_count + 1,
                    last_request=sa.bindparam("now"),
                    updated_at=sa.bindparam("now"),
                )
            ),
            audit,
            id=key.id,
            cutoff=self.store.ts_in(now - window),
            max=key.rate_limit_max,
            now=self.store.ts_in(now),
        )

    async def touch(
        self, conn: Connection, key: ApiKey, now: dt.datetime, audit: AuditedUse | None = None
    ) -> ApiKey | None:
        """Record the use of a key that is not rate limited."""
        if audit is None:
            return await self.update(conn, key.id, {"last_request": now, "updated_at": now})
        t = self.t.keys
        return await self._update(
            conn,
            ("touch",),
            lambda: (
                sa.update(t)
                .where(t.c.id == sa.bindparam("id"))
                .values(last_request=sa.bindparam("now"), updated_at=sa.bindparam("now"))
            ),
            audit,
            id=key.id,
            now=self.store.ts_in(now),
        )

    async def use_quota(self, conn: Connection, key: ApiKey, now: dt.datetime) -> ApiKey | None:
        """Take one from ``remaining``: a due refill first (won by one request only), else a guarded
        decrement that never goes below zero. None when the quota is spent."""
        t = self.t.keys
        if key.refill_interval and key.refill_amount:
            last = key.last_refill_at or key.created_at
            if now - last > dt.timedelta(milliseconds=key.refill_interval):
                same_refill = (
                    t.c.last_refill_at.is_(None)
                    if key.last_refill_at is None
                    else t.c.last_refill_at == sa.bindparam("seen")
                )
                rows = await self._fetch(
                    conn,
                    ("refill", key.last_refill_at is None),
                    lambda: (
                        sa.update(t)
                        .where(t.c.id == sa.bindparam("id"), same_refill)
                        .values(remaining=sa.bindparam("left"), last_refill_at=sa.bindparam("now"))
                        .returning(*self._columns())
                    ),
                    id=key.id,
                    left=key.refill_amount - 1,
                    now=self.store.ts_in(now),
                    **({"seen": self.store.ts_in(key.last_refill_at)} if key.last_refill_at is not None else {}),
                )
                if rows:
                    return self._key(rows[0])
        rows = await self._fetch(
            conn,
            ("use_quota",),
            lambda: (
                sa.update(t)
                .where(t.c.id == sa.bindparam("id"), t.c.remaining > 0)
                .values(remaining=t.c.remaining - 1)
                .returning(*self._columns())
            ),
            id=key.id,
        )
        return self._key(rows[0]) if rows else None
