"""The magic-link plugin (Better Auth's magic-link protocol): being built."""

from __future__ import annotations

from tenantry.auth.plugin import AuthPlugin


class MagicLinkPlugin(AuthPlugin):
    id = "magic-link"
