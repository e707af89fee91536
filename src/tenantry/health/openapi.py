"""``/healthz`` and ``/readyz`` in the OpenAPI document (the health capability's ``OpenApiPart``)."""

from __future__ import annotations

from tenantry.core.openapi import OpenApiPart, json_response, obj

TAG = "operations"


def health_openapi() -> OpenApiPart:
    """Liveness and readiness, for load balancers and orchestrators (no sign-in)."""
    check = {"type": "string", "description": "ok, or why the dependency failed"}
    ready = obj(
        ("status", "checks"),
        status={"type": "string", "enum": ["ready", "unavailable"]},
        checks={"type": "object", "additionalProperties": check},
        failing={"type": "array", "items": {"type": "string"}},
        stopped_workers={"type": "array", "items": {"type": "string"}},
    )
    paths = {
        "/healthz": {
            "get": {
                "tags": [TAG],
                "operationId": "healthz",
                "summary": "The process is alive",
                "security": [],
                "responses": {"200": json_response(obj(("status",), status={"const": "ok"}), "Alive")},
            }
        },
        "/readyz": {
            "get": {
                "tags": [TAG],
                "operationId": "readyz",
                "summary": "Every dependency (database, migrations, Redis) answers in time",
                "security": [],
                "responses": {
                    "200": json_response(ready, "Ready"),
                    "503": json_response(ready, "A dependency is failing (named in `failing`)"),
                },
            }
        },
    }
    return OpenApiPart(paths=paths, tags=[{"name": TAG, "description": "Health, readiness and metrics"}])
