"""Every statement on ``idempotency_keys``, compiled once per shape."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tenantry.db import Connection, Database, SQLCompiler
from tenantry.db.codecs import id_to_db, timestamp_from_db, to_db
from tenantry.schema import FieldType

COLUMNS = ("id", "fingerprint", "state", "token", "locked_until", "status", "body", "created_at")
RUNNING = "running"
DONE = "done"
# States written as SQL literals: a compiled statement's bind parameters are all named ones.
_RUNNING: sa.ColumnClause[str] = sa.literal_column(f"'{RUNNING}'")
_DONE: sa.ColumnClause[str] = sa.literal_column(f"'{DONE}'")


@dataclass(frozen=True, slots=True)
class KeyRow:
    """A stored key as the claim logic reads it."""

    id: str
    fingerprint: str
    state: str
    token: str
    locked_until: dt.datetime | None
    status: int | None
    body: str | None
    created_at: dt.datetime


class KeyStore:
    """SQL on ``idempotency_keys``: find, claim, take over, seal, release, sweep."""

    def __init__(self, db: Database, table: sa.Table, sql: SQLCompiler) -> None:
        self.db = db
        self.t = table
        self.sql = sql
        self.dialect = db.dialect_name

    def _time(self, value: dt.datetime | None) -> Any:
        return to_db(FieldType.TIMESTAMP, self.dialect, value)

    def _id(self, value: str) -> Any:
        return id_to_db("uuid", self.dialect, value)

    async def _fetch(self, conn: Connection | None, key: str, build: Callable[[], Any], **params: Any) -> list[Any]:
        stmt = self.sql.prepared(("idempotency", key), build)
        args = stmt.params(extras=params)
        return await (conn.fetch(stmt.sql, args) if conn is not None else self.db.fetch(stmt.sql, args))

    async def _execute(self, conn: Connection, key: str, build: Callable[[], Any], **params: Any) -> int:
        stmt = self.sql.prepared(("idempotency", key), build)
        return await conn.execute(stmt.sql, stmt.params(extras=params))

    @staticmethod
    def _row(row: Sequence[Any]) -> KeyRow:
        v = dict(zip(COLUMNS, row, strict=True))
        return KeyRow(
            id=str(v["id"]),
            fingerprint=v["fingerprint"],
            state=v["state"],
            token=v["token"],
            locked_until=None if v["locked_until"] is None else timestamp_from_db(v["locked_until"]),
            status=v["status"],
            body=v["body"],
            created_at=timestamp_from_db(v["created_at"]),
        )

    async def find(self, scope: str, key: str) -> KeyRow | None:
        """The key's row in ``scope``, if any (a plain read: it waits for no writer)."""
        t = self.t
        rows = await self._fetch(
            None,
            "find",
            lambda: sa.select(*(t.c[c] for c in COLUMNS)).where(
                t.c.scope == sa.bindparam("scope"), t.c.idem_key == sa.bindparam("idem")
            ),
            scope=scope,
            idem=key,
        )
        return self._row(rows[0]) if rows else None

    async def insert(
        self,
        scope: str,
        key: str,
        user_id: str | None,
        fingerprint: str,
        token: str,
        now: dt.datetime,
        until: dt.datetime,
    ) -> str | None:
        """A new running key; its id, or None when the scope holds that key already (a race lost)."""
        t = self.t
        new_id = str(uuid.uuid4())

        def build() -> Any:
            insert = postgresql.insert(t) if self.dialect == "postgresql" else sqlite.insert(t)
            values: dict[str, Any] = {
                c: sa.bindparam(c) for c in ("id", "scope", "idem_key", "user_id", "fingerprint", "token")
            }
            values |= {"state": _RUNNING, "locked_until": sa.bindparam("until")}
            values |= {"created_at": sa.bindparam("now")}
            return insert.values(values).on_conflict_do_nothing(index_elements=["scope", "idem_key"])

        async with self.db.transaction() as conn:
            inserted = await self._execute(
                conn,
                "insert",
                build,
                id=self._id(new_id),
                scope=scope,
                idem_key=key,
                user_id=user_id,
                fingerprint=fingerprint,
                token=token,
                until=self._time(until),
                now=self._time(now),
            )
        return new_id if inserted else None

    async def take_over(
        self, row: KeyRow, fingerprint: str, token: str, created: dt.datetime, until: dt.datetime
    ) -> bool:
        """Hold ``row`` for a new request, if nobody changed it since it was read.

        A running key whose lease ran out (its request died), or an expired key not swept yet,
        which starts again as new (``fingerprint`` and ``created`` are then the new request's).
        """
        t = self.t
        async with self.db.transaction() as conn:
            changed = await self._execute(
                conn,
                "take_over",
                lambda: (
                    sa.update(t)
                    .where(
                        t.c.id == sa.bindparam("row_id"),
                        t.c.token == sa.bindparam("old_token"),
                        t.c.state == sa.bindparam("old_state"),
                    )
                    .values(
                        fingerprint=sa.bindparam("new_fingerprint"),
                        token=sa.bindparam("new_token"),
                        state=_RUNNING,
                        locked_until=sa.bindparam("until"),
                        status=sa.null(),
                        body=sa.null(),
                        created_at=sa.bindparam("created"),
                    )
                ),
                row_id=self._id(row.id),
                old_token=row.token,
                old_state=row.state,
                new_fingerprint=fingerprint,
                new_token=token,
                until=self._time(until),
                created=self._time(created),
            )
        return changed == 1

    async def seal(self, conn: Connection, row_id: str, token: str, status: int, body: str | None) -> bool:
        """Record the answer on ``conn`` (the write's own transaction); False if the key is no longer ours."""
        t = self.t
        changed = await self._execute(
            conn,
            "seal",
            lambda: (
                sa.update(t)
                .where(
                    t.c.id == sa.bindparam("row_id"),
                    t.c.token == sa.bindparam("holder"),
                    t.c.state == _RUNNING,
                )
                .values(
                    state=_DONE,
                    locked_until=sa.null(),
                    status=sa.bindparam("answer_status"),
                    body=sa.bindparam("answer_body"),
                )
            ),
            row_id=self._id(row_id),
            holder=token,
            answer_status=status,
            answer_body=body,
        )
        return changed == 1

    async def release(self, row_id: str, token: str) -> None:
        """Give a running key up (its request wrote nothing): a retry runs as new."""
        t = self.t
        async with self.db.transaction() as conn:
            await self._execute(
                conn,
                "release",
                lambda: sa.delete(t).where(
                    t.c.id == sa.bindparam("row_id"),
                    t.c.token == sa.bindparam("holder"),
                    t.c.state == _RUNNING,
                ),
                row_id=self._id(row_id),
                holder=token,
            )

    async def sweep(self, conn: Connection, before: dt.datetime) -> int:
        """Delete the keys created before ``before``; how many."""
        t = self.t
        return await self._execute(
            conn,
            "sweep",
            lambda: sa.delete(t).where(t.c.created_at < sa.bindparam("before")),
            before=self._time(before),
        )
