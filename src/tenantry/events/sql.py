"""The SQL of the event outbox, built with SQLAlchemy Core and compiled once (``SQLCompiler.prepared``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from tenantry.db import SQLCompiler, Statement
from tenantry.db.codecs import UTC, id_to_db, to_db
from tenantry.db.tables import TableSet
from tenantry.events.bus import DomainEvent
from tenantry.events.tables import events_table
from tenantry.schema import FieldType

_EVENT_COLUMNS = ("id", "topic", "entity", "row_id", "org_id", "payload", "created_at")


class EventSQL:
    """Every statement the events capability runs, for one outbox table on one dialect."""

    def __init__(self, tables: TableSet, sql: SQLCompiler) -> None:
        self.table = events_table(tables)
        self.sql = sql
        self.dialect = sql.dialect_name
        # Claims take a transaction-scoped advisory lock on PostgreSQL (see ``claim``); its key is
        # derived from the table name, so two apps sharing a database do not block each other.
        digest = hashlib.sha256(f"tenantry.events:{self.table.name}".encode()).digest()
        self.lock_key = int.from_bytes(digest[:8], "big", signed=True)

    def _stmt(self, name: str, build: Any) -> Statement:
        return self.sql.prepared(("events", self.table.name, name), build)

    # -- values ----------------------------------------------------------------------------------

    def time(self, value: dt.datetime) -> Any:
        return to_db(FieldType.TIMESTAMP, self.dialect, value)

    def event_id(self, value: str | uuid.UUID) -> Any:
        return id_to_db("uuid", self.dialect, value)

    # -- statements ------------------------------------------------------------------------------

    @property
    def insert(self) -> Statement:
        t = self.table
        names = ("id", "topic", "entity", "row_id", "org_id", "payload", "created_at")
        return self._stmt(
            "insert", lambda: sa.insert(t).values({n: sa.bindparam(f"e_{n}") for n in names} | {"attempts": 0})
        )

    @property
    def lock(self) -> Statement:
        return self._stmt("lock", lambda: sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("key"))))

    @property
    def claim(self) -> Statement:
        """Claim the oldest unpublished events, unless another dispatcher holds a live claim.

        One dispatcher at a time delivers, which is what keeps delivery in order across processes:
        the claim is taken only when no unpublished event is held by someone else, and claims are
        serialised (PostgreSQL: an advisory lock taken first in the same transaction; SQLite: its
        single writer). Events held by a claim whose time ran out are the oldest unpublished ones,
        so they are taken over first.
        """
        t = self.table

        def build() -> Any:
            busy = t.alias("busy")
            held = sa.exists().where(busy.c.published_at.is_(None), busy.c.claimed_until > sa.bindparam("now"))
            oldest = sa.select(t.c.id).where(t.c.published_at.is_(None)).order_by(t.c.id).limit(sa.bindparam("limit"))
            return (
                sa.update(t)
                .where(t.c.id.in_(oldest), ~held)
                .values(claim_id=sa.bindparam("claim"), claimed_until=sa.bindparam("until"), attempts=t.c.attempts + 1)
                .returning(*(t.c[c] for c in _EVENT_COLUMNS))
            )

        return self._stmt("claim", build)

    @property
    def publish(self) -> Statement:
        """Mark this claim's events up to ``upto`` (in id order) published; 0 rows: the claim was lost."""
        t = self.table
        return self._stmt(
            "publish",
            lambda: (
                sa.update(t)
                .where(
                    t.c.claim_id == sa.bindparam("claim"), t.c.id <= sa.bindparam("upto"), t.c.published_at.is_(None)
                )
                .values(published_at=sa.bindparam("now"), claim_id=None, claimed_until=None)
            ),
        )

    @property
    def renew(self) -> Statement:
        t = self.table
        return self._stmt(
            "renew",
            lambda: (
                sa.update(t)
                .where(t.c.claim_id == sa.bindparam("claim"), t.c.published_at.is_(None))
                .values(claimed_until=sa.bindparam("until"))
            ),
        )

    @property
    def release(self) -> Statement:
        """Give back the claim's undelivered events (a dispatcher stopping), for the next claim to take at once."""
        t = self.table
        return self._stmt(
            "release",
            lambda: (
                sa.update(t)
                .where(t.c.claim_id == sa.bindparam("claim"), t.c.published_at.is_(None))
                .values(claim_id=None, claimed_until=None)
            ),
        )

    @property
    def note_error(self) -> Statement:
        t = self.table
        return self._stmt(
            "note_error",
            lambda: (
                sa.update(t)
                .where(t.c.id == sa.bindparam("id"), t.c.claim_id == sa.bindparam("claim"))
                .values(last_error=sa.bindparam("error"))
            ),
        )

    @property
    def prune(self) -> Statement:
        t = self.table
        return self._stmt(
            "prune",
            lambda: sa.delete(t).where(t.c.published_at.is_not(None), t.c.published_at < sa.bindparam("before")),
        )

    # -- rows ------------------------------------------------------------------------------------

    def insert_params(self, event: DomainEvent) -> list[Any]:
        payload = {"data": event.data, "old": event.old, "actor_id": event.actor_id}
        return self.insert.params(
            extras={
                "e_id": self.event_id(event.id),
                "e_topic": event.topic,
                "e_entity": event.entity,
                "e_row_id": event.row_id,
                "e_org_id": event.org_id,
                "e_payload": orjson.dumps(payload, default=str).decode(),
                "e_created_at": self.time(event.created_at),
            }
        )

    @staticmethod
    def event(row: Sequence[Any]) -> DomainEvent:
        """A claimed row (``_EVENT_COLUMNS`` order) as subscribers receive it."""
        id_, topic, entity, row_id, org_id, payload, created_at = row
        body = orjson.loads(payload) if isinstance(payload, str | bytes) else payload
        return DomainEvent(
            id=str(id_),
            topic=topic,
            entity=entity,
            row_id=row_id,
            org_id=org_id,
            data=body.get("data"),
            old=body.get("old"),
            actor_id=body.get("actor_id"),
            created_at=_as_datetime(created_at),
        )


def _as_datetime(value: Any) -> dt.datetime:
    # PostgreSQL returns aware datetimes; SQLite the ISO text written by tenantry.db.codecs.
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
