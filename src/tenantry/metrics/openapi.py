"""``/metrics`` in the OpenAPI document (the metrics capability's ``OpenApiPart``)."""

from __future__ import annotations

from tenantry.core.openapi import OpenApiPart, error_response


def metrics_openapi() -> OpenApiPart:
    """Prometheus' text exposition, behind its own token."""
    paths = {
        "/metrics": {
            "get": {
                "tags": ["operations"],
                "operationId": "metrics",
                "summary": "Prometheus metrics (text exposition format)",
                "description": "With TENANTRY_METRICS_TOKEN set, send it as `Authorization: Bearer`; "
                "open without one in development only.",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The metrics",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "401": error_response("METRICS_UNAUTHORIZED: the metrics token is missing or wrong"),
                    "404": error_response("METRICS_NOT_SERVED: served on a port of their own, or not at all"),
                },
            }
        }
    }
    return OpenApiPart(paths=paths)
