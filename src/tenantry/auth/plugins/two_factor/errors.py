"""The two-factor error codes: Better Auth's (``TWO_FACTOR_ERROR_CODES`` of 1.7.25) and ours."""

from __future__ import annotations

from tenantry.auth.errors import AuthError

ERROR_CODES: dict[str, str] = {
    "OTP_NOT_ENABLED": "OTP not enabled",
    "OTP_NOT_CONFIGURED": "OTP is not available",
    "OTP_HAS_EXPIRED": "OTP has expired",
    "TOTP_NOT_ENABLED": "TOTP not enabled",
    "TOTP_ALREADY_ENABLED": "TOTP is already enabled",
    "TOTP_NOT_CONFIGURED": "TOTP is not available",
    "TWO_FACTOR_NOT_ENABLED": "Two factor isn't enabled",
    "BACKUP_CODES_NOT_ENABLED": "Backup codes aren't enabled",
    "INVALID_BACKUP_CODE": "Invalid backup code",
    "INVALID_CODE": "Invalid code",
    "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE": "Too many attempts. Please request a new code.",
    "ACCOUNT_TEMPORARILY_LOCKED": (
        "Too many failed verification attempts. Your account is temporarily locked. Please try again later."
    ),
    "INVALID_TWO_FACTOR_COOKIE": "Invalid two factor cookie",
    # Ours: an organization that requires two-factor refuses members without it.
    "TWO_FACTOR_REQUIRED": "This organization requires two-factor authentication. Turn it on for your account first.",
}


def two_factor_error(status: int, code: str, **headers: str) -> AuthError:
    """The two-factor error ``code`` with its message."""
    return AuthError(status, code, ERROR_CODES[code], **headers)
