"""The api-key plugin (Better Auth's api-key protocol): being built."""

from __future__ import annotations

from tenantry.auth.plugin import AuthPlugin


class ApiKeyPlugin(AuthPlugin):
    id = "api-key"
