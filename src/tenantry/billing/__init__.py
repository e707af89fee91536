"""Stripe billing that cannot double-charge, lose an event or be fooled.

Public face:

- ``billing_tables``: the table contributor (the ``stripe_events`` log; the columns billing adds to
  the schema's ``subscriptions``: ``cancel_at_period_end``, ``trial_end``, ``stripe_price_id``,
  ``quantity``, ``stripe_event_created``);
- ``install_billing(runtime)``: the ``Billing`` capability of an app whose schema has organizations
  and a ``subscriptions`` entity (plan limits in the pipeline, the webhook processor, seat sync),
  or None;
- ``billing_routes``: ``GET /api/billing``, ``POST /api/billing/checkout``, ``POST /api/billing/portal``,
  ``POST /api/billing/webhook``;
- ``BillingConfig``/``Plan`` (``settings.billing`` of the schema), ``BillingSettings`` (Stripe keys).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenantry.billing.plans import BillingConfig, Plan, billing_config
from tenantry.billing.routes import billing_routes
from tenantry.billing.service import Billing, Entitlements
from tenantry.billing.settings import BillingSettings
from tenantry.billing.tables import BillingTables, billing_tables
from tenantry.billing.webhooks import WebhookProcessor, verify
from tenantry.events import DomainEvent, Subscriber

if TYPE_CHECKING:
    from tenantry.app import Tenantry

__all__ = [
    "Billing",
    "BillingConfig",
    "BillingSettings",
    "BillingTables",
    "Entitlements",
    "Plan",
    "WebhookProcessor",
    "billing_config",
    "billing_routes",
    "billing_tables",
    "install_billing",
    "verify",
]


def install_billing(runtime: Tenantry, settings: BillingSettings | None = None) -> Billing | None:
    """Billing for ``runtime`` when its schema has organizations with subscriptions (else None).

    Call after tenancy, audit and events are installed: the webhook's changes use their listeners.
    Membership changes resize per-seat subscriptions (``billing.seats``, a durable subscriber of
    ``members.*``: retried with backoff while Stripe fails, one organization's changes in order).
    """
    tables: BillingTables | None = runtime.tables.extensions.get("billing")
    if tables is None or runtime.tenancy is None:
        return None
    billing = Billing(runtime, tables, settings)
    if billing.config.per_seat:
        runtime.outbox.register(
            Subscriber(name="billing.seats", patterns=("members.*",), handler=billing.sync_seats, key=_organization)
        )
    return billing


def _organization(event: DomainEvent) -> str:
    # Seats are counted per organization: its membership changes are synced one after the other.
    return f"org:{event.org_id}"
