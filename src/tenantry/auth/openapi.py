"""``/api/auth`` in the OpenAPI document: how an endpoint declares itself, the shapes authentication
shares (user, session, error), and Better Auth's core endpoints.

Each capability of ``/api/auth`` (authentication itself, the organization plugin, two-factor …)
declares its endpoints as ``AuthOp``s next to their handlers and turns them into its ``OpenApiPart``
with ``auth_part``: the responses every endpoint shares (the router's 400, 403, 413 and 429, 401
where a session is required) are added here once, so a declaration names only what is its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tenantry.core.openapi import OpenApiPart, field_schema, json_response, nullable, obj, ref

if TYPE_CHECKING:
    from tenantry.auth.tables import AuthTables
    from tenantry.db.tables import TableSet

BASE = "/api/auth"
TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
NULL_TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
STRING: dict[str, Any] = {"type": "string"}
NULL_STRING: dict[str, Any] = {"type": ["string", "null"]}
BOOLEAN: dict[str, Any] = {"type": "boolean"}
INTEGER: dict[str, Any] = {"type": "integer"}
# The user id as the app stores it (a UUID, an integer or text, per the users entity): a string or a number.
ID: dict[str, Any] = {"type": ["string", "integer"]}
# Bodies Better Auth accepts (JSON objects; unknown members are ignored).
ANY_OBJECT: dict[str, Any] = {"type": "object"}
STATUS = ref("AuthStatus")
SUCCESS = ref("AuthSuccess")


@dataclass(frozen=True)
class AuthOp:
    """One ``/api/auth`` endpoint as the document shows it.

    ``response`` is the JSON Schema of its 200 body (None: it answers no JSON); ``body`` that of
    its JSON request body; ``query`` its query parameters ``(name, schema, required)``. ``session``:
    a signed-in session is required (401 without one). ``errors``: statuses beyond those every
    endpoint may answer, with what they mean. ``redirect``: it may answer 302 to a callback URL.
    """

    method: str
    path: str
    summary: str
    response: dict[str, Any] | None
    body: dict[str, Any] | None = None
    query: Sequence[tuple[str, dict[str, Any], bool]] = ()
    session: bool = True
    errors: Mapping[int, str] | None = None
    redirect: bool = False
    html: bool = False


def operation_id(method: str, path: str, duplicate: bool) -> str:
    """``/sign-in/email`` -> ``authSignInEmail`` (``auth`` and Better Auth's client name, which the CRUD
    API's may share: ``updateUser``); a POST twin of a GET gets ``Post``."""
    words = [w for w in re.split(r"[/\-{}]+", path) if w]
    name = "auth" + "".join(w[:1].upper() + w[1:] for w in words)
    return name + ("Post" if duplicate and method == "POST" else "")


def _error(description: str) -> dict[str, Any]:
    return json_response(ref("AuthError"), description)


def _operation(op: AuthOp, tag: str, duplicate: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if op.html:
        responses["200"] = {"description": op.summary, "content": {"text/html": {"schema": STRING}}}
    elif op.response is not None:
        responses["200"] = json_response(op.response, "Success")
    if op.redirect:
        responses["302"] = {
            "description": "Redirected to the callback URL (with `?error=` when refused)",
            "headers": {"Location": {"schema": STRING}},
        }
    responses["400"] = _error("Invalid body or query (VALIDATION_ERROR, BAD_REQUEST …)")
    if op.session:
        responses["401"] = _error("No session (UNAUTHORIZED)")
    responses["403"] = _error("Refused: untrusted origin or callback URL, or not allowed")
    if op.method == "POST":
        responses["413"] = _error("Body too large (PAYLOAD_TOO_LARGE)")
    responses["429"] = {
        "description": "Too many requests; retry after `x-retry-after` seconds",
        "headers": {"x-retry-after": {"schema": INTEGER}},
        "content": {"application/json": {"schema": ref("AuthRateLimited")}},
    }
    for status, description in (op.errors or {}).items():
        responses[str(status)] = _error(description)
    out: dict[str, Any] = {
        "tags": [tag],
        "operationId": operation_id(op.method, op.path, duplicate),
        "summary": op.summary,
        "responses": dict(sorted(responses.items())),
    }
    params = [
        {"name": name, "in": "path", "required": True, "schema": STRING} for name in re.findall(r"\{(\w+)\}", op.path)
    ]
    params += [{"name": n, "in": "query", "required": r, "schema": s} for n, s, r in op.query]
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": False, "content": {"application/json": {"schema": op.body}}}
    if not op.session:
        # A session is used when sent but not needed.
        out["security"] = [{}, {"sessionCookie": []}, {"bearerToken": []}]
    return out


def auth_part(
    ops: Sequence[AuthOp],
    tag: str,
    description: str,
    schemas: Mapping[str, Any] | None = None,
) -> OpenApiPart:
    """The ``OpenApiPart`` of a capability's ``/api/auth`` endpoints."""
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        duplicate = sum(1 for other in ops if other.path == op.path) > 1
        paths.setdefault(BASE + op.path, {})[op.method.lower()] = _operation(op, tag, duplicate)
    return OpenApiPart(paths=paths, schemas=dict(schemas or {}), tags=[{"name": tag, "description": description}])


def body(required: Sequence[str] = (), **properties: Any) -> dict[str, Any]:
    """A request body object (unknown members are ignored, as Better Auth does)."""
    return obj(required, **properties)


# -- shapes shared by every capability of /api/auth ----------------------------------------------


def _plugin_field_schema(column_type: Any) -> dict[str, Any]:
    if isinstance(column_type, sa.Boolean):
        return {"type": ["boolean", "null"]}
    if isinstance(column_type, sa.DateTime):
        return NULL_TIME
    if isinstance(column_type, sa.Integer):
        return {"type": ["integer", "null"]}
    return NULL_STRING


def shared_schemas(tables: AuthTables) -> dict[str, Any]:
    """``AuthUser``, ``AuthSession``, the error and status bodies: what several endpoints answer."""
    user: dict[str, Any] = {
        "name": STRING,
        "email": {"type": "string"},
        "emailVerified": BOOLEAN,
        "image": NULL_STRING,
        "createdAt": TIME,
        "updatedAt": TIME,
    }
    for f in tables.additional:
        s = field_schema(f)
        s.pop("readOnly", None)
        # A user who signed up without it has none; the admin plugin's ``role`` is the platform role.
        user[f.name] = NULL_STRING if f.name == "role" else ({} if not s.get("type") else nullable(s))
    for spec in tables.plugin_user_fields:
        if spec.returned:
            user[spec.name] = _plugin_field_schema(spec.type)
    user["organization"] = {
        **nullable(ref("OrganizationSummary")),
        "description": "The session's active organization (with organizations)",
    }
    user["id"] = ID
    session: dict[str, Any] = {
        "expiresAt": TIME,
        "token": STRING,
        "createdAt": TIME,
        "updatedAt": TIME,
        "ipAddress": NULL_STRING,
        "userAgent": NULL_STRING,
        "userId": ID,
        "activeOrganizationId": {**NULL_STRING, "description": "With organizations"},
    }
    for spec in tables.plugin_session_fields:
        if spec.returned:
            session[spec.name] = _plugin_field_schema(spec.type)
    session["id"] = STRING
    return {
        "AuthUser": obj(("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt"), **user),
        "AuthSession": obj(("id", "token", "userId", "expiresAt", "createdAt", "updatedAt"), **session),
        "OrganizationSummary": obj(("id", "name", "slug"), id=STRING, name=STRING, slug=STRING),
        "AuthError": {
            **obj(("message", "code"), message=STRING, code={**STRING, "description": "Stable error code"}),
            "description": "Better Auth's error body",
        },
        "AuthRateLimited": obj(("message",), message=STRING),
        "AuthStatus": obj(("status",), status=BOOLEAN),
        "AuthSuccess": obj(("success",), success=BOOLEAN, message=STRING),
        "AuthTokenUser": obj(("token", "user"), token=NULL_STRING, user=ref("AuthUser")),
        "SessionWithUser": obj(("session", "user"), session=ref("AuthSession"), user=ref("AuthUser")),
        "TwoFactorRedirect": obj(
            ("twoFactorRedirect",),
            twoFactorRedirect={"const": True},
            twoFactorMethods={"type": "array", "items": STRING},
        ),
    }


# -- Better Auth's core endpoints ---------------------------------------------------------------

_CALLBACK = {"type": "string", "maxLength": 2048}
_SIGNED_IN = {
    "anyOf": [
        obj(
            ("redirect", "token", "user"),
            redirect=BOOLEAN,
            token=STRING,
            url={**STRING, "description": "The callbackURL, when one was sent"},
            user=ref("AuthUser"),
        ),
        ref("TwoFactorRedirect"),
    ]
}
_ACCOUNT = obj(
    ("id", "providerId", "accountId", "userId", "createdAt", "updatedAt", "scopes"),
    id=STRING,
    providerId=STRING,
    accountId=STRING,
    userId=ID,
    createdAt=TIME,
    updatedAt=TIME,
    scopes={"type": "array", "items": STRING},
)
_SOCIAL_SIGN_IN = body(
    ("provider",),
    provider=STRING,
    callbackURL=_CALLBACK,
    newUserCallbackURL=_CALLBACK,
    errorCallbackURL=_CALLBACK,
    disableRedirect=BOOLEAN,
    scopes={"type": "array", "items": STRING},
    idToken=obj(("token",), token=STRING, nonce=STRING, accessToken=STRING, refreshToken=STRING),
    requestSignUp=BOOLEAN,
    loginHint=STRING,
)
_URL_REDIRECT = obj(("url", "redirect"), url=STRING, redirect=BOOLEAN)

CORE_OPS: tuple[AuthOp, ...] = (
    AuthOp("GET", "/ok", "Liveness of /api/auth", obj(("ok",), ok={"const": True}), session=False),
    AuthOp("GET", "/error", "The error page a failed sign-in lands on", None, session=False, html=True),
    AuthOp(
        "GET",
        "/get-session",
        "The caller's session and user (`null` when signed out)",
        nullable(ref("SessionWithUser")),
        query=(("disableCookieCache", BOOLEAN, False), ("disableRefresh", BOOLEAN, False)),
        session=False,
    ),
    AuthOp(
        "POST",
        "/get-session",
        "Not served: the session is read with GET",
        None,
        session=False,
        errors={405: "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED"},
    ),
    AuthOp("POST", "/sign-out", "End the session and clear its cookies", SUCCESS, body=ANY_OBJECT, session=False),
    AuthOp(
        "GET",
        "/list-sessions",
        "The user's sessions",
        {"type": "array", "items": ref("AuthSession")},
        errors={403: "SESSION_NOT_FRESH"},
    ),
    AuthOp("POST", "/revoke-session", "End one of the user's sessions", STATUS, body=body(("token",), token=STRING)),
    AuthOp("POST", "/revoke-sessions", "End all of the user's sessions", STATUS, body=ANY_OBJECT),
    AuthOp("POST", "/revoke-other-sessions", "End the user's other sessions", STATUS, body=ANY_OBJECT),
    AuthOp(
        "POST",
        "/sign-up/email",
        "Create a user with email and password (and sign in, unless verification is required)",
        ref("AuthTokenUser"),
        body=body(
            ("email", "password", "name"),
            email={"type": "string", "format": "email"},
            password=STRING,
            name=STRING,
            image=STRING,
            callbackURL=_CALLBACK,
            rememberMe=BOOLEAN,
        ),
        session=False,
        errors={422: "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"},
    ),
    AuthOp(
        "POST",
        "/sign-in/email",
        "Sign in with email and password",
        _SIGNED_IN,
        body=body(("email", "password"), email=STRING, password=STRING, callbackURL=_CALLBACK, rememberMe=BOOLEAN),
        session=False,
        errors={401: "INVALID_EMAIL_OR_PASSWORD", 403: "EMAIL_NOT_VERIFIED, or an untrusted origin"},
    ),
    AuthOp(
        "POST",
        "/change-password",
        "Change the password (optionally ending the other sessions)",
        ref("AuthTokenUser"),
        body=body(
            ("currentPassword", "newPassword"),
            currentPassword=STRING,
            newPassword=STRING,
            revokeOtherSessions=BOOLEAN,
        ),
    ),
    AuthOp(
        "POST",
        "/request-password-reset",
        "Email a password-reset link (the same answer for unknown emails)",
        obj(("status",), status=BOOLEAN, message=STRING),
        body=body(("email",), email=STRING, redirectTo=_CALLBACK),
        session=False,
    ),
    AuthOp(
        "POST",
        "/forget-password",
        "Older name of request-password-reset",
        obj(("status",), status=BOOLEAN, message=STRING),
        body=body(("email",), email=STRING, redirectTo=_CALLBACK),
        session=False,
    ),
    AuthOp(
        "GET",
        "/reset-password/{token}",
        "The emailed reset link: redirects to the callback URL with the token",
        None,
        query=(("callbackURL", _CALLBACK, True),),
        session=False,
        redirect=True,
    ),
    AuthOp(
        "POST",
        "/reset-password",
        "Set a new password with a reset token",
        STATUS,
        body=body(("newPassword",), newPassword=STRING, token=STRING),
        query=(("token", STRING, False),),
        session=False,
    ),
    AuthOp(
        "POST",
        "/update-user",
        "Change the user's name, image or additional fields",
        STATUS,
        body={**ANY_OBJECT, "properties": {"name": STRING, "image": NULL_STRING}},
    ),
    AuthOp(
        "POST",
        "/send-verification-email",
        "Email a verification link",
        STATUS,
        body=body(("email",), email=STRING, callbackURL=_CALLBACK),
        session=False,
    ),
    AuthOp(
        "GET",
        "/verify-email",
        "The emailed verification link",
        obj(("status",), status=BOOLEAN, user=nullable(ref("AuthUser"))),
        query=(("token", STRING, True), ("callbackURL", _CALLBACK, False)),
        session=False,
        redirect=True,
        errors={401: "INVALID_TOKEN, TOKEN_EXPIRED or USER_NOT_FOUND"},
    ),
    AuthOp(
        "POST",
        "/change-email",
        "Change the email (verified through a link when verification is on)",
        STATUS,
        body=body(("newEmail",), newEmail=STRING, callbackURL=_CALLBACK),
    ),
    AuthOp(
        "POST",
        "/delete-user",
        "Delete the user (or email a confirmation link)",
        SUCCESS,
        body=body(password=STRING, token=STRING, callbackURL=_CALLBACK),
        errors={404: "Deleting users is not enabled"},
    ),
    AuthOp(
        "GET",
        "/delete-user/callback",
        "The emailed link that confirms a deletion",
        SUCCESS,
        query=(("token", STRING, True), ("callbackURL", _CALLBACK, False)),
        redirect=True,
        errors={404: "INVALID_TOKEN, or deleting users is not enabled"},
    ),
    AuthOp("GET", "/list-accounts", "The user's linked accounts", {"type": "array", "items": _ACCOUNT}),
    AuthOp(
        "POST",
        "/sign-in/social",
        "Start a sign-in with a social provider (or sign in with its ID token)",
        {"anyOf": [_URL_REDIRECT, _SIGNED_IN]},
        body=_SOCIAL_SIGN_IN,
        session=False,
        errors={
            401: "INVALID_TOKEN, USER_EMAIL_NOT_FOUND or OAUTH_LINK_ERROR",
            404: "PROVIDER_NOT_FOUND, ID_TOKEN_NOT_SUPPORTED",
        },
    ),
    AuthOp(
        "GET",
        "/callback/{provider}",
        "The provider's redirect back after sign-in",
        None,
        query=(("code", STRING, False), ("state", STRING, False), ("error", STRING, False)),
        session=False,
        redirect=True,
    ),
    AuthOp(
        "POST",
        "/callback/{provider}",
        "The provider's form post back after sign-in (redirected to the GET callback)",
        None,
        body=ANY_OBJECT,
        session=False,
        redirect=True,
    ),
    AuthOp(
        "POST",
        "/link-social",
        "Link a social account to the user",
        {"anyOf": [_URL_REDIRECT, obj(("status",), url=STRING, status=BOOLEAN, redirect=BOOLEAN)]},
        body=_SOCIAL_SIGN_IN,
        errors={
            401: "LINKING_NOT_ALLOWED, INVALID_TOKEN",
            404: "PROVIDER_NOT_FOUND",
            409: "SOCIAL_ACCOUNT_ALREADY_LINKED",
            417: "LINKING_FAILED",
        },
    ),
    AuthOp(
        "POST",
        "/unlink-account",
        "Unlink an account from the user",
        STATUS,
        body=body(("providerId",), providerId=STRING, accountId=STRING),
    ),
    AuthOp(
        "POST",
        "/get-access-token",
        "A valid access token of a linked account (refreshed when needed)",
        obj(
            accessToken=STRING,
            accessTokenExpiresAt=TIME,
            scopes={"type": "array", "items": STRING},
            idToken=STRING,
        ),
        body=body(("providerId",), providerId=STRING, accountId=STRING, userId=ID),
    ),
    AuthOp(
        "POST",
        "/refresh-token",
        "Refresh a linked account's tokens",
        obj(
            accessToken=STRING,
            refreshToken=STRING,
            accessTokenExpiresAt=TIME,
            refreshTokenExpiresAt=TIME,
            scope=STRING,
            idToken=STRING,
            tokenType=STRING,
            providerId=STRING,
            accountId=STRING,
        ),
        body=body(("providerId",), providerId=STRING, accountId=STRING, userId=ID),
    ),
    AuthOp(
        "GET",
        "/account-info",
        "The provider's profile of a linked account",
        obj(("user", "data"), user=ANY_OBJECT, data=ANY_OBJECT),
        query=(("accountId", STRING, False),),
    ),
)


def core_part(tables: TableSet) -> OpenApiPart:
    """Authentication's ``/api/auth`` endpoints and the shapes its plugins share."""
    auth: AuthTables = tables.extensions["auth"]
    return auth_part(
        CORE_OPS,
        "auth",
        "Better Auth's core endpoints: email and password, sessions, verification, reset, social sign-in",
        shared_schemas(auth),
    )
