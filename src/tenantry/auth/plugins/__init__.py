"""The optional authentication capabilities, each a Better Auth plugin on the wire.

``two-factor`` (TOTP, e-mailed codes, backup codes, trusted devices), ``magic-link``,
``passkey`` (WebAuthn), ``api-key`` and ``admin`` (platform superusers: users, bans,
impersonation). ``TENANTRY_AUTH_PLUGINS`` chooses which are on (all by default).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tenantry.auth.plugin import AuthPlugin

# Classes are imported when asked for: the settings validate plugin names without loading them.


def _two_factor() -> type[AuthPlugin]:
    from tenantry.auth.plugins.two_factor import TwoFactorPlugin

    return TwoFactorPlugin


def _magic_link() -> type[AuthPlugin]:
    from tenantry.auth.plugins.magic_link import MagicLinkPlugin

    return MagicLinkPlugin


def _passkey() -> type[AuthPlugin]:
    from tenantry.auth.plugins.passkey import PasskeyPlugin

    return PasskeyPlugin


def _api_key() -> type[AuthPlugin]:
    from tenantry.auth.plugins.api_key import ApiKeyPlugin

    return ApiKeyPlugin


def _admin() -> type[AuthPlugin]:
    from tenantry.auth.plugins.admin import AdminPlugin

    return AdminPlugin


PLUGINS: dict[str, Callable[[], type[AuthPlugin]]] = {
    "two-factor": _two_factor,
    "magic-link": _magic_link,
    "passkey": _passkey,
    "api-key": _api_key,
    "admin": _admin,
}


def plugin_classes(ids: Sequence[str]) -> list[type[AuthPlugin]]:
    """The capability classes of the plugins ``ids``, in the order of ``PLUGINS``."""
    return [factory() for plugin_id, factory in PLUGINS.items() if plugin_id in ids]
