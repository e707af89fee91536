"""The two-factor plugin's endpoints in the OpenAPI document."""

from __future__ import annotations

from tenantry.auth.openapi import BOOLEAN, STATUS, STRING, AuthOp, auth_part, body
from tenantry.core.openapi import OpenApiPart, obj, ref

_PASSWORD = body(("password",), password=STRING)
_CODES = {"type": "array", "items": STRING}
_VERIFIED = ref("AuthTokenUser")
_CODE = body(("code",), code=STRING, trustDevice=BOOLEAN)
_PENDING = "With the pending sign-in's cookie, or a session (enrolment)"
_INVALID = {401: "INVALID_CODE, INVALID_TWO_FACTOR_COOKIE, or no pending sign-in"}
_REQUIREMENT = obj(("organizationId", "requireTwoFactor"), organizationId=STRING, requireTwoFactor=BOOLEAN)

OPS: tuple[AuthOp, ...] = (
    AuthOp(
        "POST",
        "/two-factor/enable",
        "Start enrolment: the TOTP URI and backup codes (active once a code is verified)",
        obj(("method",), method={"type": "string", "enum": ["totp", "otp"]}, totpURI=STRING, backupCodes=_CODES),
        body=body(("password",), password=STRING, issuer=STRING),
    ),
    AuthOp("POST", "/two-factor/get-totp-uri", "The TOTP URI", obj(("totpURI",), totpURI=STRING), body=_PASSWORD),
    AuthOp(
        "POST",
        "/two-factor/verify-totp",
        f"Verify a TOTP code. {_PENDING}",
        _VERIFIED,
        body=_CODE,
        session=False,
        errors=_INVALID,
    ),
    AuthOp(
        "POST",
        "/two-factor/send-otp",
        f"Email a one-time code. {_PENDING}",
        STATUS,
        body=obj(),
        session=False,
        errors=_INVALID,
    ),
    AuthOp(
        "POST",
        "/two-factor/verify-otp",
        f"Verify an emailed code. {_PENDING}",
        _VERIFIED,
        body=_CODE,
        session=False,
        errors=_INVALID,
    ),
    AuthOp(
        "POST",
        "/two-factor/verify-backup-code",
        f"Sign in with a backup code. {_PENDING}",
        _VERIFIED,
        body=body(("code",), code=STRING, trustDevice=BOOLEAN, disableSession=BOOLEAN),
        session=False,
        errors=_INVALID,
    ),
    AuthOp(
        "POST",
        "/two-factor/generate-backup-codes",
        "New backup codes (the old ones stop working)",
        obj(("status", "backupCodes"), status=BOOLEAN, backupCodes=_CODES),
        body=_PASSWORD,
    ),
    AuthOp("POST", "/two-factor/disable", "Turn two-factor off", STATUS, body=_PASSWORD),
    AuthOp(
        "GET",
        "/two-factor/organization-requirement",
        "Whether an organization requires its members to use two-factor",
        _REQUIREMENT,
        query=(("organizationId", STRING, False),),
    ),
    AuthOp(
        "POST",
        "/two-factor/organization-requirement",
        "Require two-factor of an organization's members (its admins)",
        _REQUIREMENT,
        body=body(("requireTwoFactor",), requireTwoFactor=BOOLEAN, organizationId=STRING),
    ),
)


def two_factor_part() -> OpenApiPart:
    """The two-factor plugin's ``OpenApiPart``."""
    return auth_part(OPS, "two-factor", "TOTP, emailed codes and backup codes as a second factor")
