"""Plans and their entitlements, declared in the schema's ``settings.billing``.

.. code-block:: yaml

    settings:
      billing:
        per_seat: true            # the subscription's quantity follows the organization's member count
        past_due: grace           # grace (keep the plan for grace_days) | read_only | free
        grace_days: 7
        canceled: free            # after cancellation: free | read_only
        plans:
          free:                   # the plan of an organization without a live subscription
            limits: {projects: 3}
          pro:
            name: Pro
            price_monthly: price_pro_monthly
            price_yearly: price_pro_yearly
            trial_days: 14
            limits: {projects: 100}   # a missing limit means unlimited
            features: [exports, audit_export]

``limits`` name entities of the schema (rows of that entity per organization); ``features`` are
flags checked with ``Entitlements.has``. Mistakes are reported as ``FILE:LINE: message``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tenantry.schema import Location, Schema, SchemaError
from tenantry.schema.errors import ProblemList

PastDue = Literal["grace", "read_only", "free"]
AfterCancel = Literal["free", "read_only"]
FREE = "free"
LIVE_STATUSES = frozenset({"active", "trialing", "past_due"})
_PLAN_KEYS = {"name", "price_monthly", "price_yearly", "trial_days", "limits", "features"}
_BILLING_KEYS = {"per_seat", "past_due", "grace_days", "canceled", "plans", "free_plan"}


@dataclass(frozen=True)
class Plan:
    """One plan: its Stripe prices, trial and entitlements."""

    key: str
    name: str
    price_monthly: str | None = None
    price_yearly: str | None = None
    trial_days: int = 0
    limits: Mapping[str, int] = field(default_factory=dict)
    features: frozenset[str] = frozenset()

    @property
    def prices(self) -> tuple[str, ...]:
        return tuple(p for p in (self.price_monthly, self.price_yearly) if p)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.key,
            "name": self.name,
            "priceMonthly": self.price_monthly,
            "priceYearly": self.price_yearly,
            "trialDays": self.trial_days,
            "limits": dict(self.limits),
            "features": sorted(self.features),
        }


@dataclass(frozen=True)
class BillingConfig:
    """Every plan, and what past-due and canceled subscriptions are entitled to."""

    plans: Mapping[str, Plan]
    free_plan: str = FREE
    per_seat: bool = False
    past_due: PastDue = "grace"
    grace_days: int = 7
    canceled: AfterCancel = "free"

    @property
    def free(self) -> Plan:
        return self.plans[self.free_plan]

    def plan_for_price(self, price_id: str | None) -> Plan | None:
        for plan in self.plans.values():
            if price_id and price_id in plan.prices:
                return plan
        return None


DEFAULT_CONFIG = BillingConfig(plans={FREE: Plan(FREE, "Free")})


def billing_config(schema: Schema) -> BillingConfig:
    """The billing settings of ``schema`` (a single unlimited free plan when it declares none)."""
    raw = schema.options.get("billing")
    if raw is None:
        return DEFAULT_CONFIG
    lines: Mapping[str, int] = schema.options.get("_lines") or {}
    problems = ProblemList(str(schema.options.get("_file") or "<schema>"))

    def at(path: str, message: str) -> None:
        # The nearest enclosing key that has a known line.
        parts = path.split(".")
        while parts and ".".join(parts) not in lines:
            parts.pop()
        line = lines.get(".".join(parts))
        problems.at(message, Location(problems.file, line) if line else None)

    config = _read(raw, schema, at)
    if problems.problems:
        raise SchemaError(problems.problems)
    assert config is not None
    return config


def _read(raw: Any, schema: Schema, at: Any) -> BillingConfig | None:
    base = "billing"
    if not isinstance(raw, dict):
        at(base, "'billing' must be a mapping with 'plans'")
        return None
    for key in raw:
        if key not in _BILLING_KEYS:
            at(f"{base}.{key}", f"unknown billing setting '{key}' (expected one of {', '.join(sorted(_BILLING_KEYS))})")
    plans_raw = raw.get("plans")
    if not isinstance(plans_raw, dict) or not plans_raw:
        at(f"{base}.plans" if "plans" in raw else base, "'billing.plans' must map plan ids to their settings")
        return None
    free_plan = str(raw.get("free_plan", FREE))
    plans: dict[str, Plan] = {}
    seen_prices: dict[str, str] = {}
    for key, spec in plans_raw.items():
        path = f"{base}.plans.{key}"
        plan = _read_plan(str(key), spec, path, schema, at)
        if plan is None:
            continue
        for price in plan.prices:
            if price in seen_prices:
                at(path, f"price '{price}' is already used by plan '{seen_prices[price]}'")
            seen_prices[price] = plan.key
        plans[plan.key] = plan
    if free_plan not in plans_raw:
        at(f"{base}.plans", f"no '{free_plan}' plan: declare the plan organizations have without a subscription")
    elif free_plan in plans and plans[free_plan].prices:
        at(f"{base}.plans.{free_plan}", f"the '{free_plan}' plan must not have Stripe prices")
    past_due = raw.get("past_due", "grace")
    if past_due not in ("grace", "read_only", "free"):
        at(f"{base}.past_due", "'past_due' must be grace, read_only or free")
    canceled = raw.get("canceled", "free")
    if canceled not in ("free", "read_only"):
        at(f"{base}.canceled", "'canceled' must be free or read_only")
    grace_days = raw.get("grace_days", 7)
    if not isinstance(grace_days, int) or isinstance(grace_days, bool) or grace_days < 0:
        at(f"{base}.grace_days", "'grace_days' must be a whole number of days")
        grace_days = 0
    per_seat = raw.get("per_seat", False)
    if not isinstance(per_seat, bool):
        at(f"{base}.per_seat", "'per_seat' must be true or false")
    return BillingConfig(
        plans=plans,
        free_plan=free_plan,
        per_seat=bool(per_seat),
        past_due=past_due if past_due in ("grace", "read_only", "free") else "grace",
        grace_days=grace_days,
        canceled=canceled if canceled in ("free", "read_only") else "free",
    )


def _read_plan(key: str, spec: Any, path: str, schema: Schema, at: Any) -> Plan | None:
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        at(path, f"plan '{key}' must be a mapping (name, price_monthly, price_yearly, trial_days, limits, features)")
        return None
    for name in spec:
        if name not in _PLAN_KEYS:
            at(f"{path}.{name}", f"unknown plan setting '{name}' (expected one of {', '.join(sorted(_PLAN_KEYS))})")
    prices: dict[str, str | None] = {}
    for name in ("price_monthly", "price_yearly"):
        value = spec.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            at(f"{path}.{name}", f"'{name}' must be a Stripe price id")
            value = None
        prices[name] = value
    trial = spec.get("trial_days", 0)
    if not isinstance(trial, int) or isinstance(trial, bool) or trial < 0 or trial > 730:
        at(f"{path}.trial_days", "'trial_days' must be a whole number of days between 0 and 730")
        trial = 0
    limits: dict[str, int] = {}
    raw_limits = spec.get("limits") or {}
    if not isinstance(raw_limits, dict):
        at(f"{path}.limits", "'limits' must map entity names to the most rows an organization may have")
        raw_limits = {}
    for entity_name, value in raw_limits.items():
        entity = schema.entities.get(str(entity_name))
        if entity is None:
            at(f"{path}.limits.{entity_name}", f"limit on unknown entity '{entity_name}'")
        elif entity.tenant_field is None and entity.system != "users":
            at(f"{path}.limits.{entity_name}", f"'{entity_name}' has no organization column to count rows by")
        if value is None:
            continue  # explicitly unlimited
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            at(f"{path}.limits.{entity_name}", f"the limit on '{entity_name}' must be a whole number (or null)")
            continue
        limits[str(entity_name)] = value
    features = spec.get("features") or []
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        at(f"{path}.features", "'features' must be a list of feature names")
        features = []
    return Plan(
        key=key,
        name=str(spec.get("name") or key.replace("_", " ").title()),
        price_monthly=prices["price_monthly"],
        price_yearly=prices["price_yearly"],
        trial_days=trial,
        limits=limits,
        features=frozenset(features),
    )
