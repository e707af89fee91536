"""Better-Auth-compatible authentication under ``/api/auth``: sessions, passwords, verification, OAuth.

Its public face: ``Authentication`` (the capability: its tables, the ``/api/auth`` router, the
request authenticator and the expiry sweeper), ``AuthPlugin`` (the facet of a capability that
extends it), ``AuthSettings``.
"""

from __future__ import annotations

from tenantry.auth.capability import Authentication
from tenantry.auth.plugin import AuthHooks, AuthPlugin, PluginField
from tenantry.auth.service import AuthContext, Current, Mailer
from tenantry.auth.settings import AuthSettings
from tenantry.auth.tables import AuthTables, auth_tables

__all__ = [
    "AuthContext",
    "AuthHooks",
    "AuthPlugin",
    "AuthSettings",
    "AuthTables",
    "Authentication",
    "Current",
    "Mailer",
    "PluginField",
    "auth_tables",
]
