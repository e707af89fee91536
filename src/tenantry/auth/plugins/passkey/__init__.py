"""The passkey plugin (Better Auth's passkey protocol): being built."""

from __future__ import annotations

from tenantry.auth.plugin import AuthPlugin


class PasskeyPlugin(AuthPlugin):
    id = "passkey"
