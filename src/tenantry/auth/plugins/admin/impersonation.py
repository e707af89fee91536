"""``/admin/impersonate-user`` and ``/admin/stop-impersonating`` (the logic: ``service``).

Impersonating opens a session for the target marked ``impersonatedBy`` that lasts
``TENANTRY_IMPERSONATION_DURATION`` seconds (an hour by default); the admin's own session is kept
in the signed ``admin_session`` cookie and restored by stop-impersonating. An impersonation
session can never reach the admin endpoints or change the target's credentials (see
``AdminPlugin.install``).
"""

from __future__ import annotations

from typing import Any

from tenantry.auth.plugins.admin import service
from tenantry.auth.plugins.admin.common import require_admin, user_id
from tenantry.auth.router import AuthRequest, Endpoint, Reply


def _reply(switched: service.Switched) -> Reply:
    # The admin cookie goes first, as better-call writes it.
    return Reply(
        {"session": switched.session, "user": switched.user},
        set_session=(switched.token, switched.dont_remember),
        headers={"set-cookie": switched.admin_cookie},
    )


def make_impersonate(duration: int) -> Any:
    """The impersonate-user handler with the configured session lifetime."""

    async def impersonate_user(req: AuthRequest) -> Reply:
        current = await require_admin(req, "user", "impersonate", "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS")
        return _reply(await service.impersonate(req.ctx, req.client, current, user_id(req.body), duration))

    return impersonate_user


async def stop_impersonating(req: AuthRequest) -> Reply:
    current = await req.session()
    return _reply(await service.stop_impersonating(req.ctx, req.client, current))


def endpoints(duration: int) -> tuple[Endpoint, ...]:
    """The two impersonation endpoints."""
    return (
        Endpoint("POST", service.IMPERSONATE_USER, make_impersonate(duration)),
        Endpoint("POST", service.STOP_IMPERSONATING, stop_impersonating),
    )
