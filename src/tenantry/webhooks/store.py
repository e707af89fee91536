"""Every statement on the webhook tables, compiled once per shape, and rows turned into records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tenantry.db import Connection, Database, SQLCompiler
from tenantry.db.codecs import id_to_db, timestamp_from_db, to_db
from tenantry.schema import FieldType
from tenantry.webhooks.records import Attempt, Endpoint, Message
from tenantry.webhooks.tables import WebhookTables

ENDPOINT_COLUMNS = (
    "id",
    "org_id",
    "url",
    "description",
    "event_types",
    "enabled",
    "disabled_reason",
    "secret",
    "previous_secret",
    "previous_secret_until",
    "failing_since",
    "created_at",
    "updated_at",
)
MESSAGE_COLUMNS = (
    "id",
    "endpoint_id",
    "org_id",
    "event_id",
    "event_type",
    "payload",
    "status",
    "attempts",
    "created_at",
    "delivered_at",
)
ATTEMPT_COLUMNS = (
    "id",
    "message_id",
    "endpoint_id",
    "org_id",
    "attempt",
    "status",
    "response_status",
    "response_body",
    "error",
    "latency_ms",
    "created_at",
)
# What an admin may change on an endpoint (one statement writes them all).
EDITABLE = ("url", "description", "event_types", "enabled", "disabled_reason", "failing_since", "updated_at")


def _maybe_time(value: Any) -> dt.datetime | None:
    return None if value is None else timestamp_from_db(value)


class WebhookStore:
    """SQL on ``webhook_endpoints``, ``webhook_messages`` and ``webhook_attempts``."""

    def __init__(self, db: Database, tables: WebhookTables, sql: SQLCompiler) -> None:
        self.db = db
        self.t = tables
        self.sql = sql
        self.dialect = db.dialect_name

    # -- conversions --------------------------------------------------------------------------------

    def _uuid(self, value: Any) -> Any:
        return id_to_db("uuid", self.dialect, value)

    def _org(self, value: Any) -> Any:
        return id_to_db(self.t.org_id_type, self.dialect, value)

    def _time(self, value: dt.datetime | None) -> Any:
        return to_db(FieldType.TIMESTAMP, self.dialect, value)

    def _endpoint(self, row: Sequence[Any]) -> Endpoint:
        v = dict(zip(ENDPOINT_COLUMNS, row, strict=True))
        types = orjson.loads(v["event_types"]) if v["event_types"] is not None else None
        return Endpoint(
            id=str(v["id"]),
            org_id=str(v["org_id"]),
            url=v["url"],
            description=v["description"] or "",
            event_types=None if types is None else tuple(types),
            enabled=bool(v["enabled"]),
            disabled_reason=v["disabled_reason"],
            secret=v["secret"],
            previous_secret=v["previous_secret"],
            previous_secret_until=_maybe_time(v["previous_secret_until"]),
            failing_since=_maybe_time(v["failing_since"]),
            created_at=timestamp_from_db(v["created_at"]),
            updated_at=timestamp_from_db(v["updated_at"]),
        )

    def _endpoint_params(self, e: Endpoint) -> dict[str, Any]:
        return {
            "id": self._uuid(e.id),
            "org_id": self._org(e.org_id),
            "url": e.url,
            "description": e.description,
            "event_types": None if e.event_types is None else orjson.dumps(list(e.event_types)).decode(),
            "enabled": e.enabled,
            "disabled_reason": e.disabled_reason,
            "secret": e.secret,
            "previous_secret": e.previous_secret,
            "previous_secret_until": self._time(e.previous_secret_until),
            "failing_since": self._time(e.failing_since),
            "created_at": self._time(e.created_at),
            "updated_at": self._time(e.updated_at),
        }

    def _message(self, row: Sequence[Any]) -> Message:
        v = dict(zip(MESSAGE_COLUMNS, row, strict=True))
        return Message(
            id=v["id"],
            endpoint_id=str(v["endpoint_id"]),
            org_id=str(v["org_id"]),
            event_id=v["event_id"],
            event_type=v["event_type"],
            payload=v["payload"],
            status=v["status"],
            attempts=int(v["attempts"]),
            created_at=timestamp_from_db(v["created_at"]),
            delivered_at=_maybe_time(v["delivered_at"]),
        )

    def _attempt(self, row: Sequence[Any]) -> Attempt:
        v = dict(zip(ATTEMPT_COLUMNS, row, strict=True))
        return Attempt(
            id=str(v["id"]),
            message_id=v["message_id"],
            endpoint_id=str(v["endpoint_id"]),
            org_id=str(v["org_id"]),
            attempt=int(v["attempt"]),
            status=v["status"],
            response_status=v["response_status"],
            response_body=v["response_body"],
            error=v["error"],
            latency_ms=int(v["latency_ms"]),
            created_at=timestamp_from_db(v["created_at"]),
        )

    # -- running statements ---------------------------------------------------------------------------

    async def _fetch(self, conn: Connection | None, key: str, build: Callable[[], Any], **params: Any) -> list[Any]:
        stmt = self.sql.prepared(("webhooks", key), build)
        args = stmt.params(extras=params)
        return await (conn.fetch(stmt.sql, args) if conn is not None else self.db.fetch(stmt.sql, args))

    async def _execute(self, conn: Connection, key: str, build: Callable[[], Any], **params: Any) -> int:
        stmt = self.sql.prepared(("webhooks", key), build)
        return await conn.execute(stmt.sql, stmt.params(extras=params))

    def _insert(self, table: sa.Table) -> Any:
        return postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table)

    # -- endpoints ------------------------------------------------------------------------------------

    async def endpoints(self, conn: Connection | None, org_id: str) -> list[Endpoint]:
        """The organization's endpoints, oldest first."""
        e = self.t.endpoints
        rows = await self._fetch(
            conn,
            "endpoints",
            lambda: (
                sa.select(*(e.c[c] for c in ENDPOINT_COLUMNS))
                .where(e.c.org_id == sa.bindparam("org"))
                .order_by(e.c.created_at, e.c.id)
            ),
            org=self._org(org_id),
        )
        return [self._endpoint(r) for r in rows]

    async def endpoint(
        self, conn: Connection | None, endpoint_id: str, org_id: str | None = None, *, lock: bool = False
    ) -> Endpoint | None:
        """One endpoint; with ``org_id``, only if it is that organization's. ``lock``: FOR UPDATE (PostgreSQL)."""
        e = self.t.endpoints
        scoped = org_id is not None

        def build() -> Any:
            stmt = sa.select(*(e.c[c] for c in ENDPOINT_COLUMNS)).where(e.c.id == sa.bindparam("id"))
            if scoped:
                stmt = stmt.where(e.c.org_id == sa.bindparam("org"))
            if lock and self.dialect == "postgresql":
                stmt = stmt.with_for_update()
            return stmt

        params: dict[str, Any] = {"id": self._uuid(endpoint_id)}
        if scoped:
            params["org"] = self._org(org_id)
        rows = await self._fetch(conn, f"endpoint:{scoped}:{lock}", build, **params)
        return self._endpoint(rows[0]) if rows else None

    async def insert_endpoint(self, conn: Connection, endpoint: Endpoint) -> None:
        e = self.t.endpoints
        await self._execute(
            conn,
            "insert_endpoint",
            lambda: sa.insert(e).values({c: sa.bindparam(c) for c in ENDPOINT_COLUMNS}),
            **self._endpoint_params(endpoint),
        )

    async def update_endpoint(self, conn: Connection, endpoint: Endpoint) -> None:
        """Write what an admin may change (``EDITABLE``) from ``endpoint``."""
        e = self.t.endpoints
        params = self._endpoint_params(endpoint)
        await self._execute(
            conn,
            "update_endpoint",
            lambda: (
                sa.update(e)
                .where(e.c.id == sa.bindparam("id"), e.c.org_id == sa.bindparam("org_id"))
                .values({c: sa.bindparam(c) for c in EDITABLE})
            ),
            id=params["id"],
            org_id=params["org_id"],
            **{c: params[c] for c in EDITABLE},
        )

    async def set_secrets(self, conn: Connection, endpoint: Endpoint) -> None:
        """Write the endpoint's secrets (a rotation)."""
        e = self.t.endpoints
        params = self._endpoint_params(endpoint)
        names = ("secret", "previous_secret", "previous_secret_until", "updated_at")
        await self._execute(
            conn,
            "set_secrets",
            lambda: sa.update(e).where(e.c.id == sa.bindparam("id")).values({c: sa.bindparam(c) for c in names}),
            id=params["id"],
            **{c: params[c] for c in names},
        )

    async def delete_endpoint(self, conn: Connection, endpoint_id: str, org_id: str) -> int:
        e, m, a = self.t.endpoints, self.t.messages, self.t.attempts
        params = {"id": self._uuid(endpoint_id)}
        # Children first: the foreign keys cascade too, but SQLite only with its pragma on.
        await self._execute(
            conn, "delete_attempts_of", lambda: sa.delete(a).where(a.c.endpoint_id == sa.bindparam("id")), **params
        )
        await self._execute(
            conn, "delete_messages_of", lambda: sa.delete(m).where(m.c.endpoint_id == sa.bindparam("id")), **params
        )
        return await self._execute(
            conn,
            "delete_endpoint",
            lambda: sa.delete(e).where(e.c.id == sa.bindparam("id"), e.c.org_id == sa.bindparam("org")),
            org=self._org(org_id),
            **params,
        )

    async def record_success(self, conn: Connection, endpoint_id: str) -> None:
        """A delivery succeeded: the endpoint is no longer failing."""
        e = self.t.endpoints
        await self._execute(
            conn,
            "record_success",
            lambda: (
                sa.update(e)
                .where(e.c.id == sa.bindparam("id"), e.c.failing_since.is_not(None))
                .values(failing_since=None)
            ),
            id=self._uuid(endpoint_id),
        )

    async def record_failure(self, conn: Connection, endpoint_id: str, now: dt.datetime) -> dt.datetime:
        """A delivery failed: the endpoint fails since its first failure after its last success (returned)."""
        e = self.t.endpoints
        await self._execute(
            conn,
            "record_failure",
            lambda: (
                sa.update(e)
                .where(e.c.id == sa.bindparam("id"), e.c.failing_since.is_(None))
                .values(failing_since=sa.bindparam("now"))
            ),
            id=self._uuid(endpoint_id),
            now=self._time(now),
        )
        rows = await self._fetch(
            conn,
            "failing_since",
            lambda: sa.select(e.c.failing_since).where(e.c.id == sa.bindparam("id")),
            id=self._uuid(endpoint_id),
        )
        return timestamp_from_db(rows[0][0]) if rows and rows[0][0] is not None else now

    async def disable(self, conn: Connection, endpoint_id: str, reason: str, now: dt.datetime) -> bool:
        """Turn an enabled endpoint off with ``reason``; False when it was off already."""
        e = self.t.endpoints
        changed = await self._execute(
            conn,
            "disable",
            lambda: (
                sa.update(e)
                .where(e.c.id == sa.bindparam("id"), e.c.enabled.is_(True))
                .values(enabled=False, disabled_reason=sa.bindparam("reason"), updated_at=sa.bindparam("now"))
            ),
            id=self._uuid(endpoint_id),
            reason=reason,
            now=self._time(now),
        )
        return changed > 0

    # -- messages -------------------------------------------------------------------------------------

    async def insert_message(self, conn: Connection, message: Message) -> bool:
        """Add ``message``; False when its endpoint has a message for its event already (a fan-out retried)."""
        m = self.t.messages
        rows = await self._fetch(
            conn,
            "insert_message",
            lambda: (
                self._insert(m)
                .values({c: sa.bindparam(c) for c in MESSAGE_COLUMNS})
                .on_conflict_do_nothing(index_elements=[m.c.endpoint_id, m.c.event_id])
                .returning(m.c.id)
            ),
            id=message.id,
            endpoint_id=self._uuid(message.endpoint_id),
            org_id=self._org(message.org_id),
            event_id=message.event_id,
            event_type=message.event_type,
            payload=message.payload,
            status=message.status,
            attempts=message.attempts,
            created_at=self._time(message.created_at),
            delivered_at=self._time(message.delivered_at),
        )
        return bool(rows)

    async def message(self, conn: Connection | None, message_id: str, endpoint_id: str | None = None) -> Message | None:
        m = self.t.messages
        scoped = endpoint_id is not None

        def build() -> Any:
            stmt = sa.select(*(m.c[c] for c in MESSAGE_COLUMNS)).where(m.c.id == sa.bindparam("id"))
            return stmt.where(m.c.endpoint_id == sa.bindparam("endpoint")) if scoped else stmt

        params: dict[str, Any] = {"id": message_id}
        if scoped:
            params["endpoint"] = self._uuid(endpoint_id)
        rows = await self._fetch(conn, f"message:{scoped}", build, **params)
        return self._message(rows[0]) if rows else None

    async def messages(
        self, conn: Connection | None, endpoint_id: str, *, limit: int, before: str | None
    ) -> list[Message]:
        """An endpoint's messages, newest first, older than the cursor ``before`` when given."""
        m = self.t.messages
        paged = before is not None

        def build() -> Any:
            stmt = sa.select(*(m.c[c] for c in MESSAGE_COLUMNS)).where(m.c.endpoint_id == sa.bindparam("endpoint"))
            if paged:
                stmt = stmt.where(m.c.id < sa.bindparam("before"))
            return stmt.order_by(m.c.id.desc()).limit(sa.bindparam("limit"))

        params: dict[str, Any] = {"endpoint": self._uuid(endpoint_id), "limit": limit}
        if paged:
            params["before"] = before
        rows = await self._fetch(conn, f"messages:{paged}", build, **params)
        return [self._message(r) for r in rows]

    async def messages_since(
        self, conn: Connection | None, endpoint_id: str, since: dt.datetime, *, failed_only: bool, limit: int
    ) -> list[Message]:
        """An endpoint's messages made at or after ``since`` (only failed ones, if asked), oldest first."""
        m = self.t.messages

        def build() -> Any:
            stmt = sa.select(*(m.c[c] for c in MESSAGE_COLUMNS)).where(
                m.c.endpoint_id == sa.bindparam("endpoint"), m.c.created_at >= sa.bindparam("since")
            )
            if failed_only:
                stmt = stmt.where(m.c.status == "failed")
            return stmt.order_by(m.c.id).limit(sa.bindparam("limit"))

        rows = await self._fetch(
            conn,
            f"messages_since:{failed_only}",
            build,
            endpoint=self._uuid(endpoint_id),
            since=self._time(since),
            limit=limit,
        )
        return [self._message(r) for r in rows]

    async def set_message_state(
        self, conn: Connection, message_id: str, *, status: str, attempts: int, delivered_at: dt.datetime | None
    ) -> None:
        m = self.t.messages
        await self._execute(
            conn,
            "set_message_state",
            lambda: (
                sa.update(m)
                .where(m.c.id == sa.bindparam("id"))
                .values(
                    status=sa.bindparam("status"), attempts=sa.bindparam("attempts"), delivered_at=sa.bindparam("at")
                )
            ),
            id=message_id,
            status=status,
            attempts=attempts,
            at=self._time(delivered_at),
        )

    # -- attempts -------------------------------------------------------------------------------------

    async def insert_attempt(self, conn: Connection, attempt: Attempt) -> None:
        a = self.t.attempts
        await self._execute(
            conn,
            "insert_attempt",
            lambda: sa.insert(a).values({c: sa.bindparam(c) for c in ATTEMPT_COLUMNS}),
            id=self._uuid(attempt.id),
            message_id=attempt.message_id,
            endpoint_id=self._uuid(attempt.endpoint_id),
            org_id=self._org(attempt.org_id),
            attempt=attempt.attempt,
            status=attempt.status,
            response_status=attempt.response_status,
            response_body=attempt.response_body,
            error=attempt.error,
            latency_ms=attempt.latency_ms,
            created_at=self._time(attempt.created_at),
        )

    async def attempts(
        self, conn: Connection | None, endpoint_id: str, *, message_id: str | None, limit: int, before: str | None
    ) -> list[Attempt]:
        """An endpoint's attempts (of one message, when given), newest first."""
        a = self.t.attempts
        of_message, paged = message_id is not None, before is not None

        def build() -> Any:
            stmt = sa.select(*(a.c[c] for c in ATTEMPT_COLUMNS)).where(a.c.endpoint_id == sa.bindparam("endpoint"))
            if of_message:
                stmt = stmt.where(a.c.message_id == sa.bindparam("message"))
            if paged:
                stmt = stmt.where(a.c.id < sa.bindparam("before"))
            return stmt.order_by(a.c.id.desc()).limit(sa.bindparam("limit"))

        params: dict[str, Any] = {"endpoint": self._uuid(endpoint_id), "limit": limit}
        if of_message:
            params["message"] = message_id
        if paged:
            params["before"] = self._uuid(before)
        rows = await self._fetch(conn, f"attempts:{of_message}:{paged}", build, **params)
        return [self._attempt(r) for r in rows]

    # -- retention ------------------------------------------------------------------------------------

    async def prune(self, conn: Connection, before: dt.datetime) -> int:
        """Delete the attempts and messages made before ``before``; returns how many messages."""
        m, a = self.t.messages, self.t.attempts
        cutoff = self._time(before)
        await self._execute(
            conn, "prune_attempts", lambda: sa.delete(a).where(a.c.created_at < sa.bindparam("before")), before=cutoff
        )
        # A message's attempts may be younger than it (a resend): those go with it.
        await self._execute(
            conn,
            "prune_orphans",
            lambda: sa.delete(a).where(
                a.c.message_id.in_(sa.select(m.c.id).where(m.c.created_at < sa.bindparam("before")))
            ),
            before=cutoff,
        )
        return await self._execute(
            conn, "prune_messages", lambda: sa.delete(m).where(m.c.created_at < sa.bindparam("before")), before=cutoff
        )
