"""Better Auth's error codes and the ``{"message", "code"}`` error shape of ``/api/auth``."""

from __future__ import annotations

import re
from typing import Any

# Better Auth's BASE_ERROR_CODES (better-auth 1.7), code -> message, so clients that switch on
# ``error.code`` behave exactly as they do against Better Auth.
BASE_ERROR_CODES: dict[str, str] = {
    "USER_NOT_FOUND": "User not found",
    "FAILED_TO_CREATE_USER": "Failed to create user",
    "FAILED_TO_CREATE_SESSION": "Failed to create session",
    "FAILED_TO_UPDATE_USER": "Failed to update user",
    "FAILED_TO_GET_SESSION": "Failed to get session",
    "INVALID_PASSWORD": "Invalid password",
    "INVALID_EMAIL": "Invalid email",
    "INVALID_EMAIL_OR_PASSWORD": "Invalid email or password",
    "INVALID_USER": "Invalid user",
    "SOCIAL_ACCOUNT_ALREADY_LINKED": "Social account already linked",
    "PROVIDER_NOT_FOUND": "Provider not found",
    "INVALID_TOKEN": "Invalid token",
    "TOKEN_EXPIRED": "Token expired",
    "ID_TOKEN_NOT_SUPPORTED": "id_token not supported",
    "FAILED_TO_GET_USER_INFO": "Failed to get user info",
    "USER_EMAIL_NOT_FOUND": "User email not found",
    "EMAIL_NOT_VERIFIED": "Email not verified",
    "PASSWORD_TOO_SHORT": "Password too short",
    "PASSWORD_TOO_LONG": "Password too long",
    "USER_ALREADY_EXISTS": "User already exists.",
    "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL": "User already exists. Use another email.",
    "EMAIL_CAN_NOT_BE_UPDATED": "Email can not be updated",
    "CHANGE_EMAIL_DISABLED": "Change email is disabled",
    "CREDENTIAL_ACCOUNT_NOT_FOUND": "Credential account not found",
    "SESSION_EXPIRED": "Session expired. Re-authenticate to perform this action.",
    "FAILED_TO_UNLINK_LAST_ACCOUNT": "You can't unlink your last account",
    "ACCOUNT_NOT_FOUND": "Account not found",
    "USER_ALREADY_HAS_PASSWORD": "User already has a password. Provide that to delete the account.",
    "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED": (
        "Cross-site navigation login blocked. This request appears to be a CSRF attack."
    ),
    "VERIFICATION_EMAIL_NOT_ENABLED": "Verification email isn't enabled",
    "EMAIL_ALREADY_VERIFIED": "Email is already verified",
    "EMAIL_MISMATCH": "Email mismatch",
    "SESSION_NOT_FRESH": "Session is not fresh",
    "LINKED_ACCOUNT_ALREADY_EXISTS": "Linked account already exists",
    "INVALID_ORIGIN": "Invalid origin",
    "INVALID_CALLBACK_URL": "Invalid callbackURL",
    "INVALID_REDIRECT_URL": "Invalid redirectURL",
    "INVALID_ERROR_CALLBACK_URL": "Invalid errorCallbackURL",
    "INVALID_NEW_USER_CALLBACK_URL": "Invalid newUserCallbackURL",
    "MISSING_OR_NULL_ORIGIN": "Missing or null Origin",
    "CALLBACK_URL_REQUIRED": "callbackURL is required",
    "FAILED_TO_CREATE_VERIFICATION": "Unable to create verification",
    "FIELD_NOT_ALLOWED": "Field not allowed to be set",
    "VALIDATION_ERROR": "Validation Error",
    "MISSING_FIELD": "Field is required",
    "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED": (
        "POST method requires deferSessionRefresh to be enabled in session config"
    ),
    "BODY_MUST_BE_AN_OBJECT": "Body must be an object",
    "PASSWORD_ALREADY_SET": "User already has a password set",
    "UNAUTHORIZED": "Unauthorized",
    "BAD_REQUEST": "Bad Request",
    "EMAIL_PASSWORD_SIGN_UP_DISABLED": "Email and password sign up is not enabled",
    "RESET_PASSWORD_DISABLED": "Reset password isn't enabled",
}


def register_error_codes(codes: dict[str, str] | Any) -> None:
    """Add a plugin's error codes (Better Auth's plugins bring their own, e.g. ``INVALID_CODE``);
    a message of theirs raised without a code then gets its code from them."""
    for code, message in codes.items():
        BASE_ERROR_CODES.setdefault(code, message)


class AuthError(Exception):
    """An error answered as Better Auth does: ``{"message": ..., "code": ...}`` with ``status``."""

    def __init__(self, status: int, code: str | None, message: str | None = None, **headers: str) -> None:
        self.status = status
        self.message = message if message is not None else BASE_ERROR_CODES.get(code or "", code or "")
        # Every error but the rate limit's carries a stable code, so clients can switch on ``code``
        # everywhere: one Better Auth words without a code gets Better Auth's code for that message
        # when it has one, else the code derived from the message (see ``code_for``).
        self.code = code if code is not None or status == 429 else code_for(self.message)
        self.headers = headers
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        # Key order as Better Auth emits it: message, then code (absent for rate limits).
        body: dict[str, Any] = {"message": self.message}
        if self.code is not None:
            body["code"] = self.code
        return body


def code_for(message: str) -> str:
    """The stable code of an error Better Auth gives as a message alone: the code Better Auth's
    tables (its core's and those of the plugins registered) have for that very message, else
    ``message_code(message)``."""
    for code, known in BASE_ERROR_CODES.items():
        if known == message:
            return code
    return message_code(message)


def message_code(message: str) -> str:
    """``"You are not impersonating anyone"`` -> ``YOU_ARE_NOT_IMPERSONATING_ANYONE``."""
    return re.sub(r"[^A-Z0-9_]", "", message.upper().replace(" ", "_"))


def auth_error(status: int, code: str) -> AuthError:
    """The Better Auth error ``code`` with its standard message."""
    return AuthError(status, code, BASE_ERROR_CODES[code])


def value_rejected() -> AuthError:
    """The database refused a value (too long for its column, out of range): the caller's doing, a 400."""
    return AuthError(400, "VALIDATION_ERROR", "A value is too long or not valid for its field")


def validation_error(path: str, message: str) -> AuthError:
    """Zod-style ``[body.email] Invalid email address`` (400 VALIDATION_ERROR)."""
    return AuthError(400, "VALIDATION_ERROR", f"[{path}] {message}")
