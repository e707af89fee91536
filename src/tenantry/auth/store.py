"""Reads and writes of the authentication tables.

Each statement is built with SQLAlchemy Core once and cached compiled (``SQLCompiler.prepared``);
calls bind values and run them on the given connection (inside the caller's transaction) or on
the pool. Rows come back as dicts keyed by Better Auth's field names with Python values
(``datetime`` in UTC), whatever the dialect stores.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from tenantry.auth.crypto import generate_id
from tenantry.auth.tables import USER_CORE, AuthTables, platform_role_column
from tenantry.db import Connection, Database, SQLCompiler
from tenantry.db.actor import actor_columns
from tenantry.db.codecs import format_timestamp, id_to_db, to_db
from tenantry.db.ids import uuid7
from tenantry.db.types import UTCTimestamp
from tenantry.schema import FieldType

# The organizations' column the two-factor plugin adds (its requirement flag).
REQUIRE_TWO_FACTOR = "require_two_factor"
# The principal attribute a lookup that read that flag leaves: ``(organization requires two-factor,
# the user has it on)``.
TWO_FACTOR_ATTRIBUTE = "two_factor"
SESSION_FIELDS = ("id", "expires_at", "token", "created_at", "updated_at", "ip_address", "user_agent", "user_id")
ACCOUNT_FIELDS = (
    "id",
    "account_id",
    "provider_id",
    "user_id",
    "access_token",
    "refresh_token",
    "id_token",
    "access_token_expires_at",
    "refresh_token_expires_at",
    "scope",
    "password",
    "created_at",
    "updated_at",
)
_TIMESTAMPS = frozenset(
    {"expires_at", "created_at", "updated_at", "access_token_expires_at", "refresh_token_expires_at"}
)


@dataclass(frozen=True)
class Memberships:
    """Where organizations keep who belongs where (given by tenancy, read on every session lookup)."""

    members: sa.Table  # columns keyed organization_id, user_id, role, created_at
    org_id_type: str
    organizations: sa.Table | None = None  # its name/slug describe the active organization


@dataclass(frozen=True, slots=True)
class SessionPrincipal:
    """What authenticating one request needs of its session and user (``AuthStore.session_principal``),
    read without the rest of either."""

    session_id: Any
    expires_at: dt.datetime
    user_id: str
    organization_id: str | None  # the session's active organization, while the user is a member
    role: str | None  # the user's role in it
    email: str
    email_verified: bool
    # (the organization requires two-factor, the user has it): only with organizations whose table
    # has the flag, and a membership.
    two_factor: tuple[bool, bool] | None
    platform_role: str | None  # the admin plugin's role on the user


@dataclass
class UserRecord:
    """A user as Better Auth models it: ``core`` (camelCase) plus the schema's additional fields,
    and the plugins' fields (``plugin``, by Better Auth's name: ``twoFactorEnabled``, ``banned`` …)."""

    id: Any
    core: dict[str, Any]
    additional: dict[str, Any]
    plugin: dict[str, Any] = field(default_factory=dict)

    @property
    def email(self) -> str:
        return str(self.core["email"])

    @property
    def email_verified(self) -> bool:
        return bool(self.core["emailVerified"])


def new_user_core(
    name: str, email: str, *, verified: bool, image: str | None = None, at: dt.datetime | None = None
) -> dict[str, Any]:
    """The core fields of a new user by Better Auth's names, created (and updated) ``at``, default now."""
    at = at or dt.datetime.now(dt.UTC)
    return {"name": name, "email": email, "emailVerified": verified, "image": image, "createdAt": at, "updatedAt": at}


