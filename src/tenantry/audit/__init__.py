"""The append-only audit log.

Every change through the CRUD pipeline, and every security and organization event, adds one row
to ``audit_logs`` in the transaction of the change: both are committed, or neither.

- **Table** (``audit_tables``, a table contributor): the schema's ``audit_logs`` entity when it
  declares one (the seed does), else a table of the same columns made here. The schema builder
  relaxes the declared constraints so every event fits: ``user_id``/``org_id`` nullable (a failed
  sign-in of an unknown address has neither), ``action`` a string (``sign_in``, ``member_add`` …,
  not only create/update/delete), ``resource_id`` a nullable string (session ids are not UUIDs;
  revoking every session has no single resource). The references to users and organizations stay,
  for joins in the API, but there are **no foreign keys**: history must outlive the users and
  organizations it mentions, and ``ON DELETE SET NULL`` would be an UPDATE, which the log forbids.
- **Append-only** (``triggers``): the database rejects UPDATE and DELETE on both back ends
  (triggers created after every migration, see ``TableSet.post_steps``), and the pipeline's policy
  refuses every write to the log through the API, whoever asks (``AuditPolicy``).
- **Writing** (``Auditor.record``): the CRUD pipeline's ``AuditWriter``, authentication through
  ``AuthContext.audit`` (this capability sets the hook; auth does not import this package), and the
  organization plugin through ``Audit.organization_change`` (an observer of its changes).
  Secret-named fields are dropped.
- **Reading**: admins read through the CRUD API (``GET /api/audit_logs?filter=…``) and export it
  (``GET /api/audit_logs/export?format=csv|jsonl``, ``AuditExport``): the top role of the active
  organization, that organization's rows only (``AuditPolicy``/``AuditScope``, on top of the
  tenancy policy, which says the same for an entity named ``audit_logs``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from tenantry.audit.export import AuditExport
from tenantry.audit.openapi import export_openapi
from tenantry.audit.policy import AuditPolicy, AuditScope
from tenantry.audit.redact import is_secret, redact
from tenantry.audit.tables import AUDIT_TABLE, AuditTables, audit_tables
from tenantry.audit.writer import Auditor, AuditWriter, organization_action
from tenantry.auth import Authentication
from tenantry.core import App, Capabilities, Capability, OpenApiPart
from tenantry.db import Connection
from tenantry.pipeline import OrganizationChange

if TYPE_CHECKING:
    from tenantry.db.tables import TableSet
    from tenantry.schema import Schema

__all__ = [
    "AUDIT_TABLE",
    "Audit",
    "AuditExport",
    "AuditPolicy",
    "AuditScope",
    "AuditTables",
    "AuditWriter",
    "Auditor",
    "OrganizationChange",
    "audit_tables",
    "is_secret",
    "organization_action",
    "redact",
]


class Audit(Capability):
    """The audit log of one app, wired into its pipeline (writer, append-only policy, export).

    Installed after tenancy, whose role policy and tenant scope its append-only rule wraps, and
    after authentication, whose security events it records.
    """

    name = "audit"
    after = ("auth", "tenancy")

    def contribute(self, ts: TableSet, schema: Schema, capabilities: Capabilities) -> None:
        audit_tables(ts, schema)

    def install(self, app: App) -> None:
        tables: AuditTables = app.tables.extensions["audit"]
        pipeline = app.pipeline
        self.tables = tables
        self.entity = tables.entity
        self.auditor = Auditor(tables, pipeline.sql)
        self.writer = AuditWriter(self.auditor)
        pipeline.listeners.append(self.writer)
        # Wrapped around the app's own (tenancy's, when it has organizations): see ``policy``.
        pipeline.policy = AuditPolicy(pipeline.policy, tables.entity.name, app.schema.roles[0])
        pipeline.scope = AuditScope(pipeline.scope, tables.entity, app.schema.roles[0])
        self.export = AuditExport(app, tables.entity)
        # Writes in the caller's transaction: authentication's security events, billing's changes.
        self.record = self.auditor.record
        auth = app.find(Authentication)
        if auth is not None:
            auth.ctx.audit_hook = self.record
            if app.db.dialect_name == "postgresql":
                auth.ctx.audit_rows = self.auditor
        pipeline.change_observers.append(self.organization_change)

    async def organization_change(self, conn: Connection, change: OrganizationChange) -> None:
        """An observer of the organization plugin: one row per organization, membership or invitation change.

        Its changes carry no request, so these rows have no address or browser.
        """
        await self.auditor.record(
            conn,
            action=organization_action(change),
            user_id=change.actor_id,
            org_id=change.organization_id,
            resource_type=change.resource_type,
            resource_id=change.resource_id,
            old=change.old,
            new=change.new,
        )

    def openapi(self, schema: Schema, tables: TableSet) -> OpenApiPart:
        """The export's route."""
        audit: AuditTables = tables.extensions["audit"]
        return export_openapi(audit.entity.route)

    def routes(self) -> Sequence[BaseRoute]:
        """The export route; it comes before the CRUD routes (which would take ``export`` for an id)."""
        return list(self.export.routes("/api"))
