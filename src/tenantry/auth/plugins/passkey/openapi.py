"""The passkey plugin's endpoints in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from tenantry.auth.openapi import ANY_OBJECT, BOOLEAN, ID, INTEGER, NULL_STRING, STATUS, STRING, AuthOp, auth_part, body
from tenantry.core.openapi import OpenApiPart, obj, ref

PASSKEY = ref("Passkey")
_OPTIONS = {
    **obj(("challenge",), challenge=STRING),
    "description": "WebAuthn options as @simplewebauthn/browser takes them",
}
_SIGNED_IN = obj(("session", "user"), session=ref("AuthSession"), user=ref("AuthUser"))


def _schemas() -> dict[str, Any]:
    return {
        "Passkey": obj(
            ("id", "publicKey", "userId", "credentialID", "counter", "deviceType", "backedUp"),
            id=STRING,
            name=NULL_STRING,
            publicKey=STRING,
            userId=ID,
            credentialID=STRING,
            counter=INTEGER,
            deviceType=STRING,
            backedUp=BOOLEAN,
            transports=NULL_STRING,
            createdAt={"type": ["string", "null"], "format": "date-time"},
            aaguid=NULL_STRING,
        )
    }


_ATTACHMENT = {"type": "string", "enum": ["platform", "cross-platform"]}

OPS: tuple[AuthOp, ...] = (
    AuthOp(
        "GET",
        "/passkey/generate-register-options",
        "Options to register a passkey (a fresh session is required)",
        _OPTIONS,
        query=(("authenticatorAttachment", _ATTACHMENT, False), ("name", STRING, False)),
        errors={403: "SESSION_NOT_FRESH"},
    ),
    AuthOp(
        "POST",
        "/passkey/verify-registration",
        "Register the passkey the browser created",
        {"anyOf": [PASSKEY, {"allOf": [PASSKEY, _SIGNED_IN]}]},
        body=body(("response",), response=ANY_OBJECT, name=STRING),
        errors={403: "SESSION_NOT_FRESH"},
    ),
    AuthOp(
        "GET",
        "/passkey/generate-authenticate-options",
        "Options to sign in with a passkey",
        _OPTIONS,
        session=False,
    ),
    AuthOp(
        "POST",
        "/passkey/generate-authenticate-options",
        "Options to sign in with a passkey",
        _OPTIONS,
        body=ANY_OBJECT,
        session=False,
    ),
    AuthOp(
        "POST",
        "/passkey/verify-authentication",
        "Sign in with the passkey assertion the browser made",
        _SIGNED_IN,
        body=body(("response",), response=ANY_OBJECT),
        session=False,
        errors={401: "AUTHENTICATION_FAILED, PASSKEY_NOT_FOUND"},
    ),
    AuthOp("GET", "/passkey/list-user-passkeys", "The user's passkeys", {"type": "array", "items": PASSKEY}),
    AuthOp(
        "POST",
        "/passkey/delete-passkey",
        "Delete one of the user's passkeys",
        STATUS,
        body=body(("id",), id=STRING),
        errors={404: "PASSKEY_NOT_FOUND"},
    ),
    AuthOp(
        "POST",
        "/passkey/update-passkey",
        "Rename one of the user's passkeys",
        obj(("passkey",), passkey=PASSKEY),
        body=body(("id", "name"), id=STRING, name=STRING),
        errors={404: "PASSKEY_NOT_FOUND"},
    ),
)


def passkey_part() -> OpenApiPart:
    """The passkey plugin's ``OpenApiPart``."""
    return auth_part(OPS, "passkey", "WebAuthn passkeys: registration and sign-in", _schemas())
