"""The audit log's export in the OpenAPI document (the audit capability's ``OpenApiPart``)."""

from __future__ import annotations

from tenantry.core.openapi import OpenApiPart, error_response, error_responses


def export_openapi(route: str, prefix: str = "/api") -> OpenApiPart:
    """``GET /api/<audit route>/export``: every matching row as CSV or JSON lines."""
    array_of_strings = {"type": "array", "items": {"type": "string"}}
    operation = {
        "tags": [route],
        "operationId": "exportAuditLog",
        "summary": "Download the audit log (its organization's; admins)",
        "parameters": [
            {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["csv", "jsonl"]}},
            {"name": "fields", "in": "query", "schema": {"type": "string"}, "description": "Columns to include"},
            {"name": "filter", "in": "query", "style": "form", "explode": True, "schema": array_of_strings},
            {"name": "or", "in": "query", "style": "form", "explode": True, "schema": array_of_strings},
            {"name": "s", "in": "query", "schema": {"type": "string"}},
            {"name": "sort", "in": "query", "style": "form", "explode": True, "schema": array_of_strings},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0}},
        ],
        "responses": {
            "200": {
                "description": "The rows, streamed, as an attachment",
                "headers": {"content-disposition": {"schema": {"type": "string"}}},
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
            },
            "400": error_response("INVALID_FORMAT, INVALID_QUERY, INVALID_FILTER …"),
            **error_responses(401, 403, 503),
        },
    }
    return OpenApiPart(paths={f"{prefix}/{route}/export": {"get": operation}})
