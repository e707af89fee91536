"""The sessions behind connected sockets, read in bulk: still valid? which organization and role?

A node re-checks every socket it holds after each revocation or organization switch anywhere, and
every few seconds; one statement per few hundred sessions keeps that cheap with many sockets.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from tenantry.db import Database, SQLCompiler, TableSet

CHUNK = 500


@dataclass(frozen=True)
class SessionState:
    """What a socket's rooms depend on: the session's user, and its organization while a member of it."""

    user_id: str
    org_id: str | None
    role: str | None


class SessionReader:
    """Reads many sessions by token in one statement (sessions, joined with memberships when there are any)."""

    def __init__(self, db: Database, tables: TableSet, sql: SQLCompiler) -> None:
        self.db = db
        self.sql = sql
        self.dialect = tables.dialect
        auth = tables.extensions["auth"]
        self.sessions: sa.Table = auth.sessions
        tenancy = tables.extensions.get("tenancy")
        self.members: sa.Table | None = tenancy.members if tenancy is not None else None
        self.active: sa.Column[Any] | None = tenancy.session_active_org if tenancy is not None else None

    def _build(self) -> Any:
        s = self.sessions
        if self.dialect == "postgresql":
            match = s.c.token == sa.any_(sa.bindparam("tokens"))
        else:  # one statement whatever the number of tokens: a JSON array read by json_each
            match = s.c.token.in_(sa.select(sa.column("value")).select_from(sa.func.json_each(sa.bindparam("tokens"))))
        columns: list[Any] = [s.c.token, s.c.user_id, s.c.expires_at]
        joined: Any = s
        if self.members is not None and self.active is not None:
            m = self.members
            joined = s.outerjoin(m, sa.and_(m.c.organization_id == self.active, m.c.user_id == s.c.user_id))
            columns += [self.active, m.c.role]
        return sa.select(*columns).select_from(joined).where(match)

    async def valid(self, tokens: list[str], now: dt.datetime) -> dict[str, SessionState]:
        """``token -> state`` for the tokens whose session exists and has not expired."""
        stmt = self.sql.prepared(("realtime", "sessions", self.sessions.name), self._build)
        out: dict[str, SessionState] = {}
        for start in range(0, len(tokens), CHUNK):
            chunk = tokens[start : start + CHUNK]
            param: Any = chunk if self.dialect == "postgresql" else orjson.dumps(chunk).decode()
            for row in await self.db.fetch(stmt.sql, stmt.params(extras={"tokens": param})):
                if _as_datetime(row[2]) < now:
                    continue
                role = row[4] if len(row) > 4 else None
                org = str(row[3]) if role is not None and row[3] is not None else None
                out[str(row[0])] = SessionState(str(row[1]), org, str(role) if org else None)
        return out


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)
