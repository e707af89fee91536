"""The ``notifications`` table: one row per notification per user, read or unread.

Ids are UUIDv7 (time-ordered), so "everything after the last one I saw" is ``id > cursor``: the
cursor a reconnecting socket passes (``auth.since``) and the order of ``GET /api/notifications``.
``dedupe_key`` makes a notification caused by an event idempotent: the outbox delivers at least
once, and the same event must not notify a user twice.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.sql.elements import conv

from tenantry.db.tables import TableSet, db_name
from tenantry.db.types import GUID, UTCTimestamp, json_type
from tenantry.schema import Schema

NOTIFICATIONS_TABLE: Final = "notifications"
TYPE_LENGTH: Final = 64
TITLE_LENGTH: Final = 255
DEDUPE_LENGTH: Final = 255


def realtime_tables(ts: TableSet, schema: Schema) -> None:
    """Add ``notifications`` to the metadata (a ``TableContributor``)."""
    if NOTIFICATIONS_TABLE in ts.metadata.tables:
        raise ValueError(
            f"the table {NOTIFICATIONS_TABLE} is reserved for realtime notifications; "
            "give the schema's entity another table name"
        )
    columns: list[Any] = [
        sa.Column("id", GUID(), primary_key=True),
        # Text whatever the users' id type (UUID, serial, Better Auth's text ids).
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=True),
        sa.Column("type", sa.String(TYPE_LENGTH), nullable=False),
        sa.Column("title", sa.String(TITLE_LENGTH), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", json_type(), nullable=True),
        sa.Column("dedupe_key", sa.String(DEDUPE_LENGTH), nullable=True),
        sa.Column("read_at", UTCTimestamp(), nullable=True),
        sa.Column("created_at", UTCTimestamp(), nullable=False),
    ]
    table = sa.Table(NOTIFICATIONS_TABLE, ts.metadata, *columns)
    # NULL keys never collide (both databases), so notifications without a key are never refused.
    table.append_constraint(
        sa.UniqueConstraint(
            "user_id", "dedupe_key", name=conv(db_name("uq", NOTIFICATIONS_TABLE, "user_id", "dedupe_key"))
        )
    )
    # A user's notifications, newest first or after a cursor; and their unread count.
    sa.Index(db_name("ix", NOTIFICATIONS_TABLE, "user_id", "id"), table.c.user_id, table.c.id)
    sa.Index(db_name("ix", NOTIFICATIONS_TABLE, "user_id", "read_at"), table.c.user_id, table.c.read_at)
    ts.tables[NOTIFICATIONS_TABLE] = table


def notifications_table(ts: TableSet) -> sa.Table:
    """The notifications table of ``ts``; a clear error when ``realtime_tables`` was not a contributor."""
    try:
        return ts.tables[NOTIFICATIONS_TABLE]
    except KeyError:
        raise LookupError("the notifications table is missing: pass realtime_tables to build_metadata") from None
