"""The notifications' endpoints in the OpenAPI document (the realtime capability's ``OpenApiPart``)."""

from __future__ import annotations

from typing import Any

from tenantry.core.openapi import OpenApiPart, error_response, error_responses, json_response, obj, ref

TAG = "notifications"
_STRING = {"type": "string"}
_NULL_STRING = {"type": ["string", "null"]}


def _schemas() -> dict[str, Any]:
    notification = obj(
        ("id", "user_id", "type", "title", "read_at", "created_at"),
        id={"type": "string", "format": "uuid"},
        user_id={"type": ["string", "integer"]},
        org_id=_NULL_STRING,
        type=_STRING,
        title=_STRING,
        message=_NULL_STRING,
        data={"description": "What the notification is about (any JSON)"},
        read_at={"type": ["string", "null"], "format": "date-time"},
        created_at={"type": "string", "format": "date-time"},
    )
    page = obj(
        ("data", "count", "total", "page", "pageCount", "unread"),
        data={"type": "array", "items": ref("Notification")},
        count={"type": "integer"},
        total={"type": "integer"},
        page={"type": "integer"},
        pageCount={"type": "integer"},
        unread={"type": "integer"},
    )
    return {"Notification": notification, "NotificationPage": page}


def notifications_openapi(prefix: str = "/api/notifications") -> OpenApiPart:
    """The signed-in user's notifications: list, unread count, mark read."""
    signed_in = error_responses(401, 503)
    number = {"type": "integer", "minimum": 1}
    paths = {
        prefix: {
            "get": {
                "tags": [TAG],
                "operationId": "listNotifications",
                "summary": "The user's notifications, newest first",
                "parameters": [
                    {"name": "page", "in": "query", "schema": {**number, "maximum": 1_000_000}},
                    {"name": "limit", "in": "query", "schema": {**number, "maximum": 100}},
                    {
                        "name": "unread",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["true", "false", "1", "0"]},
                    },
                ],
                "responses": {
                    "200": json_response(ref("NotificationPage"), "A page of notifications"),
                    "400": error_response("INVALID_QUERY"),
                    **signed_in,
                },
            }
        },
        f"{prefix}/unread-count": {
            "get": {
                "tags": [TAG],
                "operationId": "countUnreadNotifications",
                "summary": "How many notifications are unread",
                "responses": {
                    "200": json_response(obj(("count",), count={"type": "integer"}), "The count"),
                    **signed_in,
                },
            }
        },
        f"{prefix}/read-all": {
            "post": {
                "tags": [TAG],
                "operationId": "readAllNotifications",
                "summary": "Mark every notification read",
                "responses": {
                    "200": json_response(obj(("updated",), updated={"type": "integer"}), "How many changed"),
                    **error_responses(401, 403, 503),
                },
            }
        },
        prefix + "/{id}/read": {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": _STRING}],
            "post": {
                "tags": [TAG],
                "operationId": "readNotification",
                "summary": "Mark one notification read",
                "responses": {
                    "200": json_response(obj(("id", "read"), id=_STRING, read={"const": True}), "Marked read"),
                    "404": error_response("NOTIFICATION_NOT_FOUND"),
                    **error_responses(401, 403, 503),
                },
            },
        },
    }
    return OpenApiPart(paths=paths, schemas=_schemas(), tags=[{"name": TAG, "description": "In-app notifications"}])
