"""Better Auth's api-key error codes, and the refusal of a key on use."""

from __future__ import annotations

from typing import Any

from tenantry.auth.errors import AuthError
from tenantry.errors import ApiError

# @better-auth/api-key 1.7's API_KEY_ERROR_CODES (those this server can answer), plus Tenantry's own.
API_KEY_ERROR_CODES: dict[str, str] = {
    "INVALID_METADATA_TYPE": "metadata must be an object or undefined",
    "REFILL_AMOUNT_AND_INTERVAL_REQUIRED": "refillAmount is required when refillInterval is provided",
    "REFILL_INTERVAL_AND_AMOUNT_REQUIRED": "refillInterval is required when refillAmount is provided",
    "USER_BANNED": "User is banned",
    "UNAUTHORIZED_SESSION": "Unauthorized or invalid session",
    "KEY_NOT_FOUND": "API Key not found",
    "KEY_DISABLED": "API Key is disabled",
    "KEY_EXPIRED": "API Key has expired",
    "USAGE_EXCEEDED": "API Key has reached its usage limit",
    "EXPIRES_IN_IS_TOO_SMALL": "The expiresIn is smaller than the predefined minimum value.",
    "EXPIRES_IN_IS_TOO_LARGE": "The expiresIn is larger than the predefined maximum value.",
    "INVALID_PREFIX_LENGTH": "The prefix length is either too large or too small.",
    "INVALID_NAME_LENGTH": "The name length is either too large or too small.",
    "METADATA_DISABLED": "Metadata is disabled.",
    "RATE_LIMIT_EXCEEDED": "Rate limit exceeded.",
    "NO_VALUES_TO_UPDATE": "No values to update.",
    "INVALID_API_KEY": "Invalid API key.",
    "SERVER_ONLY_PROPERTY": "The property you're trying to set can only be set from the server auth instance only.",
    "USER_NOT_MEMBER_OF_ORGANIZATION": "You are not a member of the organization that owns this API key.",
    # Tenantry's: scopes naming what the schema does not have, and the per-key rate limit.
    "INVALID_PERMISSIONS": "Invalid permissions",
    "RATE_LIMITED": "Rate limit exceeded.",
}


def key_error(status: int, code: str) -> AuthError:
    """The api-key error ``code`` with its standard message."""
    return AuthError(status, code, API_KEY_ERROR_CODES[code])


class KeyRefused(Exception):
    """A key that may not be used now: not found, disabled, expired, over its limits, or its user
    no longer a member of its organization."""

    def __init__(self, status: int, code: str, retry_after: int | None = None) -> None:
        super().__init__(API_KEY_ERROR_CODES[code])
        self.status = status
        self.code = code
        self.message = API_KEY_ERROR_CODES[code]
        self.retry_after = retry_after

    def details(self) -> dict[str, Any]:
        # Better Auth's RATE_LIMITED carries {"details": {"tryAgainIn": <milliseconds>}}.
        return {} if self.retry_after is None else {"details": {"tryAgainIn": self.retry_after * 1000}}

    def api_error(self) -> ApiError:
        """As the CRUD API answers it (``retryAfter`` in seconds on 429)."""
        extra: dict[str, Any] = {"retryAfter": self.retry_after} if self.retry_after is not None else {}
        return ApiError(self.status, self.code, self.message, **extra)

    def verify_body(self) -> dict[str, Any]:
        """As ``/api-key/verify`` reports it: ``{"message", "code"[, "details"]}``."""
        return {"message": self.message, "code": self.code, **self.details()}
