"""What every admin endpoint shares: the superuser check, the user as the admin plugin shows it,
and reading ids from bodies."""

from __future__ import annotations

from typing import Any

from tenantry.auth.errors import auth_error, validation_error
from tenantry.auth.plugins.admin.access import DEFAULT_ROLE, has_permission
from tenantry.auth.plugins.admin.fields import PLATFORM_ROLE, role_name
from tenantry.auth.router import AuthRequest
from tenantry.auth.service import AuthContext, Current
from tenantry.auth.store import UserRecord
from tenantry.auth.validate import js_type


def platform_role(ctx: AuthContext, user: UserRecord) -> str | None:
    """The user's stored platform role (None when never set)."""
    value = user.plugin.get(role_name(ctx.tables))
    return str(value) if value is not None else None


def is_impersonation(current: Current) -> bool:
    """Whether a session was opened by an admin impersonating its user."""
    return bool(current.session.get("impersonated_by"))


async def require_admin(req: AuthRequest, resource: str, action: str, refusal: str) -> Current:
    """The caller's session if its user's platform role grants ``resource:action``: else 401
    UNAUTHORIZED without a session, 403 ``refusal`` (Better Auth's code) with one.

    Checked before the body is read (the services check it again, for the pages that call them).
    An impersonation session never passes, whatever its user's role: an admin acting as someone
    cannot reach the admin endpoints through them.
    """
    current = await req.session()
    check_admin(req.ctx, current, resource, action, refusal)
    return current


def check_admin(ctx: AuthContext, current: Current, resource: str, action: str, refusal: str) -> None:
    """403 ``refusal`` unless the session's platform role grants ``resource:action`` (never for an
    impersonation session)."""
    role = platform_role(ctx, current.user)
    if is_impersonation(current) or not has_permission(role, {resource: [action]}):
        raise auth_error(403, refusal)


def admin_user_json(ctx: AuthContext, user: UserRecord) -> dict[str, Any]:
    """Better Auth's user JSON with ``role`` the platform role, whatever column holds it here."""
    out = ctx.shapes.user_json(user)
    out.pop(PLATFORM_ROLE.name, None)
    out["role"] = platform_role(ctx, user) or DEFAULT_ROLE
    return out


def user_id(body: dict[str, Any], key: str = "userId") -> str:
    """A user id member: a string, or a number (Better Auth coerces with ``z.coerce.string()``)."""
    value = body.get(key)
    if value is None:
        raise validation_error(f"body.{key}", "Invalid input: expected string, received undefined")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise validation_error(f"body.{key}", f"Invalid input: expected string, received {js_type(value)}")
    return str(value)


async def target_user(ctx: AuthContext, raw_id: str) -> UserRecord:
    """The user a request names, or 404 USER_NOT_FOUND (also for ids that cannot be ids here)."""
    try:
        user = await ctx.store.user_by_id(raw_id)
    except ValueError:  # not a UUID / an integer where the app's ids are
        user = None
    if user is None:
        raise auth_error(404, "USER_NOT_FOUND")
    return user


def audit_user(user: UserRecord) -> dict[str, Any]:
    """How the audit log names a user in old/new values."""
    return {"email": user.email, "name": user.core.get("name")}
