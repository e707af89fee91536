"""Body checks that answer as Better Auth's zod schemas do: ``[body.x] Invalid input: …`` (400)."""

from __future__ import annotations

import re
from typing import Any

from tenantry.auth.errors import validation_error

# zod's e-mail pattern (v4 default), which Better Auth validates sign-up addresses with.
EMAIL = re.compile(r"^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-\.]*)[A-Za-z0-9_+\-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$")


def js_type(value: Any) -> str:
    """The type name zod reports for a received value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def string(body: dict[str, Any], key: str, *, required: bool = True, where: str = "body") -> str | None:
    """A string member, or None when absent and optional."""
    if key not in body or (body[key] is None and not required):
        if required:
            raise validation_error(f"{where}.{key}", "Invalid input: expected string, received undefined")
        return None
    value = body[key]
    if not isinstance(value, str):
        raise validation_error(f"{where}.{key}", f"Invalid input: expected string, received {js_type(value)}")
    return value


def boolean(body: dict[str, Any], key: str) -> bool | None:
    if key not in body or body[key] is None:
        return None
    value = body[key]
    if isinstance(value, str) and value in ("true", "false"):  # form bodies carry text
        return value == "true"
    if not isinstance(value, bool):
        raise validation_error(f"body.{key}", f"Invalid input: expected boolean, received {js_type(value)}")
    return value


def email(body: dict[str, Any], key: str = "email") -> str:
    value = string(body, key)
    assert value is not None
    return checked_email(value, key)


def checked_email(value: str, key: str = "email") -> str:
    """``value`` if it is an e-mail address, else zod's 400 for the body member ``key``."""
    if not is_email(value):
        raise validation_error(f"body.{key}", "Invalid email address")
    return value


def is_email(value: str) -> bool:
    return bool(EMAIL.match(value)) and len(value) <= 320
