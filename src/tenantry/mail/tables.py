"""The ``mail_outbox`` table: one row per message, written in the transaction of the action behind it."""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.sql.elements import conv

from tenantry.db.tables import TableSet, db_name
from tenantry.db.types import GUID, UTCTimestamp
from tenantry.schema import Schema

OUTBOX_TABLE: Final = "mail_outbox"

PENDING: Final = "pending"
SENDING: Final = "sending"
SENT: Final = "sent"
FAILED: Final = "failed"
STATUSES: Final = (PENDING, SENDING, SENT, FAILED)


def mail_tables(ts: TableSet, schema: Schema) -> None:
    """Add ``mail_outbox`` to the metadata (a ``TableContributor``)."""
    columns: list[Any] = [
        sa.Column("id", GUID(), primary_key=True),
        # The identity of the action that caused the message; unique, so an action mails once.
        sa.Column("dedupe_key", sa.String(255), nullable=False),
        # Not "to"/"from": reserved words would need quoting in every hand-written query.
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("template", sa.String(64), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                *STATUSES,
                native_enum=False,
                create_constraint=True,
                length=max(len(s) for s in STATUSES),
                name="status",
                validate_strings=False,
            ),
            nullable=False,
        ),
        # Incremented when a worker claims the row: it counts attempts started (a crash counts) and
        # doubles as the fencing token that stops a worker whose lease ran out from marking the row.
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", UTCTimestamp(), nullable=False),
        sa.Column("claimed_until", UTCTimestamp(), nullable=True),
        sa.Column("sent_at", UTCTimestamp(), nullable=True),
        sa.Column("provider_message_id", sa.String(255), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCTimestamp(), nullable=False),
    ]
    table = sa.Table(OUTBOX_TABLE, ts.metadata, *columns)
    table.append_constraint(sa.UniqueConstraint("dedupe_key", name=conv(db_name("uq", OUTBOX_TABLE, "dedupe_key"))))
    # The dispatcher's claim filters on status and due time; the dev outbox lists newest first.
    sa.Index(db_name("ix", OUTBOX_TABLE, "status", "next_attempt_at"), table.c.status, table.c.next_attempt_at)
    sa.Index(db_name("ix", OUTBOX_TABLE, "created_at"), table.c.created_at)
    ts.tables[OUTBOX_TABLE] = table


def outbox_table(ts: TableSet) -> sa.Table:
    """The outbox table of ``ts``; a clear error when ``mail_tables`` was not among the contributors."""
    try:
        return ts.tables[OUTBOX_TABLE]
    except KeyError:
        raise LookupError("the mail outbox table is missing: pass mail_tables to build_metadata") from None