class AuthStore:
    """SQL for users, sessions, accounts and verification tokens."""

    def __init__(
        self, db: Database, tables: AuthTables, sql: SQLCompiler, memberships: Memberships | None = None
    ) -> None:
        self.db = db
        self.t = tables
        self.sql = sql
        self.dialect = db.dialect_name
        self.memberships = memberships
        # Told of every new user inside the transaction that creates it (sign-up by any method, an
        # administrator's create): authentication publishes ``users.created`` to the outbox there.
        self.user_created: list[Callable[[Connection, UserRecord], Awaitable[None]]] = []
        # With organizations, a session also carries its active organization.
        self.session_fields = (
            SESSION_FIELDS
            + (("active_organization_id",) if memberships else ())
            + tuple(f.key for f in tables.plugin_session_fields)
        )
        # The user columns every user query selects, in the order ``user_from_row`` reads them.
        self.user_select = (
            [tables.user_columns[name] for name in ("id", *USER_CORE)]
            + [tables.users.c[f.name] for f in tables.additional]
            + [tables.users.c[f.key] for f in tables.plugin_user_fields]
        )
        self._plugin_user_keys = {f.name: f.key for f in tables.plugin_user_fields}
        plugin_types = [*tables.plugin_user_fields, *tables.plugin_session_fields]
        self._plugin_booleans = frozenset(f.key for f in plugin_types if isinstance(f.type, sa.Boolean))
        self._plugin_timestamps = frozenset(f.key for f in plugin_types if isinstance(f.type, UTCTimestamp))

    # -- value conversion ---------------------------------------------------------------------

    def ts_in(self, value: dt.datetime | None) -> Any:
        return to_db(FieldType.TIMESTAMP, self.dialect, value)

    def ts_out(self, value: Any) -> dt.datetime | None:
        if value is None or isinstance(value, dt.datetime):
            return value if value is None or value.tzinfo else value.replace(tzinfo=dt.UTC)
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))

    def user_id_in(self, value: Any) -> Any:
        if self.t.user_id_type == "uuid":
            return uuid.UUID(str(value)) if self.dialect == "postgresql" else str(value)
        if self.t.user_id_type == "serial":
            return int(value)
        return str(value)

    def user_id_out(self, value: Any) -> Any:
        return str(value) if self.t.user_id_type == "uuid" else value

    def new_user_id(self) -> Any:
        if self.t.user_id_type == "uuid":
            return str(uuid7())
        if self.t.user_id_type == "text":
            return generate_id()
        return None  # serial: the database assigns it

    # -- statements ---------------------------------------------------------------------------

    async def _fetch(self, conn: Connection | None, key: tuple[Any, ...], build: Any, **params: Any) -> list[Any]:
        stmt = self.sql.prepared(("auth", *key), build)
        args = stmt.params(extras=params)
        if conn is None:
            return await self.db.fetch(stmt.sql, args)
        return await conn.fetch(stmt.sql, args)

    def actor_columns(self, user_id: Any) -> list[Any]:
        """On PostgreSQL, the columns that make a lookup name its user as the acting user for
        row-level security (``PostgresDatabase.fetch_identifying``); none elsewhere."""
        return actor_columns(user_id) if self.dialect == "postgresql" else []

    async def fetch_identifying(self, name: tuple[Any, ...], build: Any, **params: Any) -> list[Any]:
        """A lookup built with ``actor_columns``: it authenticates a request (see ``fetch_identifying``)."""
        stmt = self.sql.prepared(("auth", *name), build)
        return await self.db.fetch_identifying(stmt.sql, stmt.params(extras=params))

    async def _execute(self, conn: Connection, key: tuple[Any, ...], build: Any, **params: Any) -> int:
        stmt = self.sql.prepared(("auth", *key), build)
        return await conn.execute(stmt.sql, stmt.params(extras=params))

    # -- users --------------------------------------------------------------------------------

    def user_from_row(self, row: Sequence[Any], offset: int = 0) -> UserRecord:
        core_names = ("id", *USER_CORE)
        values = dict(zip(core_names, row[offset : offset + len(core_names)], strict=True))
        extra_values = row[offset + len(core_names) : offset + len(core_names) + len(self.t.additional)]
        core = {name: values[name] for name in USER_CORE}
        core["emailVerified"] = bool(core["emailVerified"])
        core["createdAt"] = self.ts_out(core["createdAt"])
        core["updatedAt"] = self.ts_out(core["updatedAt"])
        additional = {f.name: v for f, v in zip(self.t.additional, extra_values, strict=True)}
        start = offset + len(core_names) + len(self.t.additional)
        plugin_fields = self.t.plugin_user_fields
        plugin = {
            f.name: self.plugin_value_out(f.key, v)
            for f, v in zip(plugin_fields, row[start : start + len(plugin_fields)], strict=True)
        }
        return UserRecord(id=self.user_id_out(values["id"]), core=core, additional=additional, plugin=plugin)

    def plugin_value_out(self, key: str, value: Any) -> Any:
        """A plugin column's value as Python sees it (SQLite keeps booleans as 0/1, times as text)."""
        if value is not None and key in self._plugin_booleans:
            return bool(value)
        if key in self._plugin_timestamps:
            return self.ts_out(value)
        return value

    def plugin_value_in(self, key: str, value: Any) -> Any:
        """A plugin column's value as the database takes it."""
        if value is not None and key in self._plugin_booleans and self.dialect != "postgresql":
            return int(bool(value))
        if key in self._plugin_timestamps:
            return self.ts_in(value)
        return value

    @property
    def user_width(self) -> int:
        return len(self.user_select)

    async def user_by_email(self, email: str, conn: Connection | None = None) -> UserRecord | None:
        email_col = self.t.user_columns["email"]
        rows = await self._fetch(
            conn,
            ("user_by_email",),
            lambda: sa.select(*self.user_select).where(email_col == sa.bindparam("email")),
            email=email,
        )
        return self.user_from_row(rows[0]) if rows else None

    async def user_by_id(self, user_id: Any, conn: Connection | None = None) -> UserRecord | None:
        rows = await self._fetch(
            conn,
            ("user_by_id",),
            lambda: sa.select(*self.user_select).where(self.t.users.c.id == sa.bindparam("id")),
            id=self.user_id_in(user_id),
        )
        return self.user_from_row(rows[0]) if rows else None

    async def create_user(self, conn: Connection, core: dict[str, Any], additional: dict[str, Any]) -> UserRecord:
        """Insert a user; ``core`` uses Better Auth's names, ``additional`` the schema's (already DB-typed)."""
        values: dict[str, Any] = {}
        new_id = self.new_user_id()
        if new_id is not None:
            values["id"] = self.user_id_in(new_id)
        for name, value in core.items():
            column = self.t.user_columns[name]
            values[column.key] = self.ts_in(value) if name in ("createdAt", "updatedAt") else value
            if name == "emailVerified":
                values[column.key] = bool(value) if self.dialect == "postgresql" else int(bool(value))
        values.update(additional)
        for spec in self.t.plugin_user_fields:
            if spec.default is not None:  # written, not left to a column default (the better-auth preset has none)
                values[spec.key] = self.plugin_value_in(spec.key, spec.default)
        keys = tuple(sorted(values))
        users = self.t.users
        rows = await self._fetch(
            conn,
            ("create_user", keys),
            lambda: sa.insert(users).values({k: sa.bindparam(k) for k in keys}).returning(*self.user_select),
            **values,
        )
        user = self.user_from_row(rows[0])
        for listener in self.user_created:
            await listener(conn, user)
        return user

    async def update_user(self, conn: Connection, user_id: Any, changes: dict[str, Any]) -> UserRecord | None:
        """Update by Better Auth field name (core or a plugin's) or schema field name (additional, DB-typed)."""
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name in self._plugin_user_keys:
                key = self._plugin_user_keys[name]
                values[key] = self.plugin_value_in(key, value)
            elif name in USER_CORE:
                column = self.t.user_columns[name]
                if name in ("createdAt", "updatedAt"):
                    value = self.ts_in(value)
                elif name == "emailVerified":
                    value = bool(value) if self.dialect == "postgresql" else int(bool(value))
                values[column.key] = value
            else:
                values[name] = value
        keys = tuple(sorted(values))
        users = self.t.users
        rows = await self._fetch(
            conn,
            ("update_user", keys),
            lambda: (
                sa.update(users)
                .where(users.c.id == sa.bindparam("_id"))
                .values({k: sa.bindparam(k) for k in keys})
                .returning(*self.user_select)
            ),
            _id=self.user_id_in(user_id),
            **values,
        )
        return self.user_from_row(rows[0]) if rows else None

    async def delete_user(self, conn: Connection, user_id: Any) -> int:
        users = self.t.users
        return await self._execute(
            conn,
            ("delete_user",),
            lambda: sa.delete(users).where(users.c.id == sa.bindparam("id")),
            id=self.user_id_in(user_id),
        )

    # -- accounts -----------------------------------------------------------------------------

    def _account(self, row: Sequence[Any]) -> dict[str, Any]:
        out = dict(zip(ACCOUNT_FIELDS, row, strict=True))
        for key in _TIMESTAMPS & out.keys():
            out[key] = self.ts_out(out[key])
        out["user_id"] = self.user_id_out(out["user_id"])
        return out

    async def accounts_of(self, user_id: Any, conn: Connection | None = None) -> list[dict[str, Any]]:
        a = self.t.accounts
        rows = await self._fetch(
            conn,
            ("accounts_of",),
            lambda: (
                sa.select(*(a.c[k] for k in ACCOUNT_FIELDS))
                .where(a.c.user_id == sa.bindparam("uid"))
                .order_by(a.c.created_at)
            ),
            uid=self.user_id_in(user_id),
        )
        return [self._account(r) for r in rows]

    async def account_by_provider(
        self, provider_id: str, account_id: str, conn: Connection | None = None
    ) -> dict[str, Any] | None:
        a = self.t.accounts
        rows = await self._fetch(
            conn,
            ("account_by_provider",),
            lambda: sa.select(*(a.c[k] for k in ACCOUNT_FIELDS)).where(
                a.c.provider_id == sa.bindparam("pid"), a.c.account_id == sa.bindparam("aid")
            ),
            pid=provider_id,
            aid=account_id,
        )
        return self._account(rows[0]) if rows else None

    async def create_account(
        self, conn: Connection, user_id: Any, provider_id: str, account_id: str, **fields: Any
    ) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        values: dict[str, Any] = {k: None for k in ACCOUNT_FIELDS}
        values.update(fields)
        values.update(
            id=generate_id(),
            account_id=account_id,
            provider_id=provider_id,
            user_id=self.user_id_in(user_id),
            created_at=now,
            updated_at=now,
        )
        for key in _TIMESTAMPS & values.keys():
            values[key] = self.ts_in(values[key])
        a = self.t.accounts
        rows = await self._fetch(
            conn,
            ("create_account",),
            lambda: (
                sa.insert(a)
                .values({k: sa.bindparam(k) for k in ACCOUNT_FIELDS})
                .returning(*(a.c[k] for k in ACCOUNT_FIELDS))
            ),
            **values,
        )
        return self._account(rows[0])

    async def update_account(self, conn: Connection, account_pk: str, **fields: Any) -> None:
        fields["updated_at"] = dt.datetime.now(dt.UTC)
        for key in _TIMESTAMPS & fields.keys():
            fields[key] = self.ts_in(fields[key])
        keys = tuple(sorted(fields))
        a = self.t.accounts
        await self._execute(
            conn,
            ("update_account", keys),
            lambda: sa.update(a).where(a.c.id == sa.bindparam("_pk")).values({k: sa.bindparam(k) for k in keys}),
            _pk=account_pk,
            **fields,
        )

    async def delete_account(self, conn: Connection, account_pk: str) -> int:
        a = self.t.accounts
        return await self._execute(
            conn, ("delete_account",), lambda: sa.delete(a).where(a.c.id == sa.bindparam("pk")), pk=account_pk
        )

    # -- sessions -----------------------------------------------------------------------------

    def _session(self, row: Sequence[Any]) -> dict[str, Any]:
        fields = self.session_fields
        out = dict(zip(fields, row[: len(fields)], strict=True))
        for key in ("expires_at", "created_at", "updated_at"):
            out[key] = self.ts_out(out[key])
        out["user_id"] = self.user_id_out(out["user_id"])
        if "active_organization_id" in out and out["active_organization_id"] is not None:
            out["active_organization_id"] = str(out["active_organization_id"])
        for spec in self.t.plugin_session_fields:
            out[spec.key] = self.plugin_value_out(spec.key, out[spec.key])
        return out

    def org_id_in(self, value: Any) -> Any:
        if self.memberships is not None and value is not None:
            # A serial organization id arrives as text (sessions carry it as a string): an int4 again.
            return id_to_db(self.memberships.org_id_type, self.dialect, value)
        return value

    async def first_organization(self, conn: Connection, user_id: Any) -> Any:
        """The organization a new session starts in: the user's oldest membership."""
        if self.memberships is None:
            return None
        m = self.memberships.members
        rows = await self._fetch(
            conn,
            ("first_organization",),
            lambda: (
                sa.select(m.c.organization_id)
                .where(m.c.user_id == sa.bindparam("uid"))
                .order_by(m.c.created_at, m.c.id)
                .limit(1)
            ),
            uid=self.user_id_in(user_id),
        )
        return rows[0][0] if rows else None

    async def create_session(
        self,
        conn: Connection,
        user_id: Any,
        expires_at: dt.datetime,
        ip: str | None,
        user_agent: str | None,
        plugin_values: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Insert a session; ``plugin_values`` sets plugin session fields by key (``impersonated_by``)."""
        now = dt.datetime.now(dt.UTC)
        s = self.t.sessions
        fields = self.session_fields
        values: dict[str, Any] = {
            "id": generate_id(),
            "token": generate_id(),
            "user_id": self.user_id_in(user_id),
            "expires_at": self.ts_in(expires_at),
            "created_at": self.ts_in(now),
            "updated_at": self.ts_in(now),
            "ip_address": ip or "",
            "user_agent": user_agent or "",
        }
        if self.memberships is not None:
            values["active_organization_id"] = await self.first_organization(conn, user_id)
        for spec in self.t.plugin_session_fields:
            values[spec.key] = self.plugin_value_in(spec.key, (plugin_values or {}).get(spec.key, spec.default))
        rows = await self._fetch(
            conn,
            ("create_session", fields),
            lambda: sa.insert(s).values({k: sa.bindparam(k) for k in fields}).returning(*(s.c[k] for k in fields)),
            **values,
        )
        return self._session(rows[0])

    async def set_active_organization(self, conn: Connection, token: str, org_id: Any) -> None:
        s = self.t.sessions
        await self._execute(
            conn,
            ("set_active_organization",),
            lambda: (
                sa.update(s)
                .where(s.c.token == sa.bindparam("token"))
                .values(active_organization_id=sa.bindparam("org"), updated_at=sa.bindparam("now"))
            ),
            token=token,
            org=None if org_id is None else self.org_id_in(org_id),
            now=self.ts_in(dt.datetime.now(dt.UTC)),
        )

    async def set_active_organization_by_id(self, conn: Connection, session_id: str, org_id: Any) -> None:
        s = self.t.sessions
        await self._execute(
            conn,
            ("set_active_organization_by_id",),
            lambda: (
                sa.update(s).where(s.c.id == sa.bindparam("sid")).values(active_organization_id=sa.bindparam("org"))
            ),
            sid=session_id,
            org=None if org_id is None else self.org_id_in(org_id),
        )

    async def session_with_user(self, token: str) -> tuple[dict[str, Any], UserRecord] | None:
        """The session for ``token``, its user and (with organizations) the user's role in the active
        one: one query, the hot path of every request."""
        s = self.t.sessions
        fields = self.session_fields
        memberships = self.memberships

        def build() -> Any:
            joined, m, o = self._session_join()
            extra: list[Any] = []
            if m is not None:
                extra = [m.c.role]
                if o is not None:
                    # The two-factor plugin's flag: its check on every request reads it from here.
                    names = ("name", "slug", REQUIRE_TWO_FACTOR)
                    extra += [o.c[c] if c in o.c else sa.null() for c in names]
            return (
                sa.select(*(s.c[k] for k in fields), *extra, *self.user_select, *self.actor_columns(s.c.user_id))
                .select_from(joined)
                .where(s.c.token == sa.bindparam("token"))
            )

        rows = await self.fetch_identifying(("session_with_user", fields), build, token=token)
        if not rows:
            return None
        session = self._session(rows[0])
        offset = len(fields)
        if memberships is not None:
            session["role"] = rows[0][offset]
            offset += 1
            if memberships.organizations is not None:
                name, slug, requires = rows[0][offset : offset + 3]
                offset += 3
                if session["role"] is not None:
                    org = session["active_organization_id"]
                    session["organization"] = {"id": org, "name": name, "slug": slug}
                    session[REQUIRE_TWO_FACTOR] = bool(requires)
        return session, self.user_from_row(rows[0], offset=offset)

    async def session_principal(self, token: str) -> SessionPrincipal | None:
        """The session for ``token`` as ``session_with_user`` reads it, but only what a request's
        principal needs (a fifth of its columns: reading the whole session and user on every API
        request cost as much as the rest of the lookup). One query, naming the acting user."""
        rows = await self.fetch_identifying(("session_principal",), self._build_session_principal, token=token)
        if not rows:
            return None
        session_id, expires_at, user_id, org, role, requires, email, verified, has_two_factor, platform = rows[0][:10]
        return SessionPrincipal(
            session_id=session_id,
            expires_at=self.ts_out(expires_at),  # type: ignore[arg-type]  # the column is NOT NULL
            user_id=str(self.user_id_out(user_id)),
            # As ``Authentication.principal`` reads a session: without a role there, no organization.
            organization_id=str(org) if role and org is not None else None,
            role=role,
            email=str(email),
            email_verified=bool(verified),
            two_factor=(bool(requires), bool(has_two_factor)) if role is not None and self._with_orgs else None,
            platform_role=str(platform) if platform else None,
        )

    @property
    def _with_orgs(self) -> bool:
        return self.memberships is not None and self.memberships.organizations is not None

    def _session_join(self) -> tuple[Any, sa.Table | None, sa.Table | None]:
        """Sessions joined to their users and, with organizations, to the user's membership in the
        active one and that organization: what both session reads select from (the join, the
        membership table, the organizations table)."""
        s, u = self.t.sessions, self.t.users
        joined = s.join(u, u.c.id == s.c.user_id)
        memberships = self.memberships
        if memberships is None:
            return joined, None, None
        m, o = memberships.members, memberships.organizations
        joined = joined.outerjoin(
            m, sa.and_(m.c.organization_id == s.c.active_organization_id, m.c.user_id == s.c.user_id)
        )
        if o is not None:
            joined = joined.outerjoin(o, o.c.id == m.c.organization_id)
        return joined, m, o

    def _build_session_principal(self) -> Any:
        """``session_principal``'s statement (built once: the compiled SQL is kept)."""
        s, u = self.t.sessions, self.t.users
        two_factor_key = next((f.key for f in self.t.plugin_user_fields if f.name == "twoFactorEnabled"), None)
        platform_role = platform_role_column(self.t)
        joined, m, o = self._session_join()
        extra: list[Any] = [sa.null(), sa.null(), sa.null()]
        if m is not None:
            flag = o.c[REQUIRE_TWO_FACTOR] if o is not None and REQUIRE_TWO_FACTOR in o.c else sa.null()
            extra = [s.c.active_organization_id, m.c.role, flag]
        columns = self.t.user_columns
        return (
            sa.select(
                s.c.id,
                s.c.expires_at,
                s.c.user_id,
                *extra,
                columns["email"],
                columns["emailVerified"],
                u.c[two_factor_key] if two_factor_key else sa.null(),
                platform_role if platform_role is not None else sa.null(),
                *self.actor_columns(s.c.user_id),
            )
            .select_from(joined)
            .where(s.c.token == sa.bindparam("token"))
        )

    async def sessions_of(self, user_id: Any, conn: Connection | None = None) -> list[dict[str, Any]]:
        s = self.t.sessions
        rows = await self._fetch(
            conn,
            ("sessions_of",),
            lambda: (
                sa.select(*(s.c[k] for k in self.session_fields))
                .where(s.c.user_id == sa.bindparam("uid"), s.c.expires_at > sa.bindparam("now"))
                .order_by(s.c.created_at)
            ),
            uid=self.user_id_in(user_id),
            now=self.ts_in(dt.datetime.now(dt.UTC)),
        )
        return [self._session(r) for r in rows]

    async def refresh_session(self, token: str, expires_at: dt.datetime) -> dict[str, Any] | None:
        s = self.t.sessions
        async with self.db.transaction() as conn:
            rows = await self._fetch(
                conn,
                ("refresh_session",),
                lambda: (
                    sa.update(s)
                    .where(s.c.token == sa.bindparam("token"))
                    .values(expires_at=sa.bindparam("expires_at"), updated_at=sa.bindparam("now"))
                    .returning(*(s.c[k] for k in self.session_fields))
                ),
                token=token,
                expires_at=self.ts_in(expires_at),
                now=self.ts_in(dt.datetime.now(dt.UTC)),
            )
        return self._session(rows[0]) if rows else None

    async def delete_session(self, conn: Connection, token: str, user_id: Any | None = None) -> int:
        """Delete by token (and owner, when given: a user may only revoke their own sessions)."""
        s = self.t.sessions
        if user_id is None:
            return await self._execute(
                conn, ("delete_session",), lambda: sa.delete(s).where(s.c.token == sa.bindparam("token")), token=token
            )
        return await self._execute(
            conn,
            ("delete_own_session",),
            lambda: sa.delete(s).where(s.c.token == sa.bindparam("token"), s.c.user_id == sa.bindparam("uid")),
            token=token,
            uid=self.user_id_in(user_id),
        )

    async def delete_sessions_of(self, conn: Connection, user_id: Any, keep_token: str | None = None) -> int:
        s = self.t.sessions
        if keep_token is None:
            return await self._execute(
                conn,
                ("delete_sessions_of",),
                lambda: sa.delete(s).where(s.c.user_id == sa.bindparam("uid")),
                uid=self.user_id_in(user_id),
            )
        return await self._execute(
            conn,
            ("delete_other_sessions",),
            lambda: sa.delete(s).where(s.c.user_id == sa.bindparam("uid"), s.c.token != sa.bindparam("keep")),
            uid=self.user_id_in(user_id),
            keep=keep_token,
        )

    # -- verification tokens ------------------------------------------------------------------

    async def create_verification(self, conn: Connection, identifier: str, value: str, expires_at: dt.datetime) -> None:
        now = dt.datetime.now(dt.UTC)
        v = self.t.verifications
        await self._execute(
            conn,
            ("create_verification",),
            lambda: sa.insert(v).values(
                {k: sa.bindparam(k) for k in ("id", "identifier", "value", "expires_at", "created_at", "updated_at")}
            ),
            id=generate_id(),
            identifier=identifier,
            value=value,
            expires_at=self.ts_in(expires_at),
            created_at=self.ts_in(now),
            updated_at=self.ts_in(now),
        )

    async def consume_verification(self, conn: Connection, identifier: str) -> tuple[str, dt.datetime] | None:
        """Delete and return ``(value, expires_at)`` of a token: single use even when raced."""
        v = self.t.verifications
        rows = await self._fetch(
            conn,
            ("consume_verification",),
            lambda: (
                sa.delete(v).where(v.c.identifier == sa.bindparam("identifier")).returning(v.c.value, v.c.expires_at)
            ),
            identifier=identifier,
        )
        if not rows:
            return None
        expires = self.ts_out(rows[0][1])
        assert expires is not None
        return str(rows[0][0]), expires

    async def peek_verification(self, identifier: str) -> tuple[str, dt.datetime] | None:
        """``(value, expires_at)`` of a token without using it up."""
        v = self.t.verifications
        rows = await self._fetch(
            None,
            ("peek_verification",),
            lambda: sa.select(v.c.value, v.c.expires_at).where(v.c.identifier == sa.bindparam("identifier")),
            identifier=identifier,
        )
        if not rows:
            return None
        expires = self.ts_out(rows[0][1])
        assert expires is not None
        return str(rows[0][0]), expires

    async def delete_expired_sessions(self, conn: Connection) -> int:
        s = self.t.sessions
        return await self._execute(
            conn,
            ("purge_sessions",),
            lambda: sa.delete(s).where(s.c.expires_at < sa.bindparam("now")),
            now=self.ts_in(dt.datetime.now(dt.UTC)),
        )

    async def delete_expired_verifications(self, conn: Connection) -> int:
        v = self.t.verifications
        return await self._execute(
            conn,
            ("purge_verifications",),
            lambda: sa.delete(v).where(v.c.expires_at < sa.bindparam("now")),
            now=self.ts_in(dt.datetime.now(dt.UTC)),
        )


def iso(value: dt.datetime | None) -> str | None:
    """Better Auth's date format: ISO-8601 UTC with milliseconds."""
    return None if value is None else format_timestamp(value)
