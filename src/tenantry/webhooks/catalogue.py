"""The event types an endpoint may ask for, read from the schema, each with the JSON Schema of its payload.

For every tenant entity (one with an organization column: ``projects``, ``subscriptions`` …)
``<entity>.created``, ``<entity>.updated`` and ``<entity>.deleted``; and the organization plugin's
``members.*`` and ``invitations.*``. Users, organizations and the audit log are not in it: a user
belongs to several organizations, an organization's own changes concern every member, and the log
is read through its own API.

A payload follows Standard Webhooks' shape: ``{"type", "timestamp", "data"}``; an update adds
``previous``, the changed fields as they were (so the changed fields are its keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from tenantry.core.openapi import field_schema, id_schema
from tenantry.events.event import TOPIC_SUFFIX
from tenantry.schema import Entity, Schema

ACTIONS: Final = tuple(TOPIC_SUFFIX.values())  # created, updated, deleted

MEMBERS: Final = "members"
INVITATIONS: Final = "invitations"

_TIME = {"type": "string", "format": "date-time"}
_MEMBER = {
    "type": "object",
    "required": ["id", "organizationId", "userId", "role", "createdAt"],
    "properties": {
        "id": {"type": "string"},
        "organizationId": {"type": "string"},
        "userId": {"type": "string"},
        "role": {"type": "string"},
        "createdAt": _TIME,
        "user": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "name": {"type": ["string", "null"]},
                "email": {"type": "string", "format": "email"},
                "image": {"type": ["string", "null"]},
            },
        },
    },
}
_INVITATION = {
    "type": "object",
    "required": ["id", "organizationId", "email", "role", "status", "expiresAt"],
    "properties": {
        "id": {"type": "string"},
        "organizationId": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "role": {"type": "string"},
        "status": {"type": "string", "enum": ["pending", "accepted", "rejected", "canceled"]},
        "expiresAt": _TIME,
        "createdAt": _TIME,
        "inviterId": {"type": ["string", "null"]},
    },
}


@dataclass(frozen=True)
class EventType:
    """One event type: its name, what it means, the schema entity behind it (None for the plugin's)."""

    name: str
    description: str
    entity: Entity | None
    data_schema: dict[str, Any]

    @property
    def action(self) -> str:
        return self.name.rpartition(".")[2]

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema (2020-12) of this type's payload."""
        properties: dict[str, Any] = {
            "type": {"const": self.name},
            "timestamp": {**_TIME, "description": "When the change was committed"},
            "data": self.data_schema,
        }
        if self.action == "updated":
            fields = self.data_schema.get("properties", {})
            properties["previous"] = {
                "type": "object",
                "description": "The fields this update changed, as they were before it",
                "properties": fields,
                "additionalProperties": False,
            }
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": self.name,
            "type": "object",
            "required": ["type", "timestamp", "data", *(("previous",) if self.action == "updated" else ())],
            "properties": properties,
        }

    def describe(self) -> dict[str, Any]:
        """The type as ``/api/webhooks/event-types`` lists it."""
        return {"type": self.name, "description": self.description, "schema": self.json_schema()}


class Catalogue:
    """Every event type of one schema, in a stable order (entities as declared, then the plugin's)."""

    def __init__(self, schema: Schema) -> None:
        types: list[EventType] = []
        for entity in schema.entities.values():
            if entity.tenant_field is None or entity.system is not None:
                continue
            types.extend(_entity_types(entity))
        types.extend(_plugin_types(MEMBERS, "membership", _MEMBER))
        types.extend(_plugin_types(INVITATIONS, "invitation", _INVITATION))
        self.types = {t.name: t for t in types}

    def __contains__(self, name: object) -> bool:
        return name in self.types

    def all(self) -> list[EventType]:
        return list(self.types.values())

    def get(self, name: str) -> EventType | None:
        return self.types.get(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.types)

    def entities(self) -> frozenset[str]:
        """The entities (topics' first part) the catalogue has events of."""
        return frozenset(name.partition(".")[0] for name in self.types)


def _entity_types(entity: Entity) -> list[EventType]:
    what = entity.display.singular.lower() if entity.display else entity.name
    data = _row_schema(entity)
    return [EventType(f"{entity.name}.{action}", f"A {what} was {action}", entity, data) for action in ACTIONS]


def _plugin_types(name: str, what: str, data: dict[str, Any]) -> list[EventType]:
    return [EventType(f"{name}.{action}", f"A {what} was {action}", None, data) for action in ACTIONS]


def _row_schema(entity: Entity) -> dict[str, Any]:
    """A row as the API returns it (relations are never joined into a payload)."""
    properties: dict[str, Any] = {"id": id_schema(entity)}
    for f in entity.fields:
        properties[f.name] = field_schema(f)
    if entity.soft_delete:
        properties["deleted_at"] = {"type": ["string", "null"], "format": "date-time"}
    return {"type": "object", "title": entity.class_name, "properties": properties}
