"""Every statement of the outbox, built with SQLAlchemy Core and compiled once per dialect.

Statements are ``tenantry.db.Statement``s (compiled SQL, parameters by name), kept with the events
table (``outbox_sql``), so a process compiles each once however many ``Outbox`` objects it makes.
Values cross into the database here only (``time``, ``event_id``) and come back here only
(``claimed``, ``read_time``): the rest of the package never knows which database it runs on.

The claims (see ``claim``) are the heart of it:

- unordered: ``UPDATE … WHERE event_id IN (SELECT … ORDER BY next_attempt_at LIMIT n FOR UPDATE
  SKIP LOCKED) RETURNING …``: concurrent workers skip each other's rows (PostgreSQL); SQLite has one
  writer at a time (``BEGIN IMMEDIATE``) and needs no row locks;
- ordered: the same ``UPDATE``, taking only due deliveries of groups with nothing held or waiting
  before them (``NOT EXISTS`` a pending delivery of the group, earlier in event order, that is not
  due). Claims of one subscriber are serialised by a transaction-scoped advisory lock (PostgreSQL),
  so two processes never take parts of one group: the second sees the first's claim as held.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tenantry.db import Statement
from tenantry.db.codecs import id_to_db, timestamp_from_db, to_db
from tenantry.db.compiler import compile_statement
from tenantry.db.database import Row, driver_dialect
from tenantry.db.tables import DialectName, TableSet
from tenantry.events.event import DomainEvent
from tenantry.events.tables import DONE, FAILED, PENDING, outbox_tables
from tenantry.schema import FieldType

_CACHE_KEY = "tenantry.events.sql"
MAX_ERROR_LENGTH = 2000
MAX_RESULT_LENGTH = 255

EVENT_COLUMNS = ("id", "topic", "entity", "row_id", "org_id", "payload", "created_at", "trace_context")


def _is(status: Any, value: str) -> Any:
    # The status inline, not a parameter: a prepared statement's generic plan can then still use
    # the partial indexes (``WHERE status = 'pending'``), which a parameter's value cannot prove.
    return status == sa.literal_column(f"'{value}'")


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery a claim holds: the event, and which attempt this is (1 for the first)."""

    event: DomainEvent
    attempt: int
    ordering_key: str | None


