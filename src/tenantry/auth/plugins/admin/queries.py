"""The admin plugin's reads across all users and organizations (``/admin/list-users``, the pages).

Searches are case-insensitive (``LIKE`` on lower-cased text with the pattern's wildcards escaped);
filters and sorting take Better Auth's field names and compare values in the column's own type.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tenantry.auth.plugins.admin.fields import role_name
from tenantry.auth.service import AuthContext
from tenantry.auth.store import UserRecord
from tenantry.auth.tables import USER_CORE
from tenantry.db.actor import SYSTEM, acting_as

SEARCH_FIELDS = ("email", "name")
SEARCH_OPERATORS = ("contains", "starts_with", "ends_with")
FILTER_OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains", "starts_with", "ends_with")


class BadQuery(ValueError):
    """A field or value the query cannot use (Better Auth answers those with an empty list)."""


@dataclass(frozen=True)
class UserQuery:
    """One ``list-users`` request, already checked for shape."""

    search_value: str | None = None
    search_field: str = "email"
    search_operator: str = "contains"
    filter_field: str = "email"
    filter_value: Any = None
    filter_operator: str = "eq"
    sort_by: str | None = None
    sort_direction: str = "asc"
    limit: int | None = None
    offset: int | None = None


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _pattern(operator: str, value: str) -> str:
    escaped = _escape(value.lower())
    return {"contains": f"%{escaped}%", "starts_with": f"{escaped}%", "ends_with": f"%{escaped}"}[operator]


class AdminQueries:
    """Reads for superusers; every user column is addressed by Better Auth's field name."""

    def __init__(self, ctx: AuthContext) -> None:
        self.ctx = ctx
        tables = ctx.tables
        self.columns: dict[str, sa.Column[Any]] = {"id": tables.users.c.id}
        for name in USER_CORE:
            self.columns[name] = tables.user_columns[name]
        for spec in tables.plugin_user_fields:
            self.columns[spec.name] = tables.users.c[spec.key]
        # Better Auth's name for the platform role is ``role`` whatever column holds it here.
        self.columns["role"] = self.columns[role_name(tables)]

    def _value(self, column: sa.Column[Any], value: Any) -> Any:
        """A filter value (query strings carry text) in the column's type, as the database takes it."""
        store = self.ctx.store
        if isinstance(column.type, sa.Boolean):
            if isinstance(value, str) and value in ("true", "false"):
                value = value == "true"
            if not isinstance(value, bool):
                raise BadQuery("expected a boolean")
            return value if store.dialect == "postgresql" else int(value)
        if column is self.columns["id"]:
            try:
                return store.user_id_in(value)
            except ValueError:
                raise BadQuery("not an id") from None
        if column.key in ("created_at", "updated_at", "ban_expires"):
            try:
                parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                raise BadQuery("expected a date") from None
            return store.ts_in(parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC))
        return str(value)

    def _where(self, query: UserQuery) -> list[Any]:
        where: list[Any] = []
        if query.search_value:
            column = self.columns[query.search_field]
            where.append(sa.func.lower(column).like(_pattern(query.search_operator, query.search_value), escape="\\"))
        if query.filter_value is not None:
            if query.filter_field not in self.columns:
                raise BadQuery(f"unknown field {query.filter_field}")
            column = self.columns[query.filter_field]
            op = query.filter_operator
            if op in ("in", "not_in"):
                values = query.filter_value if isinstance(query.filter_value, list) else [query.filter_value]
                converted = [self._value(column, v) for v in values]
                where.append(column.in_(converted) if op == "in" else column.not_in(converted))
            elif op in SEARCH_OPERATORS:
                where.append(sa.func.lower(column).like(_pattern(op, str(query.filter_value)), escape="\\"))
            else:
                value = self._value(column, query.filter_value)
                compare = {
                    "eq": column.__eq__,
                    "ne": column.__ne__,
                    "lt": column.__lt__,
                    "lte": column.__le__,
                    "gt": column.__gt__,
                    "gte": column.__ge__,
                }[op]
                where.append(compare(value))
        return where

    async def list_users(self, query: UserQuery) -> tuple[list[UserRecord], int]:
        """One page of users and how many match in all. Raises ``BadQuery``."""
        store = self.ctx.store
        users = self.ctx.tables.users
        where = self._where(query)
        select = sa.select(*store.user_select).where(*where)  # the store's own columns and row reader
        if query.sort_by is not None:
            if query.sort_by not in self.columns:
                raise BadQuery(f"unknown field {query.sort_by}")
            column = self.columns[query.sort_by]
            select = select.order_by(column.desc() if query.sort_direction == "desc" else column.asc(), users.c.id)
        else:
            select = select.order_by(self.columns["createdAt"], users.c.id)
        if query.limit is not None:
            select = select.limit(query.limit)
        if query.offset is not None:
            select = select.offset(query.offset)
        count = sa.select(sa.func.count()).select_from(users).where(*where)
        rows = await self._run(select)
        total = await self._run(count)
        return [store.user_from_row(row) for row in rows], int(total[0][0])

    async def _run(self, statement: Any) -> list[Any]:
        # Built per request (searches and filters vary), so compiled here rather than cached.
        compiled = statement.compile(dialect=self.ctx.store.sql.dialect, compile_kwargs={"render_postcompile": True})
        args = [compiled.params[name] for name in compiled.positiontup or ()]
        return await self.ctx.db.fetch(compiled.string, args)

    async def list_organizations(
        self, search: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int] | None:
        """Organizations by name or slug, newest first, with their member counts; None without tenancy."""
        memberships = self.ctx.store.memberships
        if memberships is None or memberships.organizations is None:
            return None
        orgs, members = memberships.organizations, memberships.members
        where: list[Any] = []
        if search:
            pattern = _pattern("contains", search)
            conditions = [sa.func.lower(orgs.c[c]).like(pattern, escape="\\") for c in ("name", "slug") if c in orgs.c]
            where.append(sa.or_(*conditions))
        count_members = (
            sa.select(sa.func.count())
            .select_from(members)
            .where(members.c.organization_id == orgs.c.id)
            .scalar_subquery()
        )
        columns = [orgs.c.id, *(orgs.c[c] if c in orgs.c else sa.null() for c in ("name", "slug", "created_at"))]
        select = (
            sa.select(*columns, count_members)
            .where(*where)
            .order_by(orgs.c.created_at.desc() if "created_at" in orgs.c else orgs.c.id, orgs.c.id)
            .limit(limit)
            .offset(offset)
        )
        count = sa.select(sa.func.count()).select_from(orgs).where(*where)
        # Memberships are tenant rows: a superuser's overview counts them across every organization.
        with acting_as(SYSTEM):
            rows = await self._run(select)
            total = await self._run(count)
        out = [
            {
                "id": str(r[0]),
                "name": r[1],
                "slug": r[2],
                "createdAt": self.ctx.store.ts_out(r[3]) if r[3] is not None else None,
                "members": int(r[4]),
            }
            for r in rows
        ]
        return out, int(total[0][0])
