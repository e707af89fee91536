"""The two-factor plugin (Better Auth's two-factor protocol): being built."""

from __future__ import annotations

from tenantry.auth.plugin import AuthPlugin


class TwoFactorPlugin(AuthPlugin):
    id = "two-factor"
