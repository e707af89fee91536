"""Plans from ``settings.billing``: read into the config, mistakes reported as FILE:LINE."""

from __future__ import annotations

import pytest

from tenantry.billing import billing_config
from tenantry.billing.plans import DEFAULT_CONFIG
from tenantry.schema import SchemaError, load_schema_text
from tests.billing.helpers import PRICE_PRO, PRICE_PRO_YEARLY, billing_schema
from tests.conftest import SEED_SCHEMA_PATH


def test_plans_are_read_from_the_settings() -> None:
    config = billing_config(load_schema_text(billing_schema(), "schema.yaml"))
    assert set(config.plans) == {"free", "pro"}
    pro = config.plans["pro"]
    assert (pro.name, pro.price_monthly, pro.price_yearly, pro.trial_days) == ("Pro", PRICE_PRO, PRICE_PRO_YEARLY, 14)
    assert dict(pro.limits) == {"projects": 50} and pro.features == frozenset({"exports"})
    assert config.free.limits == {"projects": 2}
    assert config.plan_for_price(PRICE_PRO_YEARLY) is pro and config.plan_for_price("price_other") is None
    assert (config.past_due, config.grace_days, config.canceled, config.per_seat) == ("grace", 3, "free", False)


def test_without_settings_every_organization_has_an_unlimited_free_plan() -> None:
    assert billing_config(load_schema_text(SEED_SCHEMA_PATH.read_text(), "schema.yaml")) is DEFAULT_CONFIG


def test_mistakes_are_reported_with_their_lines() -> None:
    settings = """
settings:
  billing:
    past_due: sometimes
    plans:
      pro:
        price_monthly: price_a
        trial_days: -1
        limits:
          widgets: 3
          projects: many
        colour: blue
      team:
        price_monthly: price_a
"""
    text = billing_schema(settings)
    first = len(SEED_SCHEMA_PATH.read_text().splitlines()) + 1  # the blank line before "settings:"
    with pytest.raises(SchemaError) as caught:
        billing_config(load_schema_text(text, "schema.yaml"))
    messages = [str(p) for p in caught.value.problems]
    expected = [
        (first + 3, "'past_due' must be grace, read_only or free"),
        (first + 4, "no 'free' plan"),
        (first + 7, "'trial_days' must be a whole number"),
        (first + 9, "limit on unknown entity 'widgets'"),
        (first + 10, "the limit on 'projects' must be a whole number"),
        (first + 11, "unknown plan setting 'colour'"),
        (first + 12, "price 'price_a' is already used by plan 'pro'"),
    ]
    for line, message in expected:
        assert any(m.startswith(f"schema.yaml:{line}: ") and message in m for m in messages), (line, message, messages)
    assert len(messages) == len(expected), messages
