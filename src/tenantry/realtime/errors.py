"""The realtime capability's stable error codes: toward HTTP clients and toward sockets refused at connect."""

from __future__ import annotations

from typing import Any

from tenantry.errors import ApiError, bad_request, not_found

# Sent with a refused Socket.IO connection (the client's ``connect_error`` has them in ``err.data``).
UNAUTHORIZED = "UNAUTHORIZED"
INVALID_ORIGIN = "INVALID_ORIGIN"
INVALID_CURSOR = "INVALID_CURSOR"
SESSION_REVOKED = "SESSION_REVOKED"
UNAVAILABLE = "UNAVAILABLE"


def refusal(code: str, message: str) -> dict[str, Any]:
    """The ``data`` of a refused connection: ``{code, message}``."""
    return {"code": code, "message": message}


def invalid_notification(message: str) -> ApiError:
    """A notification the server code asked for is not valid (a programming error, reported clearly)."""
    return bad_request("INVALID_NOTIFICATION", message)


def notification_not_found() -> ApiError:
    return not_found("Notification", "NOTIFICATION_NOT_FOUND")


def invalid_query(message: str) -> ApiError:
    return bad_request("INVALID_QUERY", message)
