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
