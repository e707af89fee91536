"""The two-factor plugin: Better Auth's ``twoFactor()`` on the wire, so ``twoFactorClient()`` works unchanged.

TOTP (authenticator apps), six-digit codes by e-mail, single-use backup codes and trusted devices.
A user with ``twoFactorEnabled`` who signs in with a password gets ``{"twoFactorRedirect": true}``
and the ``two_factor`` cookie instead of a session; a second factor then creates it. Wrong codes
at sign-in are counted per account in the database (five in a row lock it for 15 minutes).
Organizations may require two-factor of their members (``require_two_factor``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from starlette.routing import BaseRoute

from tenantry.auth.plugin import AuthPlugin, PluginField
from tenantry.auth.plugins.two_factor.endpoints import TwoFactorEndpoints
from tenantry.auth.plugins.two_factor.errors import ERROR_CODES
from tenantry.auth.plugins.two_factor.openapi import two_factor_part
from tenantry.auth.plugins.two_factor.pages import routes as page_routes
from tenantry.auth.plugins.two_factor.requirement import OrganizationRequirement
from tenantry.auth.plugins.two_factor.service import TwoFactorService
from tenantry.auth.plugins.two_factor.store import TwoFactorStore
from tenantry.auth.plugins.two_factor.tables import TwoFactorTables, two_factor_tables
from tenantry.auth.ratelimit import Rule
from tenantry.web.provider import PageProvider

if TYPE_CHECKING:
    from tenantry.auth import Authentication
    from tenantry.auth.router import Endpoint
    from tenantry.auth.tables import AuthTables
    from tenantry.core import App, Capabilities, OpenApiPart
    from tenantry.db.tables import TableSet
    from tenantry.schema import Schema
    from tenantry.web import Web

__all__ = ["TwoFactorPlugin", "TwoFactorService"]

EXTENSION = "two-factor"


HERE = Path(__file__).parent


class TwoFactorPlugin(AuthPlugin, PageProvider):
    """``twoFactorEnabled`` on users, the ``twoFactor`` table, ``/two-factor/*`` and the sign-in step."""

    name = "two-factor"
    templates = HERE / "templates"
    # Its table references organizations (their ``require_two_factor`` flag).
    after = ("auth", "tenancy")
    error_codes = ERROR_CODES
    # Better Auth's rule for its two-factor paths (3 per 10 s); mailing a code, as its core rule, 3 a minute.
    rate_limits = (
        ("/two-factor/send-otp", Rule(60, 3)),
        ("/two-factor/", Rule(10, 3)),
    )
    user_fields = (PluginField("twoFactorEnabled", "two_factor_enabled", sa.Boolean(create_constraint=False), False),)

    def __init__(self) -> None:
        self.service: TwoFactorService | None = None
        self.requirement: OrganizationRequirement | None = None

    def contribute(self, ts: TableSet, schema: Schema, capabilities: Capabilities) -> None:
        """The ``twoFactor`` table, and the organizations' ``require_two_factor`` flag."""
        auth: AuthTables = ts.extensions["auth"]
        ts.extensions[EXTENSION] = two_factor_tables(ts, auth.preset, auth)

    def _build(self, app: App, auth: Authentication) -> tuple[TwoFactorService, OrganizationRequirement]:
        if self.service is None or self.requirement is None:
            tables: TwoFactorTables = app.tables.extensions[EXTENSION]
            store = TwoFactorStore(auth.ctx.store, tables)
            self.service = TwoFactorService(auth.ctx, store, app.schema.app_name)
            self.requirement = OrganizationRequirement(app, auth, store)
        return self.service, self.requirement

    def openapi(self, schema: Schema, tables: TableSet) -> OpenApiPart:
        """Its ``/api/auth`` endpoints in the OpenAPI document."""
        return two_factor_part()

    def endpoints(self, app: App, auth: Authentication) -> Sequence[Endpoint]:
        """The eight ``/two-factor/*`` endpoints of Better Auth, and the organization requirement's."""
        service, requirement = self._build(app, auth)
        return (*TwoFactorEndpoints(service).all(), *requirement.endpoints())

    def hook(self, app: App, auth: Authentication) -> None:
        """The sign-in step and, with organizations, the requirement check on every request."""
        service, requirement = self._build(app, auth)
        auth.ctx.hooks.second_factors.append(service.second_factor)
        if service.store.t.organizations is not None:
            auth.ctx.hooks.principal_checks.append(requirement.check)

    def pages(self, web: Web) -> Sequence[BaseRoute]:
        """Its pages in the web app (``pages.py``)."""
        return page_routes(web, self)
