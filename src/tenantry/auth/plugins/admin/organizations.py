"""``GET /admin/list-organizations`` (a Tenantry extension; Better Auth's admin plugin has none):
every organization of the platform, searchable by name or slug, for superusers.

Query: ``searchValue``, ``limit`` (default 50, at most 200), ``offset``. Answer:
``{"organizations": [{id, name, slug, createdAt, members}], "total", "limit", "offset"}``.
"""

from __future__ import annotations

from tenantry.auth.errors import AuthError
from tenantry.auth.plugins.admin import service
from tenantry.auth.plugins.admin.common import require_admin
from tenantry.auth.router import AuthRequest, Endpoint, Reply

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _bounded(value: str | None, default: int, most: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise AuthError(400, "VALIDATION_ERROR", "[query] limit and offset must be whole numbers") from None
    if number < 0:
        raise AuthError(400, "VALIDATION_ERROR", "[query] limit and offset cannot be negative")
    return min(number, most)


async def list_organizations(req: AuthRequest) -> Reply:
    current = await require_admin(req, "user", "list", "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS")
    limit = _bounded(req.query.get("limit"), DEFAULT_LIMIT, MAX_LIMIT)
    offset = _bounded(req.query.get("offset"), 0, 2**31 - 1)
    found = await service.list_organizations(req.ctx, current, req.query.get("searchValue") or None, limit, offset)
    return Reply({"organizations": found.organizations, "total": found.total, "limit": limit, "offset": offset})


ENDPOINTS = (Endpoint("GET", service.LIST_ORGANIZATIONS, list_organizations),)
