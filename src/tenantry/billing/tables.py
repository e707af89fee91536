"""Billing's tables: the Stripe event log, and the columns it adds to the schema's ``subscriptions``.

- ``stripe_events``: every verified webhook event, stored by its Stripe id before it is applied.
  ``applied_at`` is set in the transaction that applies it, so an event is applied exactly once
  however often Stripe delivers it, and one received but not applied (a crash in between) is found
  and applied at the next start or delivery. ``outcome`` says what applying did (``applied``,
  ``stale`` when newer state was already there, ``ignored``, ``unmatched``).
- ``subscriptions`` (the seed's entity: org_id, stripe_subscription_id, plan_id, status,
  current_period_end) gains the columns it lacks: ``cancel_at_period_end``, ``trial_end``,
  ``stripe_price_id``, ``quantity``, and ``stripe_event_created``: the Stripe time of the newest
  event applied to the row, which an older event never overwrites; ``past_due_since``: when it
  became past due, which the grace period counts from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from tenantry.db.tables import TableSet, db_name
from tenantry.db.types import UTCTimestamp, json_type
from tenantry.schema import Entity, Schema

EVENTS_TABLE: Final = "stripe_events"
SUBSCRIPTIONS: Final = "subscriptions"
# Columns billing keeps on the subscriptions table besides the entity's own fields.
EXTRA_COLUMNS: Final = (
    "cancel_at_period_end",
    "trial_end",
    "stripe_price_id",
    "quantity",
    "stripe_event_created",
    "past_due_since",
)


@dataclass(frozen=True)
class BillingTables:
    """Handles to billing's tables (``TableSet.extensions["billing"]``)."""

    events: sa.Table
    subscriptions: sa.Table
    subscription_entity: Entity
    organizations: sa.Table
    organization_entity: Entity


def _extra_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("trial_end", UTCTimestamp(), nullable=True),
        sa.Column("stripe_price_id", sa.String(255), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("stripe_event_created", sa.BigInteger(), nullable=True),
        # When the subscription became past due (the grace period counts from here).
        sa.Column("past_due_since", UTCTimestamp(), nullable=True),
    ]


def billing_tables(ts: TableSet, schema: Schema) -> None:
    """A ``TableContributor``: the event log, and the subscription columns (when the app bills)."""
    entity = schema.entities.get(SUBSCRIPTIONS)
    organizations = schema.system_entity("organizations")
    if entity is None or organizations is None or entity.field("org_id") is None:
        return  # nothing to bill: no subscriptions entity belonging to organizations
    events = sa.Table(
        EVENTS_TABLE,
        ts.metadata,
        sa.Column("id", sa.String(255), primary_key=True),  # Stripe's evt_… id
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),  # Stripe's unix time of the event
        sa.Column("payload", json_type(), nullable=False),
        sa.Column("received_at", UTCTimestamp(), nullable=False),
        sa.Column("applied_at", UTCTimestamp(), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("org_id", sa.String(64), nullable=True),
    )
    unapplied = events.c.applied_at.is_(None)
    sa.Index("ix_stripe_events_unapplied", events.c.created, postgresql_where=unapplied, sqlite_where=unapplied)
    ts.tables[EVENTS_TABLE] = events
    table = ts.tables[entity.name]
    for column in _extra_columns():
        if column.name not in table.c:
            table.append_column(column)
    org_table = ts.tables[organizations.name]
    if "stripe_customer_id" not in org_table.c:
        # The seed declares it; a schema that does not still needs somewhere to keep the customer.
        org_table.append_column(sa.Column("stripe_customer_id", sa.String(255), nullable=True))
    column = org_table.c.stripe_customer_id
    if not column.unique and not any(list(ix.columns) == [column] for ix in org_table.indexes):
        # Webhooks that carry no organization id find it by customer.
        sa.Index(db_name("ix", org_table.name, "stripe_customer_id"), column)
    ts.extensions["billing"] = BillingTables(
        events=events,
        subscriptions=table,
        subscription_entity=entity,
        organizations=ts.tables[organizations.name],
        organization_entity=organizations,
    )
