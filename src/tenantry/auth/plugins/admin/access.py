"""Platform roles and what they may do: Better Auth's admin access control with its default roles.

A user's platform role is ``admin`` or ``user`` (several may be joined by commas, as Better Auth
stores them); no role at all counts as ``user``. Only ``admin`` is a superuser: it may do
everything below except impersonate other admins, which nobody may.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

ADMIN_ROLES = ("admin",)
DEFAULT_ROLE = "user"

# Better Auth's defaultStatements / adminAc / userAc.
STATEMENTS: dict[str, tuple[str, ...]] = {
    "user": (
        "create",
        "list",
        "set-role",
        "ban",
        "impersonate",
        "impersonate-admins",
        "delete",
        "set-password",
        "set-email",
        "set-phone",
        "get",
        "update",
    ),
    "session": ("list", "revoke", "delete"),
}
ROLES: dict[str, dict[str, frozenset[str]]] = {
    "admin": {
        "user": frozenset(STATEMENTS["user"]) - {"impersonate-admins"},
        "session": frozenset(STATEMENTS["session"]),
    },
    "user": {"user": frozenset(), "session": frozenset()},
}


def roles_of(value: str | None) -> list[str]:
    """The roles in a stored role value (``"admin,user"``), ``user`` when there is none."""
    return [r.strip() for r in (value or DEFAULT_ROLE).split(",") if r.strip()] or [DEFAULT_ROLE]


def is_admin(role: str | None) -> bool:
    """Whether a stored role value makes its user a superuser."""
    return any(r in ADMIN_ROLES for r in roles_of(role))


def has_permission(role: str | None, permissions: Mapping[str, Sequence[str]]) -> bool:
    """Whether one of the roles in ``role`` grants every action asked in ``permissions``
    (``{"user": ["ban"]}``); unknown roles, resources or actions grant nothing."""
    if not permissions:
        return False
    for name in roles_of(role):
        granted = ROLES.get(name)
        if granted is None:
            continue
        if all(
            resource in granted and all(action in granted[resource] for action in actions)
            for resource, actions in permissions.items()
        ):
            return True
    return False


def valid_permissions(value: Any) -> bool:
    """A ``{resource: [action, …]}`` object, as ``/admin/has-permission`` takes it."""
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(a, str) for a in v) for k, v in value.items()
    )


def parse_role(value: Any) -> str | None:
    """A role body member (a string or a list of strings) as stored, or None when malformed."""
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(r, str) and r.strip() for r in items):
        return None
    return ",".join(r.strip() for r in items)
