"""The admin plugin's columns: the user's platform role and ban, the session's impersonator.

Better Auth keeps the platform role in the user's ``role`` column. When the users entity already
declares a ``role`` field (the seed's: the user's role in their organization), the platform role
lives in ``platform_role`` (``platformRole`` in the ``better-auth`` preset) and is shown as
``platformRole`` in session JSON; the admin endpoints always answer with Better Auth's ``role``.
"""

from __future__ import annotations

import sqlalchemy as sa

from tenantry.auth.plugin import PluginField
from tenantry.auth.tables import AuthTables
from tenantry.db.types import UTCTimestamp

ROLE = PluginField("role", "role", sa.Text())
PLATFORM_ROLE = PluginField("platformRole", "platform_role", sa.Text())
BAN_FIELDS = (
    PluginField("banned", "banned", sa.Boolean(create_constraint=False), default=False),
    PluginField("banReason", "ban_reason", sa.Text()),
    PluginField("banExpires", "ban_expires", UTCTimestamp()),
)
IMPERSONATED_BY = PluginField("impersonatedBy", "impersonated_by", sa.Text())


def user_fields(declared: frozenset[str]) -> tuple[PluginField, ...]:
    """The user columns, with the role where the schema leaves room for it."""
    return ((PLATFORM_ROLE if "role" in declared else ROLE), *BAN_FIELDS)


def role_name(tables: AuthTables) -> str:
    """Better Auth's name of the platform-role field in this app (``role`` or ``platformRole``)."""
    names = {f.name for f in tables.plugin_user_fields}
    return ROLE.name if ROLE.name in names and PLATFORM_ROLE.name not in names else PLATFORM_ROLE.name
