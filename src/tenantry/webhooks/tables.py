"""The webhooks' tables: endpoints, the messages made for them, and every delivery attempt.

- ``webhook_endpoints``: an organization's receivers (URL, wanted event types, on or off), the
  signing secret and, during a rotation, the previous one until its grace period ends; and since
  when its deliveries have failed without a success (``failing_since``: five days of that disable it).
- ``webhook_messages``: one per event and endpoint, with the exact body sent (a retry or a resend
  signs the same bytes); unique per (endpoint, event), so a fan-out retried after a crash adds nothing.
- ``webhook_attempts``: one per HTTP attempt: status, latency, the first KB of the answer, the error.

Every row carries its organization, and on PostgreSQL row-level security lets a request see only
the rows of organizations its user belongs to (the delivery workers act as the system).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.sql.elements import conv

from tenantry.db.tables import TableSet, db_name
from tenantry.db.types import GUID, UTCTimestamp
from tenantry.schema import Schema
from tenantry.tenancy.rls import TenantTable, tenant_policies

ENDPOINTS_TABLE: Final = "webhook_endpoints"
MESSAGES_TABLE: Final = "webhook_messages"
ATTEMPTS_TABLE: Final = "webhook_attempts"

URL_LENGTH: Final = 2048
DESCRIPTION_LENGTH: Final = 500
EVENT_TYPE_LENGTH: Final = 128
ERROR_LENGTH: Final = 500
# The first KB of an endpoint's answer is kept with its attempt.
RESPONSE_KEPT: Final = 1024


@dataclass(frozen=True)
class WebhookTables:
    """Handles on the three tables, and the id type of the organizations they belong to."""

    endpoints: sa.Table
    messages: sa.Table
    attempts: sa.Table
    org_id_type: str


def webhook_tables(ts: TableSet, schema: Schema) -> None:
    """Add the webhook tables (after tenancy's, whose organizations and memberships they use)."""
    orgs = schema.system_entity("organizations")
    tenancy = ts.extensions.get("tenancy")
    if orgs is None or tenancy is None:
        return
    for name in (ENDPOINTS_TABLE, MESSAGES_TABLE, ATTEMPTS_TABLE):
        if name in ts.metadata.tables:
            raise ValueError(f"the table {name} is reserved for webhooks; give the schema's entity another table name")
    organizations: sa.Table = tenancy.organizations

    def org_column(table: str) -> sa.Column[Any]:
        return sa.Column(
            "org_id",
            organizations.c.id.type.copy(),
            sa.ForeignKey(f"{organizations.name}.id", ondelete="CASCADE", name=conv(db_name("fk", table, "org_id"))),
            nullable=False,
        )

    def parent(table: str, column: str, target: str) -> sa.ForeignKey:
        return sa.ForeignKey(f"{target}.id", ondelete="CASCADE", name=conv(db_name("fk", table, column)))

    endpoints = sa.Table(
        ENDPOINTS_TABLE,
        ts.metadata,
        sa.Column("id", GUID(), primary_key=True),
        org_column(ENDPOINTS_TABLE),
        sa.Column("url", sa.String(URL_LENGTH), nullable=False),
        sa.Column("description", sa.String(DESCRIPTION_LENGTH), nullable=False, server_default=""),
        # A JSON list of event types; NULL: every type of the catalogue.
        sa.Column("event_types", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(64), nullable=True),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("previous_secret", sa.String(128), nullable=True),
        sa.Column("previous_secret_until", UTCTimestamp(), nullable=True),
        sa.Column("failing_since", UTCTimestamp(), nullable=True),
        sa.Column("created_at", UTCTimestamp(), nullable=False),
        sa.Column("updated_at", UTCTimestamp(), nullable=False),
    )
    sa.Index(db_name("ix", ENDPOINTS_TABLE, "org_id"), endpoints.c.org_id)

    messages = sa.Table(
        MESSAGES_TABLE,
        ts.metadata,
        # ``msg_`` and a UUIDv7's hex: the ``webhook-id`` receivers deduplicate by.
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("endpoint_id", GUID(), parent(MESSAGES_TABLE, "endpoint_id", ENDPOINTS_TABLE), nullable=False),
        org_column(MESSAGES_TABLE),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(EVENT_TYPE_LENGTH), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        # pending -> delivered | failed (attempts spent, or the endpoint was disabled)
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", UTCTimestamp(), nullable=False),
        sa.Column("delivered_at", UTCTimestamp(), nullable=True),
        sa.UniqueConstraint("endpoint_id", "event_id", name=conv(db_name("uq", MESSAGES_TABLE, "endpoint_event"))),
    )
    sa.Index(db_name("ix", MESSAGES_TABLE, "endpoint_id", "id"), messages.c.endpoint_id, messages.c.id)
    sa.Index(db_name("ix", MESSAGES_TABLE, "created_at"), messages.c.created_at)

    attempts = sa.Table(
        ATTEMPTS_TABLE,
        ts.metadata,
        sa.Column("id", GUID(), primary_key=True),
        sa.Column("message_id", sa.String(40), parent(ATTEMPTS_TABLE, "message_id", MESSAGES_TABLE), nullable=False),
        sa.Column("endpoint_id", GUID(), parent(ATTEMPTS_TABLE, "endpoint_id", ENDPOINTS_TABLE), nullable=False),
        org_column(ATTEMPTS_TABLE),
        sa.Column("attempt", sa.Integer(), nullable=False),
        # succeeded | failed
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("error", sa.String(ERROR_LENGTH), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCTimestamp(), nullable=False),
    )
    sa.Index(db_name("ix", ATTEMPTS_TABLE, "endpoint_id", "id"), attempts.c.endpoint_id, attempts.c.id)
    sa.Index(db_name("ix", ATTEMPTS_TABLE, "message_id"), attempts.c.message_id)

    for table in (endpoints, messages, attempts):
        ts.tables[table.name] = table
    ts.post_steps.append(
        tenant_policies(tenancy.members, [TenantTable(t.name, "org_id") for t in (endpoints, messages, attempts)])
    )
    ts.extensions["webhooks"] = WebhookTables(endpoints, messages, attempts, orgs.id_type)
