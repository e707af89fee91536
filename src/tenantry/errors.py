"""Errors every capability raises toward clients, with stable machine-readable codes.

The JSON form follows NestJS (``statusCode``, ``message``, ``error``), which nestjsx/crud and Apso
clients already parse, plus ``code`` so clients never have to match on message text.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class ApiError(Exception):
    """An error with an HTTP status and a stable code; nothing was changed when one is raised."""

    def __init__(self, status: int, code: str, message: str | list[str], **extra: Any) -> None:
        super().__init__(message if isinstance(message, str) else "; ".join(message))
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "statusCode": self.status,
            "message": self.message,
            "error": HTTPStatus(self.status).phrase,
            "code": self.code,
        }
        body.update(self.extra)
        return body


def bad_request(code: str, message: str | list[str], **extra: Any) -> ApiError:
    return ApiError(400, code, message, **extra)


def not_found(what: str, code: str = "NOT_FOUND") -> ApiError:
    """404 with nestjsx's wording: ``"<Entity> not found"``."""
    return ApiError(404, code, f"{what} not found")


def conflict(code: str, message: str, **extra: Any) -> ApiError:
    return ApiError(409, code, message, **extra)


def forbidden(message: str = "Forbidden", code: str = "FORBIDDEN") -> ApiError:
    return ApiError(403, code, message)


def unauthorized(message: str = "Unauthorized", code: str = "UNAUTHORIZED") -> ApiError:
    return ApiError(401, code, message)


class FieldError:
    """One problem with one field of a request body."""

    __slots__ = ("code", "field", "message")

    def __init__(self, field: str, message: str, code: str) -> None:
        self.field = field
        self.message = message
        self.code = code

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "code": self.code}


def validation_failed(errors: list[FieldError], status: int = 400) -> ApiError:
    """400 listing every field problem: ``message`` as NestJS's list of strings, ``errors`` per field."""
    return ApiError(
        status,
        "VALIDATION_FAILED",
        [f"{e.field}: {e.message}" if e.field else e.message for e in errors],
        errors=[e.to_dict() for e in errors],
    )
