"""The magic-link plugin's endpoints in the OpenAPI document."""

from __future__ import annotations

from tenantry.auth.openapi import STATUS, STRING, AuthOp, auth_part, body
from tenantry.core.openapi import OpenApiPart, obj, ref

_CALLBACK = {"type": "string", "maxLength": 2048}

OPS: tuple[AuthOp, ...] = (
    AuthOp(
        "POST",
        "/sign-in/magic-link",
        "Email a sign-in link",
        STATUS,
        body=body(
            ("email",),
            email=STRING,
            name=STRING,
            callbackURL=_CALLBACK,
            newUserCallbackURL=_CALLBACK,
            errorCallbackURL=_CALLBACK,
        ),
        session=False,
    ),
    AuthOp(
        "GET",
        "/magic-link/verify",
        "The emailed link: signs in, then redirects to the callback URL",
        {
            "anyOf": [
                obj(("token", "user", "session"), token=STRING, user=ref("AuthUser"), session=ref("AuthSession")),
                ref("TwoFactorRedirect"),
            ]
        },
        query=(
            ("token", STRING, True),
            ("callbackURL", _CALLBACK, False),
            ("newUserCallbackURL", _CALLBACK, False),
            ("errorCallbackURL", _CALLBACK, False),
        ),
        session=False,
        redirect=True,
        errors={401: "INVALID_TOKEN or EXPIRED_TOKEN (without a callback URL)"},
    ),
)


def magic_link_part() -> OpenApiPart:
    """The magic-link plugin's ``OpenApiPart``."""
    return auth_part(OPS, "magic-link", "Sign-in links sent by email")
