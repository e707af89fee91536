"""``tenantry dev``'s Stripe emulator: the prices a schema's plans name, created in it at start-up.

Real Stripe prices are made in Stripe's dashboard and only named in the schema. The local emulator
has no dashboard, so each app process that starts against it (the first start, and every reload
after a schema edit) asks it for the prices its plans name: the missing ones are created, at
$10.00 a month or $100.00 a year, as products called by the plan's name; existing ones are kept.
"""

from __future__ import annotations

import logging
from typing import Any

from tenantry.billing.plans import BillingConfig

log = logging.getLogger(__name__)

DEV_MONTHLY_CENTS = 1000
DEV_YEARLY_CENTS = 10000


def emulator_prices(config: BillingConfig) -> list[dict[str, Any]]:
    """The emulator's price specifications (``id``, ``unit_amount``, ``interval``, ``name``) for ``config``'s plans."""
    specs: list[dict[str, Any]] = []
    for plan in config.plans.values():
        if plan.price_monthly:
            specs.append(
                {"id": plan.price_monthly, "unit_amount": DEV_MONTHLY_CENTS, "interval": "month", "name": plan.name}
            )
        if plan.price_yearly:
            specs.append(
                {"id": plan.price_yearly, "unit_amount": DEV_YEARLY_CENTS, "interval": "year", "name": plan.name}
            )
    return specs


async def create_emulator_prices(api_base: str, config: BillingConfig) -> list[str]:
    """Create the plans' missing prices in the emulator at ``api_base``; the ids created.

    A failure is logged, never raised: the app serves without them, and a checkout then says
    which price is missing.
    """
    import httpx  # only `tenantry dev` gets here

    specs = emulator_prices(config)
    if not specs:
        return []
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(f"{api_base.rstrip('/')}/__emulator__/prices", json={"prices": specs})
        answer.raise_for_status()
        created: list[str] = answer.json()["created"]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        log.warning("could not create the plans' prices in the Stripe emulator at %s: %s", api_base, exc)
        return []
    if created:
        log.info("Stripe emulator: created prices %s", ", ".join(created))
    return created
