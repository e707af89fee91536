"""The passkey plugin: Better Auth's passkey protocol (``@better-auth/passkey``) over WebAuthn.

A signed-in user registers passkeys (several, each with a name), lists, renames and removes them;
anyone signs in with one, without a password or even an e-mail address (discoverable credentials).
The challenge of each ceremony is kept server-side for five minutes, named by a signed cookie;
the authenticator's signature counter must grow; sign-in makes the session through the core
(session guards apply) and is audited as ``sign_in`` with method ``passkey``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute

from tenantry.auth.plugin import AuthPlugin
from tenantry.auth.plugins.passkey.openapi import passkey_part
from tenantry.auth.plugins.passkey.pages import routes as page_routes
from tenantry.auth.plugins.passkey.service import Passkeys
from tenantry.auth.plugins.passkey.settings import PasskeySettings, RelyingParty, relying_party
from tenantry.auth.plugins.passkey.store import Passkey, PasskeyStore
from tenantry.auth.plugins.passkey.tables import EXTENSION, PasskeyTables, passkey_tables
from tenantry.web.provider import PageProvider

if TYPE_CHECKING:
    from tenantry.auth import Authentication
    from tenantry.auth.router import Endpoint
    from tenantry.auth.tables import AuthTables
    from tenantry.core import App, Capabilities, OpenApiPart
    from tenantry.db.tables import TableSet
    from tenantry.schema import Schema
    from tenantry.web import Web

__all__ = ["Passkey", "PasskeyPlugin", "PasskeySettings", "PasskeyStore", "Passkeys", "RelyingParty"]

# Better Auth's PASSKEY_ERROR_CODES (@better-auth/passkey 1.7).
ERROR_CODES = {
    "CHALLENGE_NOT_FOUND": "Challenge not found",
    "YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY": "You are not allowed to register this passkey",
    "FAILED_TO_VERIFY_REGISTRATION": "Failed to verify registration",
    "PASSKEY_NOT_FOUND": "Passkey not found",
    "AUTHENTICATION_FAILED": "Authentication failed",
    "UNABLE_TO_CREATE_SESSION": "Unable to create session",
    "FAILED_TO_UPDATE_PASSKEY": "Failed to update passkey",
    "PREVIOUSLY_REGISTERED": "Previously registered",
    "REGISTRATION_CANCELLED": "Registration cancelled",
    "AUTH_CANCELLED": "Auth cancelled",
    "UNKNOWN_ERROR": "Unknown error",
    "SESSION_REQUIRED": "Passkey registration requires an authenticated session",
}


HERE = Path(__file__).parent


# What an export leaves out of a passkey: its public key and credential id identify the device.
KEY_MATERIAL = frozenset({"publicKey", "credentialID"})


class PasskeyPlugin(AuthPlugin, PageProvider):
    """Passkeys (WebAuthn) for sign-in, on Better Auth's ``/passkey/*`` endpoints."""

    name = "passkey"
    templates = HERE / "templates"
    static = HERE / "static"
    settings_model = PasskeySettings
    error_codes = ERROR_CODES

    def __init__(self, settings: PasskeySettings) -> None:
        self.settings = settings
        self.store: PasskeyStore | None = None
        self.rp: RelyingParty | None = None
        self.service: Passkeys | None = None  # the app's, once its endpoints are made

    def contribute(self, ts: TableSet, schema: Schema, capabilities: Capabilities) -> None:
        auth: AuthTables = ts.extensions["auth"]
        ts.extensions[EXTENSION] = passkey_tables(ts, auth.preset, auth)

    def openapi(self, schema: Schema, tables: TableSet) -> OpenApiPart:
        """Its ``/api/auth`` endpoints in the OpenAPI document."""
        return passkey_part()

    def endpoints(self, app: App, auth: Authentication) -> Sequence[Endpoint]:
        from tenantry.auth.plugins.passkey.endpoints import PasskeyEndpoints

        tables: PasskeyTables = app.tables.extensions[EXTENSION]
        self.rp = relying_party(self.settings, auth.ctx.base_url, app.schema.app_name)
        self.store = PasskeyStore(auth.ctx.store, tables)
        self.service = Passkeys(auth.ctx, self.store)
        return PasskeyEndpoints(self.service, self.rp).endpoints()

    def hook(self, app: App, auth: Authentication) -> None:
        """A user's passkeys in "download my data" (names and dates, no key material)."""
        store = self.store

        async def personal_data(user_id: Any) -> tuple[str, list[dict[str, Any]]]:
            rows = await store.of_user(user_id) if store is not None else []
            return "passkeys.jsonl", [{k: v for k, v in p.json().items() if k not in KEY_MATERIAL} for p in rows]

        auth.ctx.hooks.personal_data.append(personal_data)

    def pages(self, web: Web) -> Sequence[BaseRoute]:
        """Its pages in the web app (``pages.py``)."""
        return page_routes(web, self)
