"""The admin plugin's ``/api/auth/admin/*`` endpoints in the OpenAPI document."""

from __future__ import annotations

from tenantry.auth.openapi import (
    ANY_OBJECT,
    BOOLEAN,
    ID,
    INTEGER,
    NULL_STRING,
    NULL_TIME,
    STATUS,
    STRING,
    SUCCESS,
    AuthOp,
    auth_part,
    body,
)
from tenantry.core.openapi import OpenApiPart, obj, ref

USER = ref("AuthUser")
_USER_ID = body(("userId",), userId=ID)
_ADMIN = {403: "Not a superuser with this permission, or impersonating (YOU_ARE_NOT_ALLOWED_TO_…)"}
_TARGET = {**_ADMIN, 404: "USER_NOT_FOUND"}
_ROLE = {"anyOf": [STRING, {"type": "array", "items": STRING}]}
_SIGNED_IN = obj(("session", "user"), session=ref("AuthSession"), user=USER)
_ORG = obj(
    ("id", "name", "slug", "createdAt", "members"),
    id=STRING,
    name=NULL_STRING,
    slug=NULL_STRING,
    createdAt=NULL_TIME,
    members=INTEGER,
)
_PAGE = (("limit", INTEGER, False), ("offset", INTEGER, False))

OPS: tuple[AuthOp, ...] = (
    AuthOp(
        "GET",
        "/admin/list-users",
        "Users, searched, filtered, sorted and paged",
        obj(("users", "total"), users={"type": "array", "items": USER}, total=INTEGER, limit=INTEGER, offset=INTEGER),
        query=(
            ("searchValue", STRING, False),
            ("searchField", {"type": "string", "enum": ["email", "name"]}, False),
            ("searchOperator", {"type": "string", "enum": ["contains", "starts_with", "ends_with"]}, False),
            ("filterField", STRING, False),
            ("filterValue", STRING, False),
            ("filterOperator", STRING, False),
            ("sortBy", STRING, False),
            ("sortDirection", {"type": "string", "enum": ["asc", "desc"]}, False),
            *_PAGE,
        ),
        errors=_ADMIN,
    ),
    AuthOp("GET", "/admin/get-user", "One user", USER, query=(("id", STRING, True),), errors=_TARGET),
    AuthOp(
        "POST",
        "/admin/create-user",
        "Create a user",
        obj(("user",), user=USER),
        body=body(("email", "name"), email=STRING, name=STRING, password=STRING, role=_ROLE, data=ANY_OBJECT),
        errors=_ADMIN,
    ),
    AuthOp(
        "POST",
        "/admin/update-user",
        "Change a user",
        USER,
        body=body(("userId", "data"), userId=ID, data=ANY_OBJECT),
        errors=_TARGET,
    ),
    AuthOp(
        "POST",
        "/admin/set-role",
        "Set a user's platform role",
        obj(("user",), user=USER),
        body=body(("userId", "role"), userId=ID, role=_ROLE),
        errors=_TARGET,
    ),
    AuthOp("POST", "/admin/remove-user", "Delete a user", SUCCESS, body=_USER_ID, errors=_TARGET),
    AuthOp(
        "POST",
        "/admin/set-user-password",
        "Set a user's password",
        STATUS,
        body=body(("userId", "newPassword"), userId=ID, newPassword=STRING),
        errors=_TARGET,
    ),
    AuthOp(
        "POST",
        "/admin/has-permission",
        "Whether the user's platform role allows the permissions",
        obj(("success",), success=BOOLEAN, error=NULL_STRING),
        body=body(
            userId=ID,
            role=STRING,
            permissions={"type": "object", "additionalProperties": {"type": "array", "items": STRING}},
            permission={"type": "object", "additionalProperties": {"type": "array", "items": STRING}},
        ),
    ),
    AuthOp(
        "POST",
        "/admin/ban-user",
        "Ban a user (their sessions end)",
        obj(("user",), user=USER),
        body=body(("userId",), userId=ID, banReason=STRING, banExpiresIn={"type": "number"}),
        errors=_TARGET,
    ),
    AuthOp("POST", "/admin/unban-user", "Lift a ban", obj(("user",), user=USER), body=_USER_ID, errors=_TARGET),
    AuthOp(
        "POST",
        "/admin/list-user-sessions",
        "A user's sessions",
        obj(("sessions",), sessions={"type": "array", "items": ref("AuthSession")}),
        body=_USER_ID,
        errors=_TARGET,
    ),
    AuthOp(
        "POST",
        "/admin/revoke-user-session",
        "End one of a user's sessions",
        SUCCESS,
        body=body(("sessionToken",), sessionToken=STRING),
        errors=_ADMIN,
    ),
    AuthOp(
        "POST", "/admin/revoke-user-sessions", "End all of a user's sessions", SUCCESS, body=_USER_ID, errors=_TARGET
    ),
    AuthOp(
        "POST",
        "/admin/impersonate-user",
        "Act as a user for a while (a new session)",
        _SIGNED_IN,
        body=_USER_ID,
        errors=_TARGET,
    ),
    AuthOp(
        "POST",
        "/admin/stop-impersonating",
        "Return to the superuser's own session",
        _SIGNED_IN,
        body=ANY_OBJECT,
    ),
    AuthOp(
        "GET",
        "/admin/list-organizations",
        "Every organization with its member count",
        obj(
            ("organizations", "total", "limit", "offset"),
            organizations={"type": "array", "items": _ORG},
            total=INTEGER,
            limit=INTEGER,
            offset=INTEGER,
        ),
        query=(("searchValue", STRING, False), *_PAGE),
        errors=_ADMIN,
    ),
)


def admin_part() -> OpenApiPart:
    """The admin plugin's ``OpenApiPart``."""
    return auth_part(OPS, "admin", "Platform superusers: users, bans, sessions, impersonation, organizations")
