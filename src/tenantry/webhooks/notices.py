"""Telling an organization's admins that one of its endpoints was disabled, by e-mail through the outbox.

The mails are queued in the transaction that disables the endpoint (one per admin, once per
disabling: the dedupe key names the endpoint and the time), so they leave exactly when it is off.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Final

import sqlalchemy as sa

from tenantry.db import Connection
from tenantry.db.codecs import id_to_db
from tenantry.webhooks.records import Endpoint

if TYPE_CHECKING:
    from tenantry.core import App
    from tenantry.mail import Mail
    from tenantry.tenancy import Tenancy

TEMPLATE: Final = "webhook_disabled"
REASONS: Final = {
    "gone": "it answered 410 Gone, which says the endpoint no longer exists",
    "failing": "every delivery to it failed for {days:g} days in a row",
}


class DisabledNotice:
    """Mails each admin of the endpoint's organization (when the app has mail and organizations)."""

    def __init__(self, app: App, mail: Mail | None, tenancy: Tenancy, disable_after_days: float) -> None:
        self.app = app
        self.mail = mail
        self.tenancy = tenancy
        self.days = disable_after_days
        self.top_role = app.schema.roles[0]

    async def send(self, conn: Connection, endpoint: Endpoint, reason: str, now: dt.datetime) -> int:
        """Queue the mails on ``conn``; returns how many."""
        if self.mail is None:
            return 0
        members = await self.tenancy.members.of_organization(endpoint.org_id, conn)
        admins = [m["user_id"] for m in members if m["role"] == self.top_role]
        organization = await self._organization_name(conn, endpoint.org_id)
        base = self.app.settings.base_url.rstrip("/")
        sent = 0
        for user_id in admins:
            user = await self.tenancy.auth.store.user_by_id(user_id, conn)
            if user is None or not user.email:
                continue
            await self.mail.mailer.send(
                conn,
                template=TEMPLATE,
                to=user.email,
                url=f"{base}/api/webhooks/endpoints/{endpoint.id}",
                context={
                    "name": user.core.get("name"),
                    "organization_name": organization,
                    "endpoint_url": endpoint.url,
                    "reason": REASONS.get(reason, reason).format(days=self.days),
                },
                dedupe_key=f"webhook-disabled:{endpoint.id}:{now.isoformat()}:{user_id}",
            )
            sent += 1
        return sent

    async def _organization_name(self, conn: Connection, org_id: str) -> str:
        orgs = self.tenancy.tables.organizations
        stmt = self.app.pipeline.sql.prepared(
            ("webhooks", "organization_name"),
            lambda: sa.select(orgs.c.name).where(orgs.c.id == sa.bindparam("id")),
        )
        key = id_to_db(self.tenancy.tables.org_id_type, self.app.db.dialect_name, org_id)
        row = await conn.fetchrow(stmt.sql, stmt.params(extras={"id": key}))
        return str(row[0]) if row is not None and row[0] else "your organization"
