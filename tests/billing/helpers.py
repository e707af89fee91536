"""Shared helpers for the billing tests: a schema with plans, signed webhook deliveries, Stripe-shaped events."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import httpx

from tenantry.billing import Billing, BillingSettings
from tenantry.emulators.stripe import sign_payload
from tests.auth.helpers import runtime, sql
from tests.conftest import SEED_SCHEMA_PATH

SECRET = "whsec_test_secret_one"


def stripe(webhook_secret: str = SECRET, secret_key: str | None = None, api_base: str | None = None) -> BillingSettings:
    """Billing's settings: webhooks verify with ``webhook_secret``; without a ``secret_key`` Stripe is not called."""
    return BillingSettings(STRIPE_WEBHOOK_SECRET=webhook_secret, STRIPE_SECRET_KEY=secret_key, STRIPE_API_BASE=api_base)


OTHER_SECRET = "whsec_test_secret_two"
PRICE_PRO = "price_pro_monthly"
PRICE_PRO_YEARLY = "price_pro_yearly"

BILLING_SETTINGS = f"""
settings:
  billing:
    past_due: grace
    grace_days: 3
    plans:
      free:
        limits:
          projects: 2
      pro:
        name: Pro
        price_monthly: {PRICE_PRO}
        price_yearly: {PRICE_PRO_YEARLY}
        trial_days: 14
        limits:
          projects: 50
        features: [exports]
"""


def billing_schema(settings: str = BILLING_SETTINGS) -> str:
    """The seed's schema with billing settings after it."""
    return SEED_SCHEMA_PATH.read_text() + settings


def billing(client: httpx.AsyncClient) -> Billing:
    b = runtime(client).get(Billing)
    assert b is not None
    return b


def encode(event: Any) -> bytes:
    """An event's body (the stdlib's JSON: integers of any size, as a forger could send)."""
    return json.dumps(event).encode()


async def deliver(
    client: httpx.AsyncClient,
    event: dict[str, Any],
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    header: str | None = None,
) -> httpx.Response:
    """POST ``event`` to the webhook endpoint, signed the way Stripe signs it."""
    body = encode(event)
    sig = header if header is not None else sign_payload(body, secret, timestamp)
    return await client.post(
        "/api/billing/webhook", content=body, headers={"stripe-signature": sig, "content-type": "application/json"}
    )


_ids = itertools.count(1)


def subscription_object(
    org_id: str,
    *,
    sub_id: str = "sub_test_1",
    status: str = "active",
    price: str = PRICE_PRO,
    quantity: int = 1,
    period_end: int | None = None,
    trial_end: int | None = None,
    cancel_at_period_end: bool = False,
    customer: str = "cus_test_1",
) -> dict[str, Any]:
    """A Stripe subscription object (API 2025+ shape: the period on the item)."""
    end = period_end if period_end is not None else int(time.time()) + 30 * 86_400
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "cancel_at": end if cancel_at_period_end else None,
        "trial_end": trial_end,
        "metadata": {"org_id": org_id},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_test_1",
                    "object": "subscription_item",
                    "price": {"id": price, "object": "price"},
                    "quantity": quantity,
                    "current_period_end": end,
                }
            ],
        },
    }


def event(kind: str, obj: dict[str, Any], created: int, event_id: str | None = None) -> dict[str, Any]:
    """A Stripe event wrapping ``obj``."""
    return {
        "id": event_id or f"evt_test_{next(_ids)}_{created}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created,
        "type": kind,
        "livemode": False,
        "data": {"object": obj},
    }


async def subscription_rows(client: httpx.AsyncClient) -> list[Any]:
    return await sql(
        client,
        "SELECT org_id, stripe_subscription_id, plan_id, status, cancel_at_period_end, quantity, stripe_event_created "
        "FROM subscriptions",
    )


async def count(client: httpx.AsyncClient, statement: str, *params: Any) -> int:
    rows = await sql(client, statement, *params)
    return int(rows[0][0])
