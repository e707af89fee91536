"""The webhooks' stable error codes."""

from __future__ import annotations

from tenantry.errors import ApiError, FieldError, bad_request, forbidden, not_found, unauthorized, validation_failed

ADMIN_ONLY = "FORBIDDEN_ACTION"


def sign_in_first() -> ApiError:
    return unauthorized("Sign in to manage webhooks")


def no_active_organization() -> ApiError:
    return ApiError(403, "NO_ACTIVE_ORGANIZATION", "Create an organization or accept an invitation first")


def admins_only(role: str) -> ApiError:
    return forbidden(f"Only the organization's {role}s manage webhooks", ADMIN_ONLY)


def endpoint_not_found() -> ApiError:
    return not_found("Webhook endpoint", "WEBHOOK_ENDPOINT_NOT_FOUND")


def message_not_found() -> ApiError:
    return not_found("Webhook message", "WEBHOOK_MESSAGE_NOT_FOUND")


def invalid(field: str, message: str, code: str) -> ApiError:
    return validation_failed([FieldError(field, message, code)])


def invalid_query(message: str) -> ApiError:
    return bad_request("INVALID_QUERY", message)
