"""What the pages use of the app: the core, and the capabilities they are pages of, looked up once."""

from __future__ import annotations

from starlette.requests import Request

from tenantry.auth import Authentication
from tenantry.billing import Billing
from tenantry.context import Principal, RequestContext
from tenantry.core import App
from tenantry.realtime import Realtime
from tenantry.tenancy import Tenancy
from tenantry.webhooks import Webhooks


class Services:
    """The app as the pages see it: authentication always; organizations, realtime, billing, webhooks when present."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.schema = app.schema
        self.settings = app.settings
        self.db = app.db
        self.tables = app.tables
        self.pipeline = app.pipeline
        self.auth: Authentication = app.get(Authentication)
        self.tenancy: Tenancy | None = app.find(Tenancy)
        self.realtime: Realtime | None = app.find(Realtime)
        self.billing: Billing | None = app.find(Billing)
        self.webhooks: Webhooks | None = app.find(Webhooks)

    async def context(self, request: Request, principal: Principal | None = None) -> RequestContext:
        """Who is asking (see ``App.context``)."""
        return await self.app.context(request, principal)
