"""What a capability adds to the app's OpenAPI document (``/api/openapi.json``), and the JSON Schema
of a schema field's value as the API returns it (the CRUD API's documents and the webhooks'
payload schemas share it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tenantry.db.geojson import geojson_schema
from tenantry.db.tables import string_length
from tenantry.schema import Entity, Field, FieldType


@dataclass(frozen=True)
class OpenApiPart:
    """Paths, component schemas and tags a capability adds to the document (billing's endpoints, say)."""

    paths: Mapping[str, Any]
    schemas: Mapping[str, Any] = field(default_factory=dict)
    tags: Sequence[Mapping[str, str]] = ()
    # Other ways to authenticate (an API key header): each is also accepted in place of a session.
    security_schemes: Mapping[str, Any] = field(default_factory=dict)
    # Properties this capability adds to (or changes in) another part's component schema, by schema
    # name: tenancy shows a user's ``org_id``, ``role`` and ``organization`` as their membership.
    properties: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Properties of another part's component schema that are no longer required, by schema name:
    # tenancy fills a row's organization (and owner) itself when a create leaves them out.
    optional: Mapping[str, Sequence[str]] = field(default_factory=dict)


# Where a component schema of the document is referenced from (``REF.format(model="Error")``).
REF = "#/components/schemas/{model}"


def error_response(description: str) -> dict[str, Any]:
    """A response whose body is the API's ``Error`` (for the paths of an ``OpenApiPart``)."""
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
    }


def json_response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A JSON response with ``schema`` (for the paths of an ``OpenApiPart``)."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def field_schema(f: Field) -> dict[str, Any]:
    """JSON Schema of a field's value as the API returns it."""
    t = f.type
    s: dict[str, Any]
    if t is FieldType.STRING:
        s = {"type": "string", "maxLength": string_length(f)}
        if f.email:
            s["format"] = "email"
    elif t is FieldType.TEXT:
        s = {"type": "string"}
    elif t is FieldType.UUID:
        s = {"type": "string", "format": "uuid"}
    elif t is FieldType.INTEGER:
        s = {"type": "integer", "format": "int32"}
    elif t is FieldType.BIGINT:
        s = {"type": "string", "pattern": r"^-?\d+$", "description": "64-bit integer as a string"}
    elif t is FieldType.DECIMAL:
        s = {
            "type": "string",
            "pattern": rf"^-?\d+(\.\d{{{f.scale}}})?$",
            "description": f"decimal({f.precision},{f.scale}) as a string",
        }
    elif t is FieldType.FLOAT:
        s = {"type": "number", "format": "double"}
    elif t is FieldType.BOOLEAN:
        s = {"type": "boolean"}
    elif t is FieldType.TIMESTAMP:
        s = {"type": "string", "format": "date-time", "examples": ["2026-11-26T10:42:01.801Z"]}
    elif t is FieldType.DATE:
        s = {"type": "string", "format": "date"}
    elif t is FieldType.JSON and f.spatial is not None:
        s = geojson_schema(f.spatial)
    elif t is FieldType.JSON and f.element is not None:
        s = {"type": "array", "items": field_schema(Field(f.name, f.element, nullable=False))}
    elif t is FieldType.JSON:
        s = {}
    else:
        s = {"type": "string", "enum": list(f.enum_values)}
    if f.nullable and s:
        s["type"] = [s["type"], "null"] if "type" in s else None
        if "enum" in s:
            s["enum"] = [*s["enum"], None]
    if f.label:
        s["description"] = f.label
    if f.server_managed:
        s["readOnly"] = True
    if f.references:
        s["description"] = (s.get("description", "") + f" References {f.references}.").strip()
    return s


def id_schema(entity: Entity) -> dict[str, Any]:
    if entity.id_type == "uuid":
        return {"type": "string", "format": "uuid", "readOnly": True}
    if entity.id_type == "serial":
        return {"type": "integer", "readOnly": True}
    if entity.id_type == "bigserial":
        return {"type": "string", "pattern": "^[0-9]+$", "readOnly": True}  # bigints are strings
    return {"type": "string", "readOnly": True}


def ref(model: str) -> dict[str, str]:
    """A ``$ref`` to the component schema ``model``."""
    return {"$ref": REF.format(model=model)}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or JSON ``null``."""
    return {"anyOf": [schema, {"type": "null"}]}


def obj(required: Sequence[str] = (), **properties: Any) -> dict[str, Any]:
    """An object schema with ``properties``; ``required`` names those always present."""
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    return out


# What every /api route that is not /api/auth may answer whatever it does (the CRUD API's shared
# responses): a missing or refused credential, a body too large or not JSON, an outage.
ERROR_STATUSES = {
    "401": "Not signed in, or the credential is not valid (UNAUTHORIZED)",
    "403": "Not allowed: the role, the API key's scopes, a cross-site cookie write (INVALID_ORIGIN), "
    "no active organization, two-factor required",
    "404": "Not found (ROUTE_NOT_FOUND, NOT_FOUND)",
    "413": "Request body too large (PAYLOAD_TOO_LARGE)",
    "415": "Request body is not JSON (UNSUPPORTED_MEDIA_TYPE)",
    "429": "An API key's usage limit is reached (USAGE_EXCEEDED, with Retry-After)",
    "503": "The database is unavailable (DATABASE_UNAVAILABLE, with Retry-After); retry later",
}


def error_responses(*statuses: int) -> dict[str, Any]:
    """The ``Error`` responses of ``statuses``, with the shared descriptions of ``ERROR_STATUSES``."""
    return {str(s): error_response(ERROR_STATUSES.get(str(s), "Error")) for s in statuses}
