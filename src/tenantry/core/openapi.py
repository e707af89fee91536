"""What a capability adds to the app's OpenAPI document (``/api/openapi.json``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OpenApiPart:
    """Paths, component schemas and tags a capability adds to the document (billing's endpoints, say)."""

    paths: Mapping[str, Any]
    schemas: Mapping[str, Any] = field(default_factory=dict)
    tags: Sequence[Mapping[str, str]] = ()
    # Other ways to authenticate (an API key header): each is also accepted in place of a session.
    security_schemes: Mapping[str, Any] = field(default_factory=dict)


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
