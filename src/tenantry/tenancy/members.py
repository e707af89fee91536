"""Memberships: who belongs to which organization, with which role."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import sqlalchemy as sa

from tenantry.auth.crypto import generate_id
from tenantry.db import Connection, Database, SQLCompiler
from tenantry.db.codecs import id_to_db, to_db
from tenantry.db.ids import uuid7
from tenantry.schema import FieldType
from tenantry.tenancy.tables import TenancyTables

MEMBER_FIELDS = ("id", "organization_id", "user_id", "role", "created_at")


class MemberStore:
    """SQL on the membership table, compiled once per statement."""

    def __init__(self, db: Database, tables: TenancyTables, sql: SQLCompiler, user_id_type: str) -> None:
        self.db = db
        self.t = tables
        self.sql = sql
        self.dialect = db.dialect_name
        self.user_id_type = user_id_type

    def _org(self, value: Any) -> Any:
        return id_to_db(self.t.org_id_type, self.dialect, value)

    def _user(self, value: Any) -> Any:
        return id_to_db(self.user_id_type, self.dialect, value)

    def _row(self, row: Any) -> dict[str, Any]:
        out = dict(zip(MEMBER_FIELDS, row, strict=True))
        out["organization_id"] = str(out["organization_id"])
        out["user_id"] = str(out["user_id"])
        created = out["created_at"]
        if isinstance(created, str):
            created = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
        out["created_at"] = created
        return out

    async def _fetch(self, conn: Connection | None, key: str, build: Any, **params: Any) -> list[Any]:
        stmt = self.sql.prepared(("members", key), build)
        args = stmt.params(extras=params)
        return await (conn.fetch(stmt.sql, args) if conn is not None else self.db.fetch(stmt.sql, args))

    async def add(self, conn: Connection, org_id: Any, user_id: Any, role: str) -> dict[str, Any]:
        m = self.t.members
        rows = await self._fetch(
            conn,
            "add",
            lambda: (
                sa.insert(m)
                .values({k: sa.bindparam(k) for k in MEMBER_FIELDS})
                .returning(*(m.c[k] for k in MEMBER_FIELDS))
            ),
            id=generate_id(),
            organization_id=self._org(org_id),
            user_id=self._user(user_id),
            role=role,
            created_at=to_db(FieldType.TIMESTAMP, self.dialect, dt.datetime.now(dt.UTC)),
        )
        return self._row(rows[0])

    async def roles_in(self, org_id: Any, user_ids: list[Any], conn: Connection | None = None) -> dict[str, str]:
        """``user id -> role`` for those of ``user_ids`` who are members of ``org_id``."""
        if not user_ids:
            return {}
        m = self.t.members
        users = [self._user(u) for u in user_ids]
        if self.dialect == "postgresql":
            match = m.c.user_id == sa.any_(sa.bindparam("users"))
            param: Any = users
        else:  # one statement whatever the number of ids: a JSON array read by json_each
            match = m.c.user_id.in_(sa.select(sa.column("value")).select_from(sa.func.json_each(sa.bindparam("users"))))
            param = orjson.dumps(users).decode()
        rows = await self._fetch(
            conn,
            "roles_in",
            lambda: sa.select(m.c.user_id, m.c.role).where(m.c.organization_id == sa.bindparam("org"), match),
            org=self._org(org_id),
            users=param,
        )
        return {str(r[0]): str(r[1]) for r in rows}

    async def of_organization(self, org_id: Any, conn: Connection | None = None) -> list[dict[str, Any]]:
        m = self.t.members
        rows = await self._fetch(
            conn,
            "of_organization",
            lambda: (
                sa.select(*(m.c[k] for k in MEMBER_FIELDS))
                .where(m.c.organization_id == sa.bindparam("org"))
                .order_by(m.c.created_at, m.c.id)
            ),
            org=self._org(org_id),
        )
        return [self._row(r) for r in rows]

    async def of_user(self, user_id: Any, conn: Connection | None = None) -> list[dict[str, Any]]:
        m = self.t.members
        rows = await self._fetch(
            conn,
            "of_user",
            lambda: (
                sa.select(*(m.c[k] for k in MEMBER_FIELDS))
                .where(m.c.user_id == sa.bindparam("uid"))
                .order_by(m.c.created_at, m.c.id)
            ),
            uid=self._user(user_id),
        )
        return [self._row(r) for r in rows]


def new_org_id(id_type: str) -> Any:
    return str(uuid7()) if id_type == "uuid" else generate_id()
