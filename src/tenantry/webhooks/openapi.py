"""The webhooks' endpoints in the OpenAPI document (their ``OpenApiPart``)."""

from __future__ import annotations

from typing import Any

from tenantry.core.openapi import REF, OpenApiPart, error_response, json_response

TAG = "webhooks"
_TIME = {"type": "string", "format": "date-time"}
_NULL_TIME = {"type": ["string", "null"], "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _page(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["data", "next"],
        "properties": {
            "data": {"type": "array", "items": _ref(item)},
            "next": {"type": ["string", "null"], "description": "Pass as ?before= for the next (older) page"},
        },
    }


def _schemas() -> dict[str, Any]:
    endpoint = {
        "type": "object",
        "required": ["id", "url", "description", "event_types", "enabled", "created_at", "updated_at"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "url": {"type": "string", "format": "uri"},
            "description": {"type": "string"},
            "event_types": {"type": ["array", "null"], "items": {"type": "string"}, "description": "null: every type"},
            "enabled": {"type": "boolean"},
            "disabled_reason": {"type": ["string", "null"], "enum": ["manual", "gone", "failing", None]},
            "failing_since": _NULL_TIME,
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    }
    write = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "url": {"type": "string", "format": "uri", "maxLength": 2048},
            "description": {"type": "string", "maxLength": 500},
            "event_types": {"type": ["array", "null"], "items": {"type": "string"}, "minItems": 1},
            "enabled": {"type": "boolean", "default": True},
        },
    }
    secret = {
        "type": "object",
        "required": ["id", "secret"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "secret": {"type": "string", "pattern": "^whsec_", "description": "Standard Webhooks signing secret"},
            "previous_secret": {"type": ["string", "null"], "description": "Still signing during its grace period"},
            "previous_secret_expires_at": _NULL_TIME,
        },
    }
    message = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "description": "The webhook-id header"},
            "endpoint_id": {"type": "string", "format": "uuid"},
            "event_id": {"type": "string"},
            "event_type": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
            "attempts": {"type": "integer"},
            "created_at": _TIME,
            "delivered_at": _NULL_TIME,
        },
    }
    attempt = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "message_id": {"type": "string"},
            "endpoint_id": {"type": "string", "format": "uuid"},
            "attempt": {"type": "integer"},
            "status": {"type": "string", "enum": ["succeeded", "failed"]},
            "response_status": {"type": ["integer", "null"]},
            "response_body": {"type": ["string", "null"], "description": "The first KB of the answer"},
            "error": {"type": ["string", "null"]},
            "latency_ms": {"type": "integer"},
            "created_at": _TIME,
        },
    }
    event_type = {
        "type": "object",
        "required": ["type", "description", "schema"],
        "properties": {
            "type": {"type": "string", "examples": ["projects.created"]},
            "description": {"type": "string"},
            "schema": {"type": "object", "description": "JSON Schema of the payload"},
        },
    }
    return {
        "WebhookEndpoint": endpoint,
        "WebhookEndpointWrite": write,
        "WebhookEndpointCreated": {
            "allOf": [_ref("WebhookEndpoint"), {"required": ["secret"], "properties": {"secret": {"type": "string"}}}]
        },
        "WebhookSecret": secret,
        "WebhookMessage": message,
        "WebhookMessagePage": _page("WebhookMessage"),
        "WebhookAttempt": attempt,
        "WebhookAttemptPage": _page("WebhookAttempt"),
        "WebhookEventType": event_type,
    }


