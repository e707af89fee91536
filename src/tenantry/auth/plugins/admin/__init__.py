"""The admin plugin (Better Auth's admin protocol): being built."""

from __future__ import annotations

from tenantry.auth.plugin import AuthPlugin


class AdminPlugin(AuthPlugin):
    id = "admin"
