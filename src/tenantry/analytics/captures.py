"""Which domain events are product events, and the PostHog captures each becomes.

A pure translation (no I/O): the outbox subscriber sends what it returns, and ``/dev/analytics``
shows the same thing for events kept in the outbox. Only the properties named here leave: never
an e-mail address, a name or a token unless ``personal_data`` allows the sign-up's e-mail and name.

Every capture is keyed by the domain event's id (PostHog's ``uuid``, which it deduplicates on), so
a delivery retried after PostHog answered too late is stored once. A second capture made from the
same event (the organization's ``$groupidentify``) takes a UUID derived from it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from tenantry.events import DomainEvent

# The PostHog event names: stable, since funnels and dashboards refer to them.
USER_SIGNED_UP: Final = "user signed up"
ORGANIZATION_CREATED: Final = "organization created"
MEMBER_INVITED: Final = "member invited"
MEMBER_JOINED: Final = "member joined"
SUBSCRIPTION_STARTED: Final = "subscription started"
SUBSCRIPTION_CHANGED: Final = "subscription changed"
SUBSCRIPTION_CANCELED: Final = "subscription canceled"
PLAN_LIMIT_REACHED: Final = "plan limit reached"
GROUP_IDENTIFY: Final = "$groupidentify"

# The PostHog group type organizations are.
ORGANIZATION_GROUP: Final = "organization"
# The topic billing publishes when it refuses a create beyond the plan (``tenantry.billing``).
PLAN_LIMIT_TOPIC: Final = "billing.plan_limit_reached"
# Subscription statuses in which the organization has the plan it pays for (billing's LIVE_STATUSES).
LIVE_STATUSES: Final = frozenset({"active", "trialing", "past_due"})
_GROUP_NAMESPACE: Final = uuid.UUID("6f1c1a52-8d0e-4c57-9a3e-5b0d2f0a7c11")


@dataclass(frozen=True, slots=True)
class Capture:
    """One PostHog event: ``event`` by ``distinct_id``, in ``groups``, at ``timestamp``.

    A ``$groupidentify`` carries the group's type and key in ``group`` and what to set on it in
    ``properties``.
    """

    event: str
    distinct_id: str
    uuid: str
    timestamp: dt.datetime
    properties: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    group: tuple[str, str] | None = None

    def as_json(self) -> dict[str, Any]:
        """The capture as ``/dev/analytics.json`` lists it."""
        return {
            "event": self.event,
            "distinct_id": self.distinct_id,
            "uuid": self.uuid,
            "timestamp": self.timestamp.isoformat(),
            "properties": self.properties,
            "groups": self.groups,
        }


@dataclass(frozen=True)
class Topics:
    """The topics of one app's product events (the users and organizations entities are named by the schema)."""

    users: str = "users"
    organizations: str = "organizations"

    @property
    def patterns(self) -> tuple[str, ...]:
        """What the analytics subscriber listens to."""
        return (
            f"{self.users}.created",
            f"{self.organizations}.created",
            f"{self.organizations}.updated",
            "invitations.created",
            "invitations.updated",
            "subscriptions.created",
            "subscriptions.updated",
            PLAN_LIMIT_TOPIC,
        )


