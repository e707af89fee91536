"""Notifications: stored per user, announced through the event outbox, read and marked through the API.

``notify_user`` writes the notification row and a ``notifications.created`` outbox event in one
transaction (the caller's, when it passes its connection): the notification exists exactly when
that transaction commits, and the outbox's realtime subscriber pushes it to ``user:<id>`` after
the commit, once across every node. Nothing is pushed for a transaction that rolls back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tenantry.db import Connection, Database, SQLCompiler, Statement, TableSet
from tenantry.db.codecs import UTC, format_timestamp, to_db, utc_now
from tenantry.db.ids import uuid7
from tenantry.events import DomainEvent, EventWriter
from tenantry.realtime.errors import invalid_notification
from tenantry.realtime.tables import DEDUPE_LENGTH, TITLE_LENGTH, TYPE_LENGTH, notifications_table
from tenantry.schema import FieldType

# The outbox topic of a stored notification; the realtime server pushes it as a ``notification`` event.
NOTIFICATION_TOPIC: Final = "notifications.created"
NOTIFICATION_ENTITY: Final = "notifications"

_COLUMNS = ("id", "user_id", "org_id", "type", "title", "message", "data", "read_at", "created_at")


@dataclass(frozen=True)
class NotificationPage:
    """One page of a user's notifications, newest first, with the unread count."""

    data: list[dict[str, Any]]
    total: int
    page: int
    limit: int
    unread: int

    def envelope(self) -> dict[str, Any]:
        """nestjsx/crud's page envelope (as the CRUD API's lists), plus ``unread``."""
        return {
            "data": self.data,
            "count": len(self.data),
            "total": self.total,
            "page": self.page,
            "pageCount": max(1, -(-self.total // self.limit)),
            "unread": self.unread,
        }


class NotificationStore:
    """Every statement on the notifications table, compiled once, and the rows as clients see them."""

    def __init__(self, db: Database, tables: TableSet, sql: SQLCompiler) -> None:
        self.db = db
        self.table = notifications_table(tables)
        self.sql = sql
        self.dialect = tables.dialect

    def _stmt(self, name: str, build: Any) -> Statement:
        return self.sql.prepared(("realtime", self.table.name, name), build)

    def _time(self, value: dt.datetime) -> Any:
        return to_db(FieldType.TIMESTAMP, self.dialect, value)

    def _id(self, value: str | uuid.UUID) -> Any:
        parsed = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        return parsed if self.dialect == "postgresql" else str(parsed)

    async def _fetch(self, conn: Connection | None, name: str, build: Any, **values: Any) -> list[Any]:
        stmt = self._stmt(name, build)
        params = stmt.params(extras=values)
        return await (conn.fetch(stmt.sql, params) if conn is not None else self.db.fetch(stmt.sql, params))

    async def _execute(self, name: str, build: Any, **values: Any) -> int:
        stmt = self._stmt(name, build)
        async with self.db.transaction() as conn:
            return await conn.execute(stmt.sql, stmt.params(extras=values))

    # -- writes ------------------------------------------------------------------------------------

    async def insert(self, conn: Connection, row: dict[str, Any], dedupe_key: str | None) -> bool:
        """Add ``row`` (as ``present`` shapes it) on ``conn``; False when ``dedupe_key`` was used for this user."""
        t = self.table
        insert_fn = postgresql.insert if self.dialect == "postgresql" else sqlite.insert

        def build() -> Any:
            names = (*_COLUMNS[:-2], "dedupe_key", "created_at")
            return (
                insert_fn(t)
                .values({n: sa.bindparam(f"n_{n}") for n in names})
                .on_conflict_do_nothing(index_elements=[t.c.user_id, t.c.dedupe_key])
                .returning(t.c.id)
            )

        rows = await self._fetch(
            conn,
            "insert",
            build,
            n_id=self._id(row["id"]),
            n_user_id=row["user_id"],
            n_org_id=row["org_id"],
            n_type=row["type"],
            n_title=row["title"],
            n_message=row["message"],
            n_data=None if row["data"] is None else orjson.dumps(row["data"]).decode(),
            n_dedupe_key=dedupe_key,
            n_created_at=self._time(dt.datetime.fromisoformat(row["created_at"].replace("Z", "+00:00"))),
        )
        return bool(rows)

    async def mark_read(self, user_id: str, notification_id: str) -> bool:
        """Mark one of ``user_id``'s notifications read; False when they have none of that id."""
        t = self.table
        now = self._time(utc_now())
        await self._execute(
            "mark_read",
            lambda: (
                sa.update(t)
                .where(t.c.id == sa.bindparam("id"), t.c.user_id == sa.bindparam("uid"), t.c.read_at.is_(None))
                .values(read_at=sa.bindparam("now"))
            ),
            id=self._id(notification_id),
            uid=user_id,
            now=now,
        )
        # Marking a read notification again is no error: only someone else's (or no) notification is.
        found = await self._fetch(
            None,
            "exists",
            lambda: sa.select(t.c.id).where(t.c.id == sa.bindparam("id"), t.c.user_id == sa.bindparam("uid")),
            id=self._id(notification_id),
            uid=user_id,
        )
        return bool(found)

    async def mark_all_read(self, user_id: str) -> int:
        """Mark every unread notification of ``user_id`` read; returns how many."""
        t = self.table
        return await self._execute(
            "mark_all_read",
            lambda: (
                sa.update(t)
                .where(t.c.user_id == sa.bindparam("uid"), t.c.read_at.is_(None))
                .values(read_at=sa.bindparam("now"))
            ),
            uid=user_id,
            now=self._time(utc_now()),
        )

    # -- reads -------------------------------------------------------------------------------------

    async def unread_count(self, user_id: str) -> int:
        t = self.table
        rows = await self._fetch(
            None,
            "unread_count",
            lambda: (
                sa.select(sa.func.count())
                .select_from(t)
                .where(t.c.user_id == sa.bindparam("uid"), t.c.read_at.is_(None))
            ),
            uid=user_id,
        )
        return int(rows[0][0])

    async def page(self, user_id: str, *, page: int, limit: int, unread_only: bool) -> NotificationPage:
        """``user_id``'s notifications, newest first (only theirs: the user is part of every statement)."""
        t = self.table
        cond = t.c.user_id == sa.bindparam("uid")
        name = "page"
        if unread_only:
            cond = sa.and_(cond, t.c.read_at.is_(None))
            name = "page_unread"
        rows = await self._fetch(
            None,
            name,
            lambda: (
                sa.select(*(t.c[c] for c in _COLUMNS))
                .where(cond)
                .order_by(t.c.id.desc())
                .limit(sa.bindparam("limit"))
                .offset(sa.bindparam("offset"))
            ),
            uid=user_id,
            limit=limit,
            offset=(page - 1) * limit,
        )
        # The total and the unread count in one statement (a filtered count).
        totals = await self._fetch(
            None,
            f"{name}_totals",
            lambda: (
                sa.select(sa.func.count(), sa.func.count().filter(t.c.read_at.is_(None))).select_from(t).where(cond)
            ),
            uid=user_id,
        )
        total, unread = int(totals[0][0]), int(totals[0][1])
        return NotificationPage([self.present(r) for r in rows], total=total, page=page, limit=limit, unread=unread)

    async def recent(self, user_id: str, limit: int) -> tuple[list[dict[str, Any]], int]:
        """``user_id``'s newest notifications and their unread count, in one statement (the bell on every page)."""
        t = self.table

        def build() -> Any:
            # Built once (``_fetch`` compiles it once): the alias and subquery cost more than the read.
            u = t.alias("unread_rows")  # its own FROM: not correlated to the outer rows
            unread = (
                sa.select(sa.func.count())
                .select_from(u)
                .where(u.c.user_id == sa.bindparam("uid"), u.c.read_at.is_(None))
                .scalar_subquery()
            )
            return (
                sa.select(*(t.c[c] for c in _COLUMNS), unread.label("unread"))
                .where(t.c.user_id == sa.bindparam("uid"))
                .order_by(t.c.id.desc())
                .limit(sa.bindparam("limit"))
            )

        rows = await self._fetch(None, "recent", build, uid=user_id, limit=limit)
        # No rows means no notifications at all, so none unread either.
        return [self.present(r[:-1]) for r in rows], int(rows[0][-1]) if rows else 0

    async def since(self, user_id: str, cursor: str, limit: int = 500) -> list[dict[str, Any]]:
        """``user_id``'s notifications after ``cursor`` (a notification id), oldest first: what a client missed."""
        t = self.table
        rows = await self._fetch(
            None,
            "since",
            lambda: (
                sa.select(*(t.c[c] for c in _COLUMNS))
                .where(t.c.user_id == sa.bindparam("uid"), t.c.id > sa.bindparam("cursor"))
                .order_by(t.c.id)
                .limit(sa.bindparam("limit"))
            ),
            uid=user_id,
            cursor=self._id(cursor),
            limit=limit,
        )
        return [self.present(r) for r in rows]

    @staticmethod
    def present(row: Sequence[Any]) -> dict[str, Any]:
        """A stored row as the API and sockets show it."""
        out = dict(zip(_COLUMNS, row, strict=True))
        out["id"] = str(out["id"])
        data = out["data"]
        out["data"] = orjson.loads(data) if isinstance(data, str | bytes) else data
        for key in ("read_at", "created_at"):
            out[key] = _timestamp(out[key])
        out["read"] = out["read_at"] is not None
        return out


def _timestamp(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return format_timestamp(value if value.tzinfo is not None else value.replace(tzinfo=UTC))
    return str(value)


class Notifier:
    """``notify_user`` / ``notify_org``: store notifications and announce them through the outbox."""

    def __init__(self, db: Database, store: NotificationStore, events: EventWriter, members: Any | None) -> None:
        self.db = db
        self.store = store
        self.events = events
        # Tenancy's member store (``of_organization``), when the app has organizations.
        self.members = members

    async def notify_user(
        self,
        user_id: Any,
        *,
        type: str,
        title: str,
        message: str,
        data: dict[str, Any] | None = None,
        org_id: Any = None,
        dedupe_key: str | None = None,
        conn: Connection | None = None,
    ) -> dict[str, Any] | None:
        """Notify one user: stored (read/unread) and pushed to ``user:<id>`` after the commit.

        With ``conn`` it is written in the caller's transaction (pushed only if that commits);
        otherwise in a transaction of its own. ``dedupe_key`` makes the call idempotent per user
        (a handler the outbox may run twice passes the event's id). Returns the notification, or
        None when the key was already used.
        """
        row = self._row(user_id, type, title, message, data, org_id)
        if conn is not None:
            return await self._write(conn, row, dedupe_key)
        async with self.db.transaction() as own:
            return await self._write(own, row, dedupe_key)

    async def notify_org(
        self,
        org_id: Any,
        *,
        type: str,
        title: str,
        message: str,
        data: dict[str, Any] | None = None,
        dedupe_key: str | None = None,
        conn: Connection | None = None,
    ) -> list[dict[str, Any]]:
        """Notify every member of ``org_id`` (one stored notification each, all in one transaction)."""
        members = self.members
        if members is None:
            raise RuntimeError("notify_org needs organizations in the schema")

        async def write(c: Connection) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for member in await members.of_organization(org_id, c):
                row = self._row(member["user_id"], type, title, message, data, org_id)
                written = await self._write(c, row, dedupe_key)
                if written is not None:
                    out.append(written)
            return out

        if conn is not None:
            return await write(conn)
        async with self.db.transaction() as own:
            return await write(own)

    @staticmethod
    def _row(
        user_id: Any, type: str, title: str, message: str, data: dict[str, Any] | None, org_id: Any
    ) -> dict[str, Any]:
        if user_id is None or str(user_id) == "":
            raise invalid_notification("a notification needs a user")
        if not type or len(type) > TYPE_LENGTH:
            raise invalid_notification(f"type must be 1 to {TYPE_LENGTH} characters")
        if not title or len(title) > TITLE_LENGTH:
            raise invalid_notification(f"title must be 1 to {TITLE_LENGTH} characters")
        return {
            "id": str(uuid7()),
            "user_id": str(user_id),
            "org_id": None if org_id is None else str(org_id),
            "type": type,
            "title": title,
            "message": message,
            "data": data,
            "read_at": None,
            "created_at": format_timestamp(utc_now()),
            "read": False,
        }

    async def _write(self, conn: Connection, row: dict[str, Any], dedupe_key: str | None) -> dict[str, Any] | None:
        if dedupe_key is not None and len(dedupe_key) > DEDUPE_LENGTH:
            raise invalid_notification(f"dedupe_key must be at most {DEDUPE_LENGTH} characters")
        if not await self.store.insert(conn, row, dedupe_key):
            return None
        await self.events.record(
            conn,
            DomainEvent(
                id=str(uuid7()),
                topic=NOTIFICATION_TOPIC,
                entity=NOTIFICATION_ENTITY,
                row_id=row["id"],
                org_id=row["org_id"],
                data=row,
                old=None,
                actor_id=None,
                created_at=utc_now(),
            ),
        )
        return row