class OutboxSQL:
    """The compiled statements for one pair of outbox tables on one dialect."""

    def __init__(self, tables: TableSet) -> None:
        self.events, self.deliveries = outbox_tables(tables)
        self.dialect: DialectName = tables.dialect
        self._sa_dialect = driver_dialect(tables.dialect)
        self._cache: dict[tuple[Any, ...], Statement] = {}

    def _stmt(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Statement:
        stmt = self._cache.get(key)
        if stmt is None:
            stmt = self._cache[key] = compile_statement(build(), self._sa_dialect)
        return stmt

    def lock_key(self, subscriber: str) -> int:
        """The advisory lock serialising one ordered subscriber's claims (two apps' tables do not share it)."""
        digest = hashlib.sha256(f"tenantry.outbox:{self.deliveries.name}:{subscriber}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    # -- values ----------------------------------------------------------------------------------

    def time(self, value: dt.datetime) -> Any:
        """A timestamp as the driver takes it."""
        return to_db(FieldType.TIMESTAMP, self.dialect, value)

    @staticmethod
    def read_time(value: Any) -> dt.datetime:
        """A stored timestamp as an aware datetime."""
        return timestamp_from_db(value)

    def event_id(self, value: str | uuid.UUID) -> Any:
        """An event id as the driver takes it (``ValueError`` when it is not a UUID)."""
        return id_to_db("uuid", self.dialect, value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))

    # -- writing events ----------------------------------------------------------------------------

    def _insert_event(self) -> Any:
        e = self.events
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        return (
            insert(e)
            .values({c: sa.bindparam(f"e_{c}") for c in (*EVENT_COLUMNS, "dedupe_key")})
            # An action's event exists once: the second insert of its key is skipped, not an error
            # (an error would abort the caller's transaction on PostgreSQL).
            .on_conflict_do_nothing(index_elements=[e.c.dedupe_key])
            .returning(e.c.id)
        )

    def insert_event(self) -> Statement:
        """The event alone; returns its id, or no row when its dedupe key exists."""
        return self._stmt(("insert_event",), self._insert_event)

    def _delivery_rows(self, count: int) -> Any:
        rows: list[tuple[Any, Any]] = [(sa.bindparam(f"s{i}"), sa.bindparam(f"k{i}")) for i in range(count)]
        columns = (sa.column("subscriber", sa.String), sa.column("ordering_key", sa.String))
        return sa.values(*columns, name="subscribers").data(rows)

    def publish(self, count: int) -> Statement:
        """PostgreSQL: the event and its ``count`` deliveries in one statement; no row when deduped.

        A data-modifying CTE inserts the event; the deliveries are selected from what it returned,
        so an event skipped for its dedupe key gets none.
        """

        def build() -> Any:
            d = self.deliveries
            event = self._insert_event().cte("event")
            subscribers = self._delivery_rows(count)
            rows = sa.select(
                event.c.id,
                subscribers.c.subscriber,
                subscribers.c.ordering_key,
                sa.literal(PENDING),
                sa.literal(0),
                sa.bindparam("now"),
            ).select_from(event.join(subscribers, sa.true()))
            names = ["event_id", "subscriber", "ordering_key", "status", "attempts", "next_attempt_at"]
            return sa.insert(d).from_select(names, rows).add_cte(event).returning(d.c.event_id)

        return self._stmt(("publish", count), build)

    def add_deliveries(self, count: int) -> Statement:
        """``count`` deliveries of one event; one that exists already is skipped (a retried fan-out adds none twice)."""

        def build() -> Any:
            d = self.deliveries
            insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
            values = [
                {
                    "event_id": sa.bindparam("event_id"),
                    "subscriber": sa.bindparam(f"s{i}"),
                    "ordering_key": sa.bindparam(f"k{i}"),
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": sa.bindparam("now"),
                }
                for i in range(count)
            ]
            return insert(d).values(values).on_conflict_do_nothing(index_elements=[d.c.event_id, d.c.subscriber])

        return self._stmt(("add_deliveries", count), build)

    def event_params(self, event: DomainEvent, dedupe_key: str | None) -> dict[str, Any]:
        """The ``e_*`` values of ``insert_event`` and ``publish``."""
        payload = {"data": event.data, "old": event.old, "actor_id": event.actor_id}
        return {
            "e_id": self.event_id(event.id),
            "e_topic": event.topic,
            "e_entity": event.entity,
            "e_row_id": event.row_id,
            "e_org_id": event.org_id,
            "e_payload": orjson.dumps(payload, default=str).decode(),
            "e_created_at": self.time(event.created_at),
            "e_dedupe_key": dedupe_key,
            "e_trace_context": event.trace_context,
        }

    @staticmethod
    def delivery_params(targets: Sequence[tuple[str, str | None]]) -> dict[str, Any]:
        """The ``s<i>``/``k<i>`` values (subscriber, ordering key) of ``publish`` and ``add_deliveries``."""
        values: dict[str, Any] = {}
        for i, (name, key) in enumerate(targets):
            values[f"s{i}"] = name
            values[f"k{i}"] = key
        return values

    # -- claims ------------------------------------------------------------------------------------

    def due(self) -> Statement:
        """Whether ``subscriber`` has a delivery due at ``now`` (a read: an idle poll takes no write lock)."""
        d = self.deliveries
        return self._stmt(
            ("due",),
            lambda: (
                sa.select(sa.literal(1))
                .where(
                    d.c.subscriber == sa.bindparam("subscriber"),
                    _is(d.c.status, PENDING),
                    d.c.next_attempt_at <= sa.bindparam("now"),
                )
                .limit(1)
            ),
        )

    def backlog(self) -> Statement:
        """Per subscriber: its pending deliveries and the creation time of the oldest one's event."""
        d, e = self.deliveries, self.events
        return self._stmt(
            ("backlog",),
            lambda: (
                sa.select(d.c.subscriber, sa.func.count(), sa.func.min(e.c.created_at))
                .select_from(d.join(e, e.c.id == d.c.event_id))
                .where(_is(d.c.status, PENDING))
                .group_by(d.c.subscriber)
            ),
        )

    def lock(self) -> Statement:
        """PostgreSQL: wait for the subscriber's claim lock, held until the transaction ends."""
        return self._stmt(("lock",), lambda: sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("key"))))

    def claim(self, ordered: bool) -> Statement:
        """Take up to ``limit`` due deliveries of ``subscriber`` for ``claim`` until ``until``.

        Due: pending, and ``next_attempt_at`` passed (a first attempt, a retry whose backoff is
        over, or a claim whose lease ran out: its worker died). Ordered: also the first undone
        of its group, or behind only due ones: no earlier pending delivery of the group is held
        or waiting. On PostgreSQL it returns the deliveries with their events; on SQLite
        ``claimed_rows`` reads them.
        """

        def build() -> Any:
            d, e = self.deliveries, self.events
            now: Any = sa.bindparam("now")
            c = d.alias("candidate")  # its own name: the UPDATE's table must not correlate into the pick
            pick = sa.select(c.c.event_id).where(
                c.c.subscriber == sa.bindparam("subscriber"), _is(c.c.status, PENDING), c.c.next_attempt_at <= now
            )
            if ordered:
                before = d.alias("earlier")
                waiting = (
                    sa.exists()
                    .where(
                        before.c.subscriber == c.c.subscriber,
                        before.c.ordering_key == c.c.ordering_key,
                        _is(before.c.status, PENDING),
                        before.c.next_attempt_at > now,
                        before.c.event_id < c.c.event_id,
                    )
                    .correlate(c)
                )
                pick = pick.where(~waiting).order_by(c.c.event_id)
            else:
                pick = pick.order_by(c.c.next_attempt_at, c.c.event_id)
            pick = pick.limit(sa.bindparam("limit"))
            if self.dialect == "postgresql" and not ordered:
                # Concurrent workers skip each other's rows instead of waiting for them or taking them
                # too. Ordered claims are serialised by the lock instead: skipping a locked row there
                # could take a later delivery of its group before it.
                pick = pick.with_for_update(skip_locked=True)
            claim = (
                sa.update(d)
                .where(
                    d.c.subscriber == sa.bindparam("subscriber"),
                    d.c.event_id.in_(pick),
                    # Checked again on the row as it is once locked: a concurrent renewal or mark wins.
                    _is(d.c.status, PENDING),
                    d.c.next_attempt_at <= now,
                )
                .values(
                    claim_id=sa.bindparam("claim"),
                    claimed_until=sa.bindparam("until"),
                    next_attempt_at=sa.bindparam("until"),
                    attempts=d.c.attempts + 1,
                )
            )
            if self.dialect != "postgresql":
                return claim  # SQLite's RETURNING cannot name another table: ``claimed_rows`` reads them
            return claim.where(e.c.id == d.c.event_id).returning(*self._claimed_columns())

        return self._stmt(("claim", ordered), build)

    def _claimed_columns(self) -> tuple[Any, ...]:
        d, e = self.deliveries, self.events
        return (d.c.attempts, d.c.ordering_key, *(e.c[col] for col in EVENT_COLUMNS))

    def claimed_rows(self) -> Statement:
        """SQLite: what ``claim`` took, read in the same transaction (the rows PostgreSQL's claim returns)."""
        d, e = self.deliveries, self.events
        return self._stmt(
            ("claimed_rows",),
            lambda: (
                sa.select(*self._claimed_columns())
                .select_from(d.join(e, e.c.id == d.c.event_id))
                .where(d.c.subscriber == sa.bindparam("subscriber"), d.c.claim_id == sa.bindparam("claim"))
            ),
        )

    def claimed(self, row: Row) -> Claimed:
        """A row ``claim`` returned."""
        attempts, ordering_key, *event = row
        return Claimed(self.event(event), int(attempts), ordering_key)

    @classmethod
    def event(cls, row: Sequence[Any]) -> DomainEvent:
        """An event row (``EVENT_COLUMNS`` order) as subscribers receive it."""
        id_, topic, entity, row_id, org_id, payload, created_at, trace_context = row
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
            created_at=cls.read_time(created_at),
            trace_context=trace_context,
        )

    # -- marks (fenced: only the claim that holds a delivery changes it) ---------------------------

    def _fenced(self) -> Any:
        d = self.deliveries
        return sa.and_(
            d.c.event_id == sa.bindparam("event_id"),
            d.c.subscriber == sa.bindparam("subscriber"),
            d.c.claim_id == sa.bindparam("claim"),
            _is(d.c.status, PENDING),
        )

    def mark_done(self) -> Statement:
        """Delivered: ``result`` kept, the claim cleared. 0 rows: another claim holds it now."""
        d = self.deliveries
        return self._stmt(
            ("mark_done",),
            lambda: (
                sa.update(d)
                .where(self._fenced())
                .values(
                    status=DONE,
                    done_at=sa.bindparam("now"),
                    result=sa.bindparam("result"),
                    claim_id=None,
                    claimed_until=None,
                    last_error=None,
                )
            ),
        )

    def mark_retry(self) -> Statement:
        """Failed, to be tried again at ``next_at`` (later deliveries of an ordered group wait for it)."""
        return self._reschedule("mark_retry", counted=True)

    def defer(self) -> Statement:
        """Not attempted after all (a dependency is away): due again at ``next_at``, its attempt not counted."""
        return self._reschedule("defer", counted=False)

    def _reschedule(self, name: str, *, counted: bool) -> Statement:
        d = self.deliveries
        values: dict[str, Any] = {
            "next_attempt_at": sa.bindparam("next_at"),
            "last_error": sa.bindparam("error"),
            "claim_id": None,
            "claimed_until": None,
        }
        if not counted:
            values["attempts"] = d.c.attempts - 1
        return self._stmt((name,), lambda: sa.update(d).where(self._fenced()).values(**values))

    def mark_failed(self) -> Statement:
        """Given up (dead): kept as ``failed`` for the failed retention, and no longer holding its group back."""
        d = self.deliveries
        return self._stmt(
            ("mark_failed",),
            lambda: (
                sa.update(d)
                .where(self._fenced())
                .values(
                    status=FAILED,
                    done_at=sa.bindparam("now"),
                    last_error=sa.bindparam("error"),
                    claim_id=None,
                    claimed_until=None,
                )
            ),
        )

    def _held(self) -> tuple[Any, ...]:
        d = self.deliveries
        claim = d.c.claim_id == sa.bindparam("claim")
        return (d.c.subscriber == sa.bindparam("subscriber"), claim, _is(d.c.status, PENDING))

    def renew(self) -> Statement:
        """Extend the claim's lease on what it still holds; returns the event ids it still holds."""
        d = self.deliveries
        return self._stmt(
            ("renew",),
            lambda: (
                sa.update(d)
                .where(*self._held())
                .values(claimed_until=sa.bindparam("until"), next_attempt_at=sa.bindparam("until"))
                .returning(d.c.event_id)
            ),
        )

    def release(self, group: bool) -> Statement:
        """Hand back deliveries the claim never started (all of them, or those of one ``ordering_key``).

        Due again at once, and their attempt is not counted: none was made.
        """
        d = self.deliveries

        def build() -> Any:
            where = list(self._held())
            if group:
                where.append(d.c.ordering_key == sa.bindparam("ordering_key"))
            return (
                sa.update(d)
                .where(*where)
                .values(
                    next_attempt_at=sa.bindparam("now"),
                    claim_id=None,
                    claimed_until=None,
                    attempts=d.c.attempts - 1,
                )
            )

        return self._stmt(("release", group), build)

    # -- pruning -----------------------------------------------------------------------------------

    def prune_deliveries(self) -> Statement:
        """Delete deliveries done before ``done_before`` and dead ones failed before ``failed_before``."""
        d = self.deliveries
        return self._stmt(
            ("prune_deliveries",),
            lambda: sa.delete(d).where(
                sa.or_(
                    sa.and_(_is(d.c.status, DONE), d.c.done_at < sa.bindparam("done_before")),
                    sa.and_(_is(d.c.status, FAILED), d.c.done_at < sa.bindparam("failed_before")),
                )
            ),
        )

    def prune_events(self) -> Statement:
        """Delete events written before ``before`` that no delivery refers to any more."""
        e, d = self.events, self.deliveries
        return self._stmt(
            ("prune_events",),
            lambda: sa.delete(e).where(
                e.c.created_at < sa.bindparam("before"),
                ~sa.exists().where(d.c.event_id == e.c.id),
            ),
        )


def outbox_sql(tables: TableSet) -> OutboxSQL:
    """The statements for ``tables``' outbox, kept with its events table (compiled once per process)."""
    events, _ = outbox_tables(tables)
    cached = events.info.get(_CACHE_KEY)
    if not isinstance(cached, OutboxSQL) or cached.dialect != tables.dialect:
        cached = OutboxSQL(tables)
        events.info[_CACHE_KEY] = cached
    return cached
