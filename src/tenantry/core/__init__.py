"""The core interface capabilities code against: ``App``, ``Capability`` and their companions.

The core (this package with ``schema``, ``db``, ``pipeline``, ``context``, ``errors``, ``events``
and their helpers) imports no capability; capabilities import the core and, through their public
faces, each other; ``tenantry.app`` and ``tenantry.cli`` compose them (``make lint`` checks it).
"""

from tenantry.core.app import App, Authenticator, PrincipalListener, Supervised, Worker
from tenantry.core.capability import Capabilities, Capability, CapabilityError
from tenantry.core.commands import CommandHost
from tenantry.core.openapi import OpenApiPart
from tenantry.core.settings import DEV_SECRET, CoreSettings

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
