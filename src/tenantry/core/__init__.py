"""The core interface capabilities code against: ``App``, ``Capability`` and their companions.

The core (this package with ``schema``, ``db``, ``pipeline``, ``context``, ``errors``, ``events``
and their helpers) imports no capability; capabilities import the core and, through their public
faces, each other; ``tenantry.app`` and ``tenantry.cli`` compose them (``make lint`` checks it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenantry.lazy import lazy_exports

if TYPE_CHECKING:
    from tenantry.core.app import App, Authenticator, PrincipalListener, Supervised, Worker
    from tenantry.core.capability import Capabilities, Capability, CapabilityError
    from tenantry.core.commands import CommandHost
    from tenantry.core.openapi import OpenApiPart
    from tenantry.core.settings import DEV_SECRET, CoreSettings

# Each name's module, imported at first use: the command line imports ``tenantry.core.options``,
# which must not load pydantic and SQLAlchemy (through the settings and the schema) with it.
_MODULES = {
    "App": "app",
    "Authenticator": "app",
    "PrincipalListener": "app",
    "Supervised": "app",
    "Worker": "app",
    "Capabilities": "capability",
    "Capability": "capability",
    "CapabilityError": "capability",
    "CommandHost": "commands",
    "OpenApiPart": "openapi",
    "DEV_SECRET": "settings",
    "CoreSettings": "settings",
}


__getattr__ = lazy_exports(__name__, _MODULES)


__all__ = [
    "DEV_SECRET",
    "App",
    "Authenticator",
    "Capabilities",
    "Capability",
    "CapabilityError",
    "CommandHost",
    "CoreSettings",
    "OpenApiPart",
    "PrincipalListener",
    "Supervised",
    "Worker",
]
