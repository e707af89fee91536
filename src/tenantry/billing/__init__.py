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
    Membership changes resize per-seat subscriptions (a subscriber of the domain events).
    """
    tables: BillingTables | None = runtime.tables.extensions.get("billing")
    if tables is None or runtime.tenancy is None:
        return None
    billing = Billing(runtime, tables, settings)
    if billing.config.per_seat:
        runtime.events.subscribe("members.*", billing.sync_seats)
    return billing
