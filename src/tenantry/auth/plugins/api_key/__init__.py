"""The api-key plugin: Better Auth's ``apiKey()`` protocol, and keys as credentials on the CRUD API.

Users create keys under ``/api/auth/api-key/*`` (``apiKeyClient()`` works unchanged) or on their
account page. A key is sent as ``x-api-key`` and acts as its user in the key's organization, with
the role held there now and within the key's scopes (``permissions``: entity -> actions). Keys are
stored hashed; each use is counted against the key's rate limit in its row (shared by every
process) and written to the audit log. See ``docs/api-keys.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute

from tenantry.auth.plugin import AuthPlugin
from tenantry.auth.plugins.api_key.credential import KeyCredential
from tenantry.auth.plugins.api_key.endpoints import ApiKeyEndpoints
from tenantry.auth.plugins.api_key.errors import API_KEY_ERROR_CODES
from tenantry.auth.plugins.api_key.gate import KeyGate
from tenantry.auth.plugins.api_key.openapi import api_key_part
from tenantry.auth.plugins.api_key.pages import routes as page_routes
from tenantry.auth.plugins.api_key.policy import ScopedPolicy
from tenantry.auth.plugins.api_key.service import ApiKeys, NewKey
from tenantry.auth.plugins.api_key.settings import ApiKeySettings
from tenantry.auth.plugins.api_key.store import ApiKey, ApiKeyStore
from tenantry.auth.plugins.api_key.tables import EXTENSION, ApiKeyTables, api_key_tables
from tenantry.core import OpenApiPart
from tenantry.web.provider import PageProvider

if TYPE_CHECKING:
    from tenantry.auth import Authentication
    from tenantry.auth.router import Endpoint
    from tenantry.auth.tables import AuthTables
    from tenantry.core import App, Capabilities
    from tenantry.db.tables import TableSet
    from tenantry.schema import Schema
    from tenantry.web import Web

__all__ = ["ApiKey", "ApiKeyPlugin", "ApiKeySettings", "ApiKeys", "NewKey"]


HERE = Path(__file__).parent


class ApiKeyPlugin(AuthPlugin, PageProvider):
    """API keys."""

    name = "api-key"
    templates = HERE / "templates"
    # Keys belong to organizations; with them, tenancy's role policy checks the keys' scopes itself.
    after = ("auth", "tenancy")
    settings_model = ApiKeySettings
    error_codes = API_KEY_ERROR_CODES

    def __init__(self, settings: ApiKeySettings) -> None:
        self.settings = settings
        self._keys: ApiKeys | None = None
        self._gate: KeyGate | None = None

    def contribute(self, ts: TableSet, schema: Schema, capabilities: Capabilities) -> None:
        """The ``apikey`` table (``auth_api_keys`` in the tenantry preset)."""
        auth: AuthTables = ts.extensions["auth"]
        ts.extensions[EXTENSION] = api_key_tables(ts, auth.preset, auth)

    def _wire(self, app: App, auth: Authentication) -> tuple[ApiKeys, KeyGate]:
        if self._keys is None or self._gate is None:
            tables: ApiKeyTables = app.tables.extensions[EXTENSION]
            store = ApiKeyStore(app.db, tables, auth.ctx.tables, auth.ctx.store, app.pipeline.sql)
            self._keys = ApiKeys(app, auth, store, self.settings)
            self._gate = KeyGate(auth.ctx, store, self.settings)
        return self._keys, self._gate

    def endpoints(self, app: App, auth: Authentication) -> Sequence[Endpoint]:
        """Better Auth's ``/api-key/*`` endpoints."""
        keys, gate = self._wire(app, auth)
        return ApiKeyEndpoints(app, auth, keys, gate).all()

    def hook(self, app: App, auth: Authentication) -> None:
        """``x-api-key`` as a credential; scopes in an app whose policy is not tenancy's."""
        keys, gate = self._wire(app, auth)
        auth.ctx.hooks.credentials.append(KeyCredential(gate))

        async def personal_data(user_id: Any) -> tuple[str, list[dict[str, Any]]]:
            # Better Auth's JSON of a key carries no hash; ``start`` is the prefix it shows anyway.
            return "api_keys.jsonl", [k.json() for k in await keys.of_user(user_id)]

        auth.ctx.hooks.personal_data.append(personal_data)
        if "tenancy" not in app.tables.extensions:
            # Tenancy's role policy checks scopes itself and replaces this policy when present.
            app.pipeline.policy = ScopedPolicy(app.pipeline.policy)

    def openapi(self, schema: Schema, tables: TableSet) -> OpenApiPart:
        """Better Auth's ``/api-key/*`` endpoints, and ``x-api-key`` as a security scheme of the API."""
        return api_key_part()

    @property
    def keys(self) -> ApiKeys:
        """The service behind the endpoints (for the account page), once installed."""
        if self._keys is None:
            raise RuntimeError("the api-key plugin is not installed")
        return self._keys

    def pages(self, web: Web) -> Sequence[BaseRoute]:
        """Its pages in the web app (``pages.py``)."""
        return page_routes(web, self)
