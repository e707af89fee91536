"""The audit log's own access rules, wrapped around the app's policy and scope.

- Nobody changes the log through the API, whoever asks: creating, updating or deleting audit rows
  through the pipeline is refused for every principal, the development principal and the system
  included. Only ``Auditor.record`` writes it; the database triggers refuse the rest.
- Users read it only as the top role (``admin`` in the seed) of their active organization, and
  only that organization's rows. The tenancy policy says the same; saying it here too keeps the
  log closed whatever the entity is called (tenancy recognises ``audit_logs`` by name) and whether
  or not the app has organizations (then no user reads it; the developer and the system do).
- The scope of a read is pinned to the active organization: a tenant scope may widen reads to
  every organization of the user when the query names them (``?org_id=…``), but an admin of one
  organization is not one of another.
"""

from __future__ import annotations

from typing import Any

from tenantry.context import RequestContext
from tenantry.db.query import Condition, Node
from tenantry.errors import forbidden
from tenantry.pipeline import Grant, Policy, Scope
from tenantry.schema import Action, Entity


class AuditPolicy:
    """``inner``, except for the audit log: read by the top role only, written by nobody."""

    def __init__(self, inner: Policy, audit_entity: str, top_role: str) -> None:
        self.inner = inner
        self.audit_entity = audit_entity
        self.top_role = top_role

    def authorize(self, ctx: RequestContext, entity: Entity, action: Action) -> Grant:
        if entity.name != self.audit_entity:
            return self.inner.authorize(ctx, entity, action)
        p = ctx.principal
        if action is not Action.READ:
            if not p.is_authenticated:
                self.inner.authorize(ctx, entity, Action.READ)  # an anonymous caller learns only to sign in (401)
            raise forbidden("The audit log is append-only: its entries are never changed", "AUDIT_LOG_READ_ONLY")
        grant = self.inner.authorize(ctx, entity, Action.READ)
        if p.kind == "user" and (p.role != self.top_role or not p.org_id):
            raise forbidden("Only organization admins can read the audit log", "FORBIDDEN_ACTION")
        return grant


class AuditScope:
    """``inner``, with reads of the audit log pinned to the user's active organization.

    Users other than admins see no audit rows at all, also where the policy is not asked: a filter
    on a relation (``?filter=audit_logs.action||…`` on an entity a schema links to the log) must not
    tell them what the log holds.
    """

    def __init__(self, inner: Scope, audit: Entity, top_role: str) -> None:
        self.inner = inner
        self.audit_entity = audit.name
        self.tenant_field = audit.tenant_field
        self.top_role = top_role

    def read_filter(
        self, ctx: RequestContext, entity: Entity, action: Action = Action.READ, where: Node | None = None
    ) -> Node | None:
        p = ctx.principal
        if entity.name != self.audit_entity or p.kind != "user":
            return self.inner.read_filter(ctx, entity, action, where)
        if p.role != self.top_role or not p.org_id:
            return Condition("id", "isnull")  # ids are never NULL: no rows
        if self.tenant_field is None:
            return self.inner.read_filter(ctx, entity, action, where)
        return Condition(self.tenant_field, "eq", p.org_id)

    def check_write(
        self, ctx: RequestContext, entity: Entity, values: dict[str, Any], old: dict[str, Any] | None
    ) -> dict[str, Any]:
        return self.inner.check_write(ctx, entity, values, old)
