"""The api-key plugin's endpoints in the OpenAPI document, and ``x-api-key`` as a security scheme."""

from __future__ import annotations

from typing import Any

from tenantry.auth.openapi import (
    ANY_OBJECT,
    BOOLEAN,
    INTEGER,
    NULL_STRING,
    NULL_TIME,
    STRING,
    TIME,
    AuthOp,
    auth_part,
    body,
)
from tenantry.core.openapi import OpenApiPart, nullable, obj, ref

KEY = ref("ApiKey")
_NULL_INT = {"type": ["integer", "null"]}
_SCOPES = {
    "type": ["object", "null"],
    "additionalProperties": {"type": "array", "items": STRING},
    "description": "Entity -> actions the key may take (null: its user's rights)",
}
_SESSION = {401: "UNAUTHORIZED_SESSION"}
_NOT_FOUND = {404: "KEY_NOT_FOUND"}


def _schemas() -> dict[str, Any]:
    key = obj(
        ("id", "referenceId", "enabled", "createdAt", "updatedAt"),
        id=STRING,
        configId=NULL_STRING,
        name=NULL_STRING,
        start=NULL_STRING,
        referenceId=STRING,
        prefix=NULL_STRING,
        refillInterval=_NULL_INT,
        refillAmount=_NULL_INT,
        lastRefillAt=NULL_TIME,
        enabled=BOOLEAN,
        rateLimitEnabled=BOOLEAN,
        rateLimitTimeWindow=_NULL_INT,
        rateLimitMax=_NULL_INT,
        requestCount=INTEGER,
        remaining=_NULL_INT,
        lastRequest=NULL_TIME,
        expiresAt=NULL_TIME,
        createdAt=TIME,
        updatedAt=TIME,
        permissions=_SCOPES,
        metadata={},
        organizationId=NULL_STRING,
    )
    created = {"allOf": [key, obj(("key",), key={**STRING, "description": "The key itself, shown only once"})]}
    return {"ApiKey": key, "ApiKeyCreated": created}


_WRITE = {
    "name": STRING,
    "expiresIn": {"type": ["integer", "null"], "minimum": 1},
    "permissions": _SCOPES,
    "metadata": {},
}

OPS: tuple[AuthOp, ...] = (
    AuthOp(
        "POST",
        "/api-key/create",
        "Create a key for the user in an organization (the active one by default)",
        ref("ApiKeyCreated"),
        body=body((), prefix=STRING, organizationId=STRING, **_WRITE),
        errors={**_SESSION, **_NOT_FOUND},
    ),
    AuthOp(
        "GET",
        "/api-key/get",
        "One of the user's keys",
        KEY,
        query=(("id", STRING, True),),
        errors=_NOT_FOUND,
    ),
    AuthOp(
        "POST",
        "/api-key/update",
        "Change one of the user's keys",
        KEY,
        body=body(("keyId",), keyId=STRING, enabled=BOOLEAN, **_WRITE),
        errors={**_SESSION, **_NOT_FOUND},
    ),
    AuthOp(
        "POST",
        "/api-key/delete",
        "Revoke one of the user's keys",
        obj(("success",), success=BOOLEAN),
        body=body(("keyId",), keyId=STRING),
        errors=_NOT_FOUND,
    ),
    AuthOp(
        "GET",
        "/api-key/list",
        "The user's keys",
        obj(
            ("apiKeys", "total"), apiKeys={"type": "array", "items": KEY}, total=INTEGER, limit=INTEGER, offset=INTEGER
        ),
        query=(
            ("organizationId", STRING, False),
            ("limit", {"type": "integer", "minimum": 0}, False),
            ("offset", {"type": "integer", "minimum": 0}, False),
            ("sortBy", STRING, False),
            ("sortDirection", {"type": "string", "enum": ["asc", "desc"]}, False),
        ),
    ),
    AuthOp(
        "POST",
        "/api-key/verify",
        "Whether a key is valid (and within the permissions asked)",
        obj(
            ("valid", "error", "key"),
            valid=BOOLEAN,
            error=nullable(obj(("message", "code"), message=STRING, code=STRING)),
            key=nullable(KEY),
        ),
        body=body(("key",), key=STRING, permissions=_SCOPES),
        session=False,
    ),
    AuthOp(
        "POST",
        "/api-key/delete-all-expired-api-keys",
        "Delete every expired key",
        obj(("success",), success=BOOLEAN, error=NULL_STRING),
        body=ANY_OBJECT,
    ),
)

SCHEME = {
    "type": "apiKey",
    "in": "header",
    "name": "x-api-key",
    "description": "An API key (created at /api/auth/api-key/create): its user's rights in its organization, "
    "within its scopes.",
}


def api_key_part() -> OpenApiPart:
    """The api-key plugin's endpoints, the key's shape, and the ``apiKey`` security scheme."""
    part = auth_part(OPS, "api-key", "API keys: created by users, sent as x-api-key", _schemas())
    return OpenApiPart(part.paths, part.schemas, part.tags, security_schemes={"apiKey": SCHEME})
