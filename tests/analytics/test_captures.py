"""Which domain events become which PostHog captures (the translation, without I/O)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tenantry.analytics.captures import PLAN_LIMIT_TOPIC, Topics, Translator
from tenantry.billing.limit_events import PLAN_LIMIT_TOPIC as BILLING_TOPIC
from tenantry.events import DomainEvent

EVENT_ID = "0190a8f2-2c5e-7b7e-9a51-1f6c0d0e4a11"


def domain(topic: str, data: dict[str, Any] | None, old: dict[str, Any] | None = None, **extra: Any) -> DomainEvent:
    entity, _, _ = topic.partition(".")
    fields: dict[str, Any] = {
        "id": EVENT_ID,
        "topic": topic,
        "entity": entity,
        "row_id": "r1",
        "org_id": "o1",
        "data": data,
        "old": old,
        "actor_id": "u1",
        "created_at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
    }
    return DomainEvent(**{**fields, **extra})


def names(event: DomainEvent) -> list[str]:
    return [c.event for c in Translator(Topics()).captures(event)]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (None, {"plan_id": "pro", "status": "active"}, ["subscription started"]),
        (None, {"plan_id": "pro", "status": "incomplete"}, []),
        (
            {"plan_id": "pro", "status": "incomplete"},
            {"plan_id": "pro", "status": "trialing"},
            ["subscription started"],
        ),
        ({"plan_id": "pro", "status": "active"}, {"plan_id": "team", "status": "active"}, ["subscription changed"]),
        ({"plan_id": "pro", "status": "active"}, {"plan_id": "pro", "status": "past_due"}, []),
        ({"plan_id": "pro", "status": "past_due"}, {"plan_id": "pro", "status": "canceled"}, ["subscription canceled"]),
        ({"plan_id": "pro", "status": "canceled"}, {"plan_id": "pro", "status": "canceled"}, []),
    ],
)
def test_subscription_transitions(old: dict[str, Any] | None, new: dict[str, Any], expected: list[str]) -> None:
    topic = "subscriptions.updated" if old is not None else "subscriptions.created"
    assert names(domain(topic, new, old, actor_id=None)) == expected


def test_invitations_resent_or_rejected_are_not_joins() -> None:
    pending = {"status": "pending", "role": "member", "email": "x@example.com"}
    assert names(domain("invitations.updated", pending, pending)) == []
    assert names(domain("invitations.updated", {**pending, "status": "rejected"}, pending)) == []
    assert names(domain("invitations.updated", {**pending, "status": "accepted"}, pending)) == ["member joined"]
    [invited] = Translator(Topics()).captures(domain("invitations.created", pending))
    assert "x@example.com" not in str(invited)


def test_the_schema_names_users_and_organizations() -> None:
    translator = Translator(Topics(users="user", organizations="teams"))
    assert [c.event for c in translator.captures(domain("user.created", {"email": "a@b.c"}))] == ["user signed up"]
    assert [c.event for c in translator.captures(domain("teams.created", {"name": "T"}))] == [
        "organization created",
        "$groupidentify",
    ]
    assert translator.captures(domain("projects.created", {})) == []


def test_each_capture_of_an_event_has_its_own_stable_uuid() -> None:
    first = Translator(Topics()).captures(domain("organizations.created", {"name": "Acme"}))
    again = Translator(Topics()).captures(domain("organizations.created", {"name": "Acme"}))
    assert [c.uuid for c in first] == [c.uuid for c in again]
    assert first[0].uuid == EVENT_ID and first[1].uuid != EVENT_ID


def test_billing_publishes_the_topic_analytics_listens_to() -> None:
    assert BILLING_TOPIC == PLAN_LIMIT_TOPIC
    assert PLAN_LIMIT_TOPIC in Topics().patterns


def test_an_organization_renamed_sets_its_group_name_again() -> None:
    renamed = Translator(Topics()).captures(domain("organizations.updated", {"name": "New"}, {"name": "Old"}))
    assert [(c.event, c.group, c.properties, c.uuid) for c in renamed] == [
        ("$groupidentify", ("organization", "o1"), {"name": "New"}, EVENT_ID)
    ]
    assert names(domain("organizations.updated", {"name": "Same", "logo": "x"}, {"name": "Same"})) == []
