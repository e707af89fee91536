"""Stripe billing that cannot double-charge, lose an event or be fooled.

Public face:

- ``Billing``: the capability of an app whose schema has organizations and a ``subscriptions``
  entity: its tables (the ``stripe_events`` log; the columns billing adds to the schema's
  ``subscriptions``: ``cancel_at_period_end``, ``trial_end``, ``stripe_price_id``, ``quantity``,
  ``stripe_event_created``), plan limits in the pipeline, the webhook processor, seat sync, and
  ``GET /api/billing``, ``POST /api/billing/checkout``, ``POST /api/billing/portal``,
  ``POST /api/billing/webhook``;
- ``BillingConfig``/``Plan`` (``settings.billing`` of the schema), ``BillingSettings`` (Stripe keys).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenantry.lazy import lazy_exports

if TYPE_CHECKING:
    from tenantry.billing.plans import BillingConfig, Plan, billing_config
    from tenantry.billing.routes import billing_routes
    from tenantry.billing.service import Billing, Entitlements
    from tenantry.billing.settings import BillingSettings
    from tenantry.billing.tables import BillingTables, billing_tables
    from tenantry.billing.webhooks import WebhookProcessor, verify

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
    "verify",
]

# Each name's module, imported at first use: ``tenantry serve`` checks a schema's plans
# (``tenantry.billing.plans``) before it becomes the node, without loading Stripe's processing.
_MODULES = {
    "Billing": "service",
    "BillingConfig": "plans",
    "BillingSettings": "settings",
    "BillingTables": "tables",
    "Entitlements": "service",
    "Plan": "plans",
    "WebhookProcessor": "webhooks",
    "billing_config": "plans",
    "billing_routes": "routes",
    "billing_tables": "tables",
    "verify": "webhooks",
}

__getattr__ = lazy_exports(__name__, _MODULES)