def webhooks_openapi(prefix: str = "/api/webhooks") -> OpenApiPart:
    """Every ``/api/webhooks`` path with its error codes."""
    admin = {
        "401": error_response("UNAUTHORIZED: not signed in"),
        "403": error_response("FORBIDDEN_ACTION (not an admin) or NO_ACTIVE_ORGANIZATION"),
    }
    found = {**admin, "404": error_response("WEBHOOK_ENDPOINT_NOT_FOUND (none, or another organization's)")}
    codes = "INVALID_URL, HTTPS_REQUIRED, ADDRESS_NOT_ALLOWED, UNRESOLVABLE_HOST, UNKNOWN_EVENT_TYPE …"
    invalid = {"400": error_response(f"VALIDATION_FAILED ({codes}), INVALID_JSON")}
    id_param = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    message_param = {"name": "message_id", "in": "path", "required": True, "schema": {"type": "string"}}
    paging = [
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 250, "default": 50}},
        {
            "name": "before",
            "in": "query",
            "schema": {"type": "string"},
            "description": "The `next` of the previous page",
        },
    ]
    body = {"required": True, "content": {"application/json": {"schema": _ref("WebhookEndpointWrite")}}}

    def op(op_id: str, summary: str, ok: dict[str, Any], errors: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"tags": [TAG], "operationId": op_id, "summary": summary, "responses": {**ok, **errors}, **extra}

    one = prefix + "/endpoints/{id}"
    paths: dict[str, Any] = {
        f"{prefix}/event-types": {
            "get": op(
                "listWebhookEventTypes",
                "The event types endpoints may ask for, each with the JSON Schema of its payload",
                {
                    "200": json_response(
                        {
                            "type": "object",
                            "properties": {"data": {"type": "array", "items": _ref("WebhookEventType")}},
                        },
                        "Event types",
                    )
                },
                {"401": error_response("UNAUTHORIZED")},
            )
        },
        f"{prefix}/endpoints": {
            "get": op(
                "listWebhookEndpoints",
                "Admins: the active organization's endpoints",
                {"200": json_response({"type": "array", "items": _ref("WebhookEndpoint")}, "Endpoints")},
                admin,
            ),
            "post": op(
                "createWebhookEndpoint",
                "Admins: register an endpoint (its signing secret is generated and returned)",
                {"201": json_response(_ref("WebhookEndpointCreated"), "The endpoint and its secret")},
                {**admin, **invalid},
                requestBody=body,
            ),
        },
        one: {
            "parameters": [id_param],
            "get": op(
                "getWebhookEndpoint",
                "Admins: one endpoint",
                {"200": json_response(_ref("WebhookEndpoint"), "Endpoint")},
                found,
            ),
            "patch": op(
                "updateWebhookEndpoint",
                "Admins: change an endpoint (enabled: true turns a disabled one on again)",
                {"200": json_response(_ref("WebhookEndpoint"), "Endpoint")},
                {**found, **invalid},
                requestBody={**body, "content": {"application/json": {"schema": _ref("WebhookEndpointWrite")}}},
            ),
            "put": op(
                "replaceWebhookEndpoint",
                "Admins: change an endpoint (the same as PATCH)",
                {"200": json_response(_ref("WebhookEndpoint"), "Endpoint")},
                {**found, **invalid},
                requestBody={**body, "content": {"application/json": {"schema": _ref("WebhookEndpointWrite")}}},
            ),
            "delete": op(
                "deleteWebhookEndpoint",
                "Admins: delete an endpoint, its messages and attempts",
                {"200": {"description": "Deleted"}},
                found,
            ),
        },
        f"{one}/secret": {
            "parameters": [id_param],
            "get": op(
                "getWebhookEndpointSecret",
                "Admins: the signing secret (and the previous one in its grace period)",
                {"200": json_response(_ref("WebhookSecret"), "Secret")},
                found,
            ),
        },
        f"{one}/rotate-secret": {
            "parameters": [id_param],
            "post": op(
                "rotateWebhookEndpointSecret",
                "Admins: a new secret; the old one signs beside it for the grace period",
                {"200": json_response(_ref("WebhookSecret"), "Secrets")},
                found,
            ),
        },
        f"{one}/messages": {
            "parameters": [id_param, *paging],
            "get": op(
                "listWebhookMessages",
                "Admins: the endpoint's messages, newest first (kept 30 days)",
                {"200": json_response(_ref("WebhookMessagePage"), "Messages")},
                found,
            ),
        },
        f"{one}/attempts": {
            "parameters": [id_param, *paging],
            "get": op(
                "listWebhookAttempts",
                "Admins: every delivery attempt to the endpoint, newest first",
                {"200": json_response(_ref("WebhookAttemptPage"), "Attempts")},
                found,
            ),
        },
        one + "/messages/{message_id}/attempts": {
            "parameters": [id_param, message_param, *paging],
            "get": op(
                "listWebhookMessageAttempts",
                "Admins: the attempts of one message",
                {"200": json_response(_ref("WebhookAttemptPage"), "Attempts")},
                {**found, "404": error_response("WEBHOOK_ENDPOINT_NOT_FOUND, WEBHOOK_MESSAGE_NOT_FOUND")},
            ),
        },
        one + "/messages/{message_id}/resend": {
            "parameters": [id_param, message_param],
            "post": op(
                "resendWebhookMessage",
                "Admins: send one message again (same webhook-id and body)",
                {"202": json_response(_ref("WebhookMessage"), "Queued")},
                {**found, "404": error_response("WEBHOOK_ENDPOINT_NOT_FOUND, WEBHOOK_MESSAGE_NOT_FOUND")},
            ),
        },
        f"{one}/replay": {
            "parameters": [id_param],
            "post": op(
                "replayWebhookMessages",
                "Admins: send every message since a time again (oldest first, at most 1000 per call)",
                {
                    "202": json_response(
                        {
                            "type": "object",
                            "properties": {
                                "queued": {"type": "integer"},
                                "more": {"type": "boolean"},
                                "last_created_at": _NULL_TIME,
                            },
                        },
                        "Queued",
                    )
                },
                {**found, "400": error_response("VALIDATION_FAILED (REQUIRED, INVALID_TIME, INVALID_TYPE)")},
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["since"],
                                "properties": {"since": _TIME, "failed_only": {"type": "boolean", "default": False}},
                            }
                        }
                    },
                },
            ),
        },
    }
    return OpenApiPart(
        paths=paths,
        schemas=_schemas(),
        tags=[{"name": TAG, "description": "Outbound webhooks (Standard Webhooks signatures)"}],
    )