class Translator:
    """Domain events to PostHog captures, for one app's topics and privacy setting."""

    def __init__(self, topics: Topics, *, personal_data: bool = False) -> None:
        self.topics = topics
        self.personal_data = personal_data

    def captures(self, event: DomainEvent) -> list[Capture]:
        """The captures ``event`` becomes; none when it is not a product event (an invitation resent)."""
        if event.topic == f"{self.topics.users}.created":
            return [self._signed_up(event)]
        if event.topic == f"{self.topics.organizations}.created":
            return self._organization_created(event)
        if event.topic == f"{self.topics.organizations}.updated":
            return self._organization_renamed(event)
        if event.topic == "invitations.created":
            data = event.data or {}
            return [self._capture(event, MEMBER_INVITED, {"role": data.get("role"), "invitation_id": event.row_id})]
        if event.topic == "invitations.updated":
            before, after = (event.old or {}).get("status"), (event.data or {}).get("status")
            if before != "accepted" and after == "accepted":
                return [self._capture(event, MEMBER_JOINED, {"role": (event.data or {}).get("role")})]
            return []
        if event.entity == "subscriptions":
            return self._subscription(event)
        if event.topic == PLAN_LIMIT_TOPIC:
            data = event.data or {}
            keep = {k: data.get(k) for k in ("limit", "allowed", "plan")}
            return [self._capture(event, PLAN_LIMIT_REACHED, keep)]
        return []

    # -- the events ------------------------------------------------------------------------------

    def _signed_up(self, event: DomainEvent) -> Capture:
        properties: dict[str, Any] = {}
        if self.personal_data:
            data = event.data or {}
            properties["$set"] = {"email": data.get("email"), "name": data.get("name")}
        # The new user is the actor, whoever created the row (an administrator, a sign-up).
        return self._capture(event, USER_SIGNED_UP, properties, distinct_id=event.row_id)

    def _organization_created(self, event: DomainEvent) -> list[Capture]:
        org_id = event.org_id or event.row_id
        created = self._capture(event, ORGANIZATION_CREATED, {}, org_id=org_id)
        identify = self._group_identify(event, created.distinct_id, str(uuid.uuid5(_GROUP_NAMESPACE, event.id)))
        return [created, identify]

    def _organization_renamed(self, event: DomainEvent) -> list[Capture]:
        """The group's name set again when it changed (PostHog's group keeps the last one set)."""
        if (event.data or {}).get("name") == (event.old or {}).get("name"):
            return []
        org_id = event.org_id or event.row_id
        actor = str(event.actor_id) if event.actor_id is not None else f"organization:{org_id}"
        return [self._group_identify(event, actor, event.id)]

    def _group_identify(self, event: DomainEvent, distinct_id: str, capture_id: str) -> Capture:
        return Capture(
            event=GROUP_IDENTIFY,
            distinct_id=distinct_id,
            uuid=capture_id,
            timestamp=event.created_at,
            properties={"name": (event.data or {}).get("name")},
            group=(ORGANIZATION_GROUP, event.org_id or event.row_id),
        )

    def _subscription(self, event: DomainEvent) -> list[Capture]:
        new, old = event.data or {}, event.old or {}
        plan, status = new.get("plan_id"), new.get("status")
        live_now = status in LIVE_STATUSES
        if event.action == "created":
            name = SUBSCRIPTION_STARTED if live_now else None
        elif event.action == "updated":
            live_before = old.get("status") in LIVE_STATUSES
            if live_now and not live_before:
                name = SUBSCRIPTION_STARTED
            elif live_before and status == "canceled":
                name = SUBSCRIPTION_CANCELED
            elif live_now and old.get("plan_id") != plan:
                name = SUBSCRIPTION_CHANGED
            else:
                name = None
        else:
            name = None
        if name is None:
            return []
        properties: dict[str, Any] = {"plan": plan, "status": status}
        if name in (SUBSCRIPTION_CHANGED, SUBSCRIPTION_CANCELED):
            properties["previous_plan"] = old.get("plan_id")
        return [self._capture(event, name, properties)]

    # -- shared ----------------------------------------------------------------------------------

    def _capture(
        self,
        event: DomainEvent,
        name: str,
        properties: dict[str, Any],
        *,
        distinct_id: str | None = None,
        org_id: str | None = None,
    ) -> Capture:
        org = org_id or event.org_id
        actor = distinct_id or event.actor_id
        props = dict(properties)
        if actor is None:
            # Stripe's webhooks act for no user: the organization acts, and no person profile is made for it.
            actor = f"organization:{org}" if org else "tenantry"
            props["$process_person_profile"] = False
        return Capture(
            event=name,
            distinct_id=str(actor),
            uuid=event.id,
            timestamp=event.created_at,
            properties=props,
            groups={ORGANIZATION_GROUP: str(org)} if org else {},
        )


def all_captures(translator: Translator, events: Sequence[DomainEvent]) -> list[tuple[DomainEvent, Capture]]:
    """Every capture of ``events``, each with its event, in the events' order."""
    return [(e, c) for e in events for c in translator.captures(e)]
