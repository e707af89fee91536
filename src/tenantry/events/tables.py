"""The ``outbox_events`` table: one row per domain event, written in the transaction of its change.

Ids are UUIDv7 (time-ordered), which is the order events are delivered in. ``published_at`` stays
NULL until a dispatcher has handed the event to every subscriber; the claim columns (``claim_id``,
``claimed_until``, ``attempts``) let several dispatchers share the table safely, as the mail
outbox does (see ``tenantry.events.dispatcher``).
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa

from tenantry.db.tables import TableSet, db_name
from tenantry.db.types import GUID, UTCTimestamp, json_type
from tenantry.schema import Schema

EVENTS_TABLE: Final = "outbox_events"


def events_tables(ts: TableSet, schema: Schema) -> None:
    """Add ``outbox_events`` to the metadata (a ``TableContributor``)."""
    columns: list[Any] = [
        sa.Column("id", GUID(), primary_key=True),
        # <entity>.<created|updated|deleted>, what subscribers match on.
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("entity", sa.String(63), nullable=False),
        # Text whatever the entity's id type (UUID, serial, Better Auth's text ids up to 64 characters).
        sa.Column("row_id", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=True),
        # {"data": row as the API returns it, "old": the row before (updates), "actor_id": who acted}
        sa.Column("payload", json_type(), nullable=False),
        sa.Column("created_at", UTCTimestamp(), nullable=False),
        sa.Column("published_at", UTCTimestamp(), nullable=True),
        # The dispatcher holding the event (a random id per claim) and until when; a claim whose
        # time ran out (its process died) is taken over by the next dispatcher.
        sa.Column("claim_id", sa.String(36), nullable=True),
        sa.Column("claimed_until", UTCTimestamp(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        # The last failure of a subscriber on this event (the event is still delivered to the others).
        sa.Column("last_error", sa.Text(), nullable=True),
    ]
    table = sa.Table(EVENTS_TABLE, ts.metadata, *columns)
    # Claims read the oldest unpublished events: a partial index keeps that small however many
    # published events the table has kept.
    unpublished = table.c.published_at.is_(None)
    sa.Index(
        db_name("ix", EVENTS_TABLE, "unpublished"),
        table.c.id,
        postgresql_where=unpublished,
        sqlite_where=unpublished,
    )
    sa.Index(db_name("ix", EVENTS_TABLE, "published_at"), table.c.published_at)  # pruning old events
    ts.tables[EVENTS_TABLE] = table


def events_table(ts: TableSet) -> sa.Table:
    """The outbox table of ``ts``; a clear error when ``events_tables`` was not among the contributors."""
    try:
        return ts.tables[EVENTS_TABLE]
    except KeyError:
        raise LookupError("the event outbox table is missing: pass events_tables to build_metadata") from None
