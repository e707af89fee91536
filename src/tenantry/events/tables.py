"""The outbox's two tables: ``outbox_events`` (what happened) and ``outbox_deliveries`` (who still has to hear it).

An event row is written in the transaction of its change, with one delivery row per subscriber
whose pattern matches (see ``tenantry.events.outbox``). Event ids are UUIDv7 (time-ordered), the
order ordered subscribers receive them in. A delivery is ``pending`` until its subscriber's handler
succeeds (``done``) or its attempts run out (``failed``); while a worker holds it, ``claim_id``
names the claim and ``next_attempt_at`` (= ``claimed_until``) is when the claim's lease runs out,
so "due" is one comparison whether the delivery waits for a retry or for a dead worker's lease.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.sql.elements import conv

from tenantry.db.tables import TableSet, db_name
from tenantry.db.types import GUID, UTCTimestamp, json_type
from tenantry.schema import Schema

EVENTS_TABLE: Final = "outbox_events"
DELIVERIES_TABLE: Final = "outbox_deliveries"

PENDING: Final = "pending"
DONE: Final = "done"
FAILED: Final = "failed"
STATUSES: Final = (PENDING, DONE, FAILED)

# Room for a capability's prefix ("mail:") before a caller's key of up to 255 characters.
DEDUPE_KEY_LENGTH: Final = 320
# A traceparent is 55 characters; a tracestate beside it may take up to 512 more.
TRACE_CONTEXT_LENGTH: Final = 600


def events_tables(ts: TableSet, schema: Schema) -> None:
    """Add ``outbox_events`` and ``outbox_deliveries`` to the metadata (a ``TableContributor``)."""
    event_columns: list[Any] = [
        sa.Column("id", GUID(), primary_key=True),
        # <entity>.<created|updated|deleted>, or a capability's own ($mail.requested): what subscribers match on.
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("entity", sa.String(63), nullable=False),
        # Text whatever the entity's id type (UUID, serial, Better Auth's text ids up to 64 characters).
        sa.Column("row_id", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=True),
        # {"data": row as the API returns it, "old": the row before (updates), "actor_id": who acted}
        sa.Column("payload", json_type(), nullable=False),
        sa.Column("created_at", UTCTimestamp(), nullable=False),
        # The action an event stands for, when it must exist once (a mail): a second publish is a no-op.
        sa.Column("dedupe_key", sa.String(DEDUPE_KEY_LENGTH), nullable=True),
        # The trace the event was published in (opaque: a W3C traceparent), linked by its deliveries.
        sa.Column("trace_context", sa.String(TRACE_CONTEXT_LENGTH), nullable=True),
    ]
    events = sa.Table(EVENTS_TABLE, ts.metadata, *event_columns)
    # NULLs never conflict (both databases), so events without a key are not constrained.
    events.append_constraint(sa.UniqueConstraint("dedupe_key", name=conv(db_name("uq", EVENTS_TABLE, "dedupe_key"))))
    # Pruning finds old events; the dev outbox lists the newest mail.
    sa.Index(db_name("ix", EVENTS_TABLE, "created_at"), events.c.created_at)
    ts.tables[EVENTS_TABLE] = events

    status = sa.Enum(
        *STATUSES,
        native_enum=False,
        create_constraint=True,
        length=max(len(s) for s in STATUSES),
        name="status",
        validate_strings=False,
    )
    delivery_columns: list[Any] = [
        sa.Column(
            "event_id",
            GUID(),
            sa.ForeignKey(events.c.id, ondelete="CASCADE", name=conv(db_name("fk", DELIVERIES_TABLE, "event_id"))),
            primary_key=True,
        ),
        sa.Column("subscriber", sa.String(100), primary_key=True),
        # The group whose deliveries go in event order (NULL: unordered subscriber).
        sa.Column("ordering_key", sa.String(255), nullable=True),
        sa.Column("status", status, nullable=False),
        # Incremented by each claim: attempts started (an attempt cut short by a crash counts).
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        # Due from then: the first attempt at once, a retry after its backoff, a claim when its lease runs out.
        sa.Column("next_attempt_at", UTCTimestamp(), nullable=False),
        # The claim holding the delivery (a random id per claim), which fences every mark.
        sa.Column("claim_id", sa.String(36), nullable=True),
        sa.Column("claimed_until", UTCTimestamp(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        # What the handler returned (a mail provider's message id).
        sa.Column("result", sa.String(255), nullable=True),
        sa.Column("done_at", UTCTimestamp(), nullable=True),
    ]
    deliveries = sa.Table(DELIVERIES_TABLE, ts.metadata, *delivery_columns)
    # Partial indexes: the done deliveries a table keeps for days cost the claims nothing.
    pending = deliveries.c.status == PENDING
    # Unordered claims: a subscriber's due deliveries, soonest first.
    sa.Index(
        db_name("ix", DELIVERIES_TABLE, "due"),
        deliveries.c.subscriber,
        deliveries.c.next_attempt_at,
        postgresql_where=pending,
        sqlite_where=pending,
    )
    # Ordered claims: a subscriber's undone deliveries in event order (whether one of their group is
    # held or waiting is a probe of the "due" index above: the few whose next attempt is ahead).
    sa.Index(
        db_name("ix", DELIVERIES_TABLE, "ordered"),
        deliveries.c.subscriber,
        deliveries.c.event_id,
        postgresql_where=pending,
        sqlite_where=pending,
    )
    # Pruning: finished deliveries by age.
    sa.Index(db_name("ix", DELIVERIES_TABLE, "status", "done_at"), deliveries.c.status, deliveries.c.done_at)
    ts.tables[DELIVERIES_TABLE] = deliveries


def outbox_tables(ts: TableSet) -> tuple[sa.Table, sa.Table]:
    """``(outbox_events, outbox_deliveries)`` of ``ts``; a clear error when ``events_tables`` was not a contributor."""
    try:
        return ts.tables[EVENTS_TABLE], ts.tables[DELIVERIES_TABLE]
    except KeyError:
        raise LookupError("the outbox tables are missing: pass events_tables to build_metadata") from None
