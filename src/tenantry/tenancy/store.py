"""SQL for organizations, memberships, invitations and the sessions' active organization.

Like the authentication store, each statement is built with SQLAlchemy Core once and cached
compiled (``SQLCompiler.prepared``); calls bind values and run on the caller's connection, so a
whole organization action is one transaction. Records come back as plain dicts:

- organizations keyed by column name, values already in their JSON form (the entity's own
  converters), plus ``logo`` and ``metadata`` (parsed JSON);
- members ``{id, organization_id, user_id, role, created_at}`` and, when read with their user,
  ``user {id, name, email, image}``;
- invitations ``{id, organization_id, email, role, status, expires_at, created_at, inviter_id}``.

Timestamps of members and invitations are aware ``datetime`` objects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, Literal

import orjson
import sqlalchemy as sa

from tenantry.auth.crypto import generate_id
from tenantry.auth.store import AuthStore
from tenantry.auth.tables import AuthTables
from tenantry.db import Connection, Database, SQLCompiler
from tenantry.db.codecs import Converter, field_output_converter, field_to_db, id_to_db, to_db, utc_now
from tenantry.db.ids import uuid7
from tenantry.schema import Entity, FieldType
from tenantry.tenancy.tables import TenancyTables

MEMBER_COLUMNS = ("id", "organization_id", "user_id", "role", "created_at")
INVITATION_COLUMNS = ("id", "organization_id", "email", "role", "status", "expires_at", "created_at", "inviter_id")
# The plugin's own organization columns; the schema may declare them itself, otherwise tenancy adds them.
PLUGIN_COLUMNS = ("logo", "metadata")
# Columns ``list-members`` may sort and filter by: Better Auth field name -> member column.
MEMBER_FIELDS = {
    "id": "id",
    "organizationId": "organization_id",
    "userId": "user_id",
    "role": "role",
    "createdAt": "created_at",
}
_PATTERNS = {"contains": "%{}%", "starts_with": "{}%", "ends_with": "%{}"}
FilterOp = Literal["eq", "ne", "lt", "lte", "gt", "gte", "contains", "starts_with", "ends_with"]


class OrgStore:
    """Reads and writes of the organization tables on a given connection."""

    def __init__(
        self,
        db: Database,
        tables: TenancyTables,
        auth_tables: AuthTables,
        auth_store: AuthStore,
        sql: SQLCompiler,
    ) -> None:
        self.db = db
        self.t = tables
        self.auth_tables = auth_tables
        self.auth_store = auth_store
        self.sql = sql
        self.dialect = db.dialect_name
        self.entity: Entity = tables.organization_entity
        orgs = tables.organizations
        declared = [c for c in self.entity.columns if c != "deleted_at"]
        self.org_columns: tuple[str, ...] = (*declared, *(c for c in PLUGIN_COLUMNS if c not in declared))
        self._org_select = [orgs.c[c] for c in self.org_columns]
        self._org_out: list[Converter | None] = [self._output_converter(c) for c in self.org_columns]
        # A soft-deleting organizations entity: its deleted rows do not exist for the plugin either.
        self._live = orgs.c.deleted_at.is_(None) if self.entity.soft_delete else sa.true()
        users = auth_tables.users
        self._user_cols = [auth_tables.user_columns[k] for k in ("id", "name", "email", "image")]
        self._member_join = tables.members.join(users, users.c.id == tables.members.c.user_id)

    # -- conversions ----------------------------------------------------------------------------

    def _output_converter(self, column: str) -> Converter | None:
        if column == "id":
            return lambda v: None if v is None else str(v)
        f = self.entity.field(column)
        if f is None:
            return _json_text if column == "metadata" else None
        if column == "metadata" and f.type is not FieldType.JSON:
            return _json_text
        return field_output_converter(f, self.dialect)

    def org_key(self, value: Any) -> Any | None:
        """An organization id as the driver takes it, or None when it cannot be one (never matches)."""
        if value is None or isinstance(value, (dict, list, bool)):
            return None
        try:
            return id_to_db(self.t.org_id_type, self.dialect, value)
        except (ValueError, TypeError, AttributeError):
            return None

    def user_key(self, value: Any) -> Any | None:
        """A user id as the driver takes it, or None when it cannot be one."""
        if value is None or isinstance(value, (dict, list, bool)):
            return None
        try:
            return self.auth_store.user_id_in(value)
        except (ValueError, TypeError, AttributeError):
            return None

    def _ts(self, value: dt.datetime) -> Any:
        return to_db(FieldType.TIMESTAMP, self.dialect, value)

    def _org_value(self, column: str, value: Any) -> Any:
        if column == "id":
            return id_to_db(self.t.org_id_type, self.dialect, value)
        f = self.entity.field(column)
        if f is not None and not (column == "metadata" and f.type is not FieldType.JSON):
            return field_to_db(f, self.dialect, value)
        if column == "metadata" and value is not None and not isinstance(value, str):
            return orjson.dumps(value).decode()
        return value

    def _org(self, row: Sequence[Any]) -> dict[str, Any]:
        return {
            name: (convert(value) if convert is not None else value)
            for name, convert, value in zip(self.org_columns, self._org_out, row, strict=True)
        }

    def _member(self, row: Sequence[Any], with_user: bool = False) -> dict[str, Any]:
        out = dict(zip(MEMBER_COLUMNS, row[: len(MEMBER_COLUMNS)], strict=True))
        out["organization_id"] = str(out["organization_id"])
        out["user_id"] = self.auth_store.user_id_out(out["user_id"])
        out["created_at"] = self.auth_store.ts_out(out["created_at"])
        if with_user:
            uid, name, email, image = row[len(MEMBER_COLUMNS) : len(MEMBER_COLUMNS) + 4]
            out["user"] = {"id": self.auth_store.user_id_out(uid), "name": name, "email": email, "image": image}
        return out

    def _invitation(self, row: Sequence[Any]) -> dict[str, Any]:
        out = dict(zip(INVITATION_COLUMNS, row[: len(INVITATION_COLUMNS)], strict=True))
        out["organization_id"] = str(out["organization_id"])
        out["inviter_id"] = None if out["inviter_id"] is None else self.auth_store.user_id_out(out["inviter_id"])
        out["expires_at"] = self.auth_store.ts_out(out["expires_at"])
        out["created_at"] = self.auth_store.ts_out(out["created_at"])
        return out

    # -- running statements ---------------------------------------------------------------------

    async def _fetch(
        self, conn: Connection | None, key: tuple[Any, ...], build: Callable[[], Any], **params: Any
    ) -> list[Any]:
        stmt = self.sql.prepared(("organizations", *key), build)
        args = stmt.params(extras=params)
        return await (conn.fetch(stmt.sql, args) if conn is not None else self.db.fetch(stmt.sql, args))

    # -- organizations --------------------------------------------------------------------------

    async def organization(
        self, conn: Connection | None, *, org_id: Any = None, slug: str | None = None, lock: bool = False
    ) -> dict[str, Any] | None:
        """One organization by id or by slug. ``lock`` holds its row until the transaction ends, so
        membership changes of one organization (the last-owner rules) happen one after the other."""
        orgs = self.t.organizations
        value: Any
        if slug is not None:
            if "slug" not in orgs.c:
                return None
            column, value = orgs.c.slug, slug
        else:
            column, value = orgs.c.id, self.org_key(org_id)
            if value is None:
                return None

        def build() -> Any:
            stmt = sa.select(*self._org_select).where(column == sa.bindparam("lookup"), self._live)
            return stmt.with_for_update() if lock else stmt

        rows = await self._fetch(conn, ("organization", column.key, lock), build, lookup=value)
        return self._org(rows[0]) if rows else None

    async def insert_organization(self, conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
        """Insert a row; ``values`` are validated Python values keyed by column (id generated here)."""
        orgs = self.t.organizations
        now = utc_now()
        row: dict[str, Any] = {}
        if self.t.org_id_type == "uuid":
            row["id"] = str(uuid7())
        elif self.t.org_id_type != "serial":
            row["id"] = generate_id()
        for f in self.entity.fields:
            # As the CRUD API completes a create: server timestamps, then given values, then defaults.
            if f.auto:
                row[f.name] = now if f.type is FieldType.TIMESTAMP else now.date()
            elif f.name in values:
                row[f.name] = values[f.name]
            elif f.has_default:
                row[f.name] = (
                    (now if f.type is FieldType.TIMESTAMP else now.date()) if f.default == "now" else f.default
                )
        for column in PLUGIN_COLUMNS:
            if column in values and column not in row:
                row[column] = values[column]
        keys = tuple(row)
        rows = await self._fetch(
            conn,
            ("insert", keys),
            lambda: sa.insert(orgs).values({k: sa.bindparam(f"v_{k}") for k in keys}).returning(*self._org_select),
            **{f"v_{k}": self._org_value(k, v) for k, v in row.items()},
        )
        return self._org(rows[0])

    async def update_organization(self, conn: Connection, org_id: Any, values: dict[str, Any]) -> dict[str, Any] | None:
        orgs = self.t.organizations
        changes = dict(values)
        now = utc_now()
        for f in self.entity.fields:
            if f.auto == "update":
                changes[f.name] = now if f.type is FieldType.TIMESTAMP else now.date()
        keys = tuple(sorted(changes))
        rows = await self._fetch(
            conn,
            ("update", keys),
            lambda: (
                sa.update(orgs)
                .where(orgs.c.id == sa.bindparam("org"))
                .values({k: sa.bindparam(f"v_{k}") for k in keys})
                .returning(*self._org_select)
            ),
            org=self.org_key(org_id),
            **{f"v_{k}": self._org_value(k, v) for k, v in changes.items()},
        )
        return self._org(rows[0]) if rows else None

    async def delete_organization(self, conn: Connection, org_id: Any) -> None:
        """Delete the row; memberships and invitations go with it (their foreign keys cascade)."""
        orgs = self.t.organizations
        await self._fetch(
            conn,
            ("delete",),
            lambda: sa.delete(orgs).where(orgs.c.id == sa.bindparam("org")).returning(orgs.c.id),
            org=self.org_key(org_id),
        )

    async def slugs_like(self, conn: Connection, base: str) -> set[str]:
        """The slugs equal to ``base`` or ``base-…`` (``base`` holds only ``[a-z0-9-]``: no wildcards)."""
        orgs = self.t.organizations
        rows = await self._fetch(
            conn,
            ("slugs_like",),
            lambda: sa.select(orgs.c.slug).where(
                sa.or_(orgs.c.slug == sa.bindparam("base"), orgs.c.slug.like(sa.bindparam("pattern")))
            ),
            base=base,
            pattern=base + "-%",
        )
        return {str(r[0]) for r in rows}

    async def organizations_of(self, conn: Connection | None, user_id: Any) -> list[dict[str, Any]]:
        """The organizations a user belongs to, in the order they joined them."""
        orgs, m = self.t.organizations, self.t.members
        rows = await self._fetch(
            conn,
            ("organizations_of",),
            lambda: (
                sa.select(*self._org_select)
                .select_from(m.join(orgs, orgs.c.id == m.c.organization_id))
                .where(m.c.user_id == sa.bindparam("uid"), self._live)
                .order_by(m.c.created_at, m.c.id)
            ),
            uid=self.user_key(user_id),
        )
        return [self._org(r) for r in rows]

    # -- members --------------------------------------------------------------------------------

    def _member_select(self) -> Any:
        m = self.t.members
        return sa.select(*(m.c[k] for k in MEMBER_COLUMNS), *self._user_cols).select_from(self._member_join)

    async def member(self, conn: Connection | None, org_id: Any, user_id: Any) -> dict[str, Any] | None:
        """A user's membership of an organization, with the user."""
        org, uid = self.org_key(org_id), self.user_key(user_id)
        if org is None or uid is None:
            return None
        m = self.t.members
        rows = await self._fetch(
            conn,
            ("member",),
            lambda: self._member_select().where(
                m.c.organization_id == sa.bindparam("org"), m.c.user_id == sa.bindparam("uid")
            ),
            org=org,
            uid=uid,
        )
        return self._member(rows[0], with_user=True) if rows else None

    async def member_by_id(self, conn: Connection | None, member_id: str) -> dict[str, Any] | None:
        m = self.t.members
        rows = await self._fetch(
            conn,
            ("member_by_id",),
            lambda: self._member_select().where(m.c.id == sa.bindparam("mid")),
            mid=member_id,
        )
        return self._member(rows[0], with_user=True) if rows else None

    async def member_by_email(self, conn: Connection | None, org_id: Any, email: str) -> dict[str, Any] | None:
        org = self.org_key(org_id)
        if org is None:
            return None
        m = self.t.members
        email_col = self.auth_tables.user_columns["email"]
        rows = await self._fetch(
            conn,
            ("member_by_email",),
            lambda: self._member_select().where(
                m.c.organization_id == sa.bindparam("org"), email_col == sa.bindparam("email")
            ),
            org=org,
            email=email.lower(),
        )
        return self._member(rows[0], with_user=True) if rows else None

    async def members(
        self,
        conn: Connection | None,
        org_id: Any,
        *,
        limit: int,
        offset: int = 0,
        sort_by: str | None = None,
        descending: bool = False,
        filter_by: tuple[str, FilterOp, Any] | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of an organization's members (with their users) and how many match in all.

        ``sort_by`` and the filter's field are member columns (``MEMBER_FIELDS`` values)."""
        m = self.t.members
        org = self.org_key(org_id)
        if org is None:
            return [], 0
        sort_key = (sort_by or "created_at", descending)
        filter_key = (filter_by[0], filter_by[1]) if filter_by else None

        def condition() -> Any:
            where = m.c.organization_id == sa.bindparam("org")
            if filter_by is None:
                return where
            column, op = m.c[filter_by[0]], filter_by[1]
            value: Any = sa.bindparam("value")
            if op in _PATTERNS:  # the value is bound as the escaped LIKE pattern
                return sa.and_(where, column.like(value, escape="\\"))
            compare = {
                "eq": column == value,
                "ne": column != value,
                "lt": column < value,
                "lte": column <= value,
                "gt": column > value,
                "gte": column >= value,
            }[op]
            return sa.and_(where, compare)

        def page() -> Any:
            column = m.c[sort_key[0]]
            order = column.desc() if sort_key[1] else column.asc()
            return (
                self._member_select()
                .where(condition())
                .order_by(order, m.c.id)
                .limit(sa.bindparam("limit"))
                .offset(sa.bindparam("offset"))
            )

        params: dict[str, Any] = {"org": org}
        if filter_by is not None:
            value = self._member_value(filter_by[0], filter_by[2])
            if filter_by[1] in _PATTERNS and value is not None:
                escaped = str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                value = _PATTERNS[filter_by[1]].format(escaped)
            params["value"] = value
        rows = await self._fetch(conn, ("members", sort_key, filter_key), page, limit=limit, offset=offset, **params)
        counted = await self._fetch(
            conn,
            ("members_count", filter_key),
            lambda: sa.select(sa.func.count()).select_from(m).where(condition()),
            **params,
        )
        return [self._member(r, with_user=True) for r in rows], int(counted[0][0])

    def _member_value(self, column: str, value: Any) -> Any:
        if column == "organization_id":
            return self.org_key(value)
        if column == "user_id":
            return self.user_key(value)
        if column == "created_at":
            if isinstance(value, str):
                try:
                    value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    return None
            return self._ts(value) if isinstance(value, dt.datetime) else None
        return None if value is None else str(value)

    async def count_members(self, conn: Connection | None, org_id: Any, role: str | None = None) -> int:
        """How many members an organization has (with ``role``, when given)."""
        m = self.t.members
        if role is None:
            rows = await self._fetch(
                conn,
                ("count_members",),
                lambda: sa.select(sa.func.count()).select_from(m).where(m.c.organization_id == sa.bindparam("org")),
                org=self.org_key(org_id),
            )
        else:
            rows = await self._fetch(
                conn,
                ("count_role",),
                lambda: (
                    sa.select(sa.func.count())
                    .select_from(m)
                    .where(m.c.organization_id == sa.bindparam("org"), m.c.role == sa.bindparam("role"))
                ),
                org=self.org_key(org_id),
                role=role,
            )
        return int(rows[0][0])

    async def members_and_waiting(self, conn: Connection | None, org_id: Any) -> tuple[int, bool]:
        """How many members an organization has, and whether an invitation to it waits for an answer
        (pending and unexpired), in one statement."""
        m, i = self.t.members, self.t.invitations

        def build() -> Any:
            waiting = sa.exists().where(
                i.c.organization_id == sa.bindparam("org"),
                i.c.status == "pending",
                i.c.expires_at > sa.bindparam("now"),
            )
            return sa.select(sa.func.count(), waiting).select_from(m).where(m.c.organization_id == sa.bindparam("org"))

        org = self.org_key(org_id)
        rows = await self._fetch(conn, ("members_and_waiting",), build, org=org, now=self._ts(dt.datetime.now(dt.UTC)))
        return int(rows[0][0]), bool(rows[0][1])

    async def add_member(self, conn: Connection, org_id: Any, user_id: Any, role: str) -> dict[str, Any]:
        m = self.t.members
        rows = await self._fetch(
            conn,
            ("add_member",),
            lambda: (
                sa.insert(m)
                .values({k: sa.bindparam(k) for k in MEMBER_COLUMNS})
                .returning(*(m.c[k] for k in MEMBER_COLUMNS))
            ),
            id=generate_id(),
            organization_id=self.org_key(org_id),
            user_id=self.user_key(user_id),
            role=role,
            created_at=self._ts(dt.datetime.now(dt.UTC)),
        )
        return self._member(rows[0])

    async def set_role(self, conn: Connection, member_id: str, role: str) -> dict[str, Any] | None:
        m = self.t.members
        rows = await self._fetch(
            conn,
            ("set_role",),
            lambda: (
                sa.update(m)
                .where(m.c.id == sa.bindparam("mid"))
                .values(role=sa.bindparam("role"))
                .returning(*(m.c[k] for k in MEMBER_COLUMNS))
            ),
            mid=member_id,
            role=role,
        )
        return self._member(rows[0]) if rows else None

    async def delete_member(self, conn: Connection, member_id: str) -> bool:
        m = self.t.members
        rows = await self._fetch(
            conn,
            ("delete_member",),
            lambda: sa.delete(m).where(m.c.id == sa.bindparam("mid")).returning(m.c.id),
            mid=member_id,
        )
        return bool(rows)

    # -- invitations ----------------------------------------------------------------------------

    def _invitation_select(self) -> Any:
        i = self.t.invitations
        return sa.select(*(i.c[k] for k in INVITATION_COLUMNS))

    async def invitation(self, conn: Connection | None, invitation_id: str) -> dict[str, Any] | None:
        i = self.t.invitations
        rows = await self._fetch(
            conn,
            ("invitation",),
            lambda: self._invitation_select().where(i.c.id == sa.bindparam("iid")),
            iid=invitation_id,
        )
        return self._invitation(rows[0]) if rows else None

    async def insert_invitation(
        self, conn: Connection, org_id: Any, email: str, role: str, inviter_id: Any, expires_at: dt.datetime
    ) -> dict[str, Any]:
        i = self.t.invitations
        rows = await self._fetch(
            conn,
            ("insert_invitation",),
            lambda: (
                sa.insert(i)
                .values({k: sa.bindparam(k) for k in INVITATION_COLUMNS})
                .returning(*(i.c[k] for k in INVITATION_COLUMNS))
            ),
            id=generate_id(),
            organization_id=self.org_key(org_id),
            email=email,
            role=role,
            status="pending",
            expires_at=self._ts(expires_at),
            created_at=self._ts(dt.datetime.now(dt.UTC)),
            inviter_id=self.user_key(inviter_id),
        )
        return self._invitation(rows[0])

    async def invitations_of(
        self, conn: Connection | None, org_id: Any, *, email: str | None = None, pending_only: bool = False
    ) -> list[dict[str, Any]]:
        """An organization's invitations, oldest first (only ``email``'s, only unexpired pending ones)."""
        i = self.t.invitations
        org = self.org_key(org_id)
        if org is None:
            return []

        def build() -> Any:
            stmt = self._invitation_select().where(i.c.organization_id == sa.bindparam("org"))
            if email is not None:
                stmt = stmt.where(i.c.email == sa.bindparam("email"))
            if pending_only:
                stmt = stmt.where(i.c.status == "pending", i.c.expires_at > sa.bindparam("now"))
            return stmt.order_by(i.c.created_at, i.c.id)

        params: dict[str, Any] = {"org": org}
        if email is not None:
            params["email"] = email.lower()
        if pending_only:
            params["now"] = self._ts(dt.datetime.now(dt.UTC))
        rows = await self._fetch(conn, ("invitations_of", email is not None, pending_only), build, **params)
        return [self._invitation(r) for r in rows]

    async def invitations_for(self, conn: Connection | None, email: str) -> list[dict[str, Any]]:
        """The unexpired pending invitations to ``email``, each with its organization's name."""
        i, orgs = self.t.invitations, self.t.organizations
        name = orgs.c.name if "name" in orgs.c else sa.null()
        rows = await self._fetch(
            conn,
            ("invitations_for",),
            lambda: (
                sa.select(*(i.c[k] for k in INVITATION_COLUMNS), name)
                .select_from(i.join(orgs, orgs.c.id == i.c.organization_id))
                .where(
                    i.c.email == sa.bindparam("email"),
                    i.c.status == "pending",
                    i.c.expires_at > sa.bindparam("now"),
                )
                .order_by(i.c.created_at, i.c.id)
            ),
            email=email.lower(),
            now=self._ts(dt.datetime.now(dt.UTC)),
        )
        return [{**self._invitation(r), "organization_name": r[len(INVITATION_COLUMNS)]} for r in rows]

    async def set_invitation(
        self,
        conn: Connection,
        invitation_id: str,
        *,
        status: str | None = None,
        expires_at: dt.datetime | None = None,
        from_status: str | None = None,
    ) -> dict[str, Any] | None:
        """Change an invitation's status and/or expiry; with ``from_status``, only if it still has that
        status (so a pending invitation is used once even by concurrent requests)."""
        i = self.t.invitations
        changes: dict[str, Any] = {}
        if status is not None:
            changes["status"] = status
        if expires_at is not None:
            changes["expires_at"] = self._ts(expires_at)
        keys = tuple(sorted(changes))

        def build() -> Any:
            stmt = sa.update(i).where(i.c.id == sa.bindparam("iid"))
            if from_status is not None:
                stmt = stmt.where(i.c.status == sa.bindparam("from_status"))
            return stmt.values({k: sa.bindparam(f"v_{k}") for k in keys}).returning(
                *(i.c[k] for k in INVITATION_COLUMNS)
            )

        params: dict[str, Any] = {f"v_{k}": v for k, v in changes.items()}
        if from_status is not None:
            params["from_status"] = from_status
        rows = await self._fetch(
            conn, ("set_invitation", keys, from_status is not None), build, iid=invitation_id, **params
        )
        return self._invitation(rows[0]) if rows else None

    # -- sessions -------------------------------------------------------------------------------

    async def reassign_sessions(self, conn: Connection, org_id: Any, user_id: Any = None) -> None:
        """Sessions whose active organization is ``org_id`` (of ``user_id``, when given) and whose user
        is no longer a member there move to the user's oldest remaining organization, or to none.

        Run after a membership ends (leave, removal, deletion of the organization), so a session
        never names an organization its user is not in: ``get-session`` then shows the truth."""
        s, m = self.auth_tables.sessions, self.t.members
        org = self.org_key(org_id)
        if org is None:
            return

        def build() -> Any:
            first = (
                sa.select(m.c.organization_id)
                .where(m.c.user_id == s.c.user_id)
                .order_by(m.c.created_at, m.c.id)
                .limit(1)
                .scalar_subquery()
            )
            still_member = sa.exists().where(
                m.c.user_id == s.c.user_id, m.c.organization_id == s.c.active_organization_id
            )
            stmt = sa.update(s).where(s.c.active_organization_id == sa.bindparam("org"), ~still_member)
            if user_id is not None:
                stmt = stmt.where(s.c.user_id == sa.bindparam("uid"))
            return stmt.values(active_organization_id=first)

        params: dict[str, Any] = {"org": org}
        if user_id is not None:
            params["uid"] = self.user_key(user_id)
        stmt = self.sql.prepared(("organizations", "reassign_sessions", user_id is not None), build)
        await conn.execute(stmt.sql, stmt.params(extras=params))


def _json_text(value: Any) -> Any:
    """Metadata kept as JSON text (Better Auth's own column type) comes out parsed."""
    if isinstance(value, (str, bytes)) and value:
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value if value else None
