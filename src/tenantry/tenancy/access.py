"""Who may do what, and which rows they see: roles, permissions and the tenant boundary.

Enforced on every path through the pipeline (REST, UI, internal callers):

- The **policy** grants an action on an entity to a role, deny by default (403 with a stable code).
  Defaults: viewer reads; member reads, creates, and updates/deletes rows it created; the first
  role of the schema (``admin`` in the seed) does everything. An entity's ``permissions`` in the
  extended schema replace the defaults for that entity.
- The **scope** adds the tenant condition to every read, update and delete (other organizations'
  rows are simply not there: 404, never 403), takes the tenant column of new rows from the active
  organization, keeps rows from moving between organizations, and fixes ownership on create.
- **Bypass roles** (Apso's ``scopeOptions.bypassRoles``): a signed-in user whose platform role
  (the admin plugin's ``user.role``, read with the session on every request) an entity lists skips
  both for the operations its ``enforceOn`` names: every organization's rows of that entity, with
  every action, and no active organization needed. A role in an organization never bypasses (it
  means something in one tenant only), nor does an API key (it acts in its own organization).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenantry.context import PLATFORM_ROLE_ATTRIBUTE, Principal, RequestContext
from tenantry.db.query import And, Condition, InSelect, Node, Or, Related
from tenantry.errors import ApiError, forbidden, unauthorized
from tenantry.pipeline import Grant
from tenantry.schema import Action, Entity, Permissions, Schema
from tenantry.tenancy.tables import TenancyTables

ALL_ACTIONS = frozenset(Action)


def default_permissions(roles: tuple[str, ...]) -> Permissions:
    """The seed's rules: the top role does everything, member owns what it made, viewer reads."""
    grants: dict[str, frozenset[Action]] = {roles[0]: ALL_ACTIONS}
    own: set[tuple[str, Action]] = set()
    if "admin" in roles:
        grants["admin"] = ALL_ACTIONS
    if "member" in roles:
        grants["member"] = ALL_ACTIONS
        own |= {("member", Action.UPDATE), ("member", Action.DELETE)}
    if "viewer" in roles:
        grants["viewer"] = frozenset({Action.READ})
    return Permissions(grants=grants, own=frozenset(own))


@dataclass(frozen=True)
class Kinds:
    """How tenancy treats each entity."""

    organizations: str
    users: str | None
    audit: str | None


class RolePolicy:
    """Role-based permissions per entity, deny by default."""

    def __init__(self, schema: Schema, tables: TenancyTables, kinds: Kinds) -> None:
        self.schema = schema
        self.tables = tables
        self.kinds = kinds
        self.top_role = schema.roles[0]
        self.defaults = default_permissions(schema.roles)

    def authorize(self, ctx: RequestContext, entity: Entity, action: Action) -> Grant:
        p = ctx.principal
        if p.kind in ("developer", "system"):
            return Grant()
        if p.kind != "user":
            raise unauthorized("Authentication required")
        if not p.permits(entity.name, action.value):
            # A credential narrowed to some entities and actions (an API key's scopes) never
            # reaches past them, whatever the role allows.
            raise forbidden(f"This API key may not {action.value} {entity.name}", "API_KEY_SCOPE_DENIED")
        if entity.name == self.kinds.organizations:
            return self._organizations(p, action)
        if entity.name == self.kinds.users:
            return self._users(action)
        if entity.name == self.kinds.audit:
            if action is Action.READ and p.role == self.top_role and p.org_id:
                return Grant()
            raise forbidden("Only organization admins can read the audit log; nobody can change it", "FORBIDDEN_ACTION")
        if not entity.tenant_scoped:
            return self._global(p, entity, action)
        if bypasses(p, entity, action):
            return Grant()
        if not p.org_id or not p.role:
            raise ApiError(403, "NO_ACTIVE_ORGANIZATION", "Create an organization or accept an invitation first")
        permissions = entity.permissions or self.defaults
        if not permissions.allows(p.role, action):
            what = entity.display.plural.lower() if entity.display else entity.name
            raise forbidden(f"Your role ({p.role}) may not {action.value} {what}", "FORBIDDEN_ACTION")
        return Grant(own_only=permissions.own_only(p.role, action))

    def _organizations(self, p: Principal, action: Action) -> Grant:
        if action in (Action.READ, Action.CREATE):
            return Grant()  # reads are scoped to the user's organizations; creating makes them its admin
        if p.role != self.top_role:
            raise forbidden("Only admins can change or delete their organization", "FORBIDDEN_ACTION")
        return Grant()

    def _users(self, action: Action) -> Grant:
        if action is Action.READ or action is Action.UPDATE:
            return Grant()  # scoped to the organization's members, and to oneself for updates
        raise forbidden(
            "Users are created by signing up or accepting an invitation, and deleted with delete-user",
            "FORBIDDEN_ACTION",
        )

    def _global(self, p: Principal, entity: Entity, action: Action) -> Grant:
        # Shared entities (no organization): readable by everyone signed in; changed only as granted.
        if entity.permissions is not None and p.role and entity.permissions.allows(p.role, action):
            return Grant(own_only=entity.permissions.own_only(p.role, action))
        if action is Action.READ:
            return Grant()
        raise forbidden(
            f"{entity.class_name} rows are shared by every organization and are read-only", "FORBIDDEN_ACTION"
        )


class TenantScope:
    """The tenant boundary as query conditions and write checks."""

    def __init__(
        self, schema: Schema, tables: TenancyTables, kinds: Kinds, writable_user_fields: frozenset[str]
    ) -> None:
        self.schema = schema
        self.kinds = kinds
        self.members = tables.members.name
        self.writable_user_fields = writable_user_fields
        self.defaults = default_permissions(schema.roles)

    def _readers(self, entity: Entity) -> tuple[str, ...]:
        """The roles that may read ``entity`` (its own permissions, else the defaults)."""
        permissions = entity.permissions or self.defaults
        return tuple(role for role in self.schema.roles if permissions.allows(role, Action.READ))

    def _member_orgs(self, field: str, user_id: str) -> InSelect:
        return InSelect(field, self.members, "organization_id", (("user_id", user_id),))

    def read_filter(
        self, ctx: RequestContext, entity: Entity, action: Action = Action.READ, where: Node | None = None
    ) -> Node | None:
        p = ctx.principal
        if p.kind in ("developer", "system"):
            return None
        user_id = p.user_id or ""
        if entity.name == self.kinds.organizations:
            if action is Action.READ:
                return self._member_orgs("id", user_id)
            return Condition("id", "eq", p.org_id or "")
        if entity.name == self.kinds.users:
            if action is Action.READ:
                # Yourself, and the members of your active organization.
                members = InSelect("id", self.members, "user_id", (("organization_id", p.org_id or ""),))
                return Or((Condition("id", "eq", user_id), members)) if p.org_id else Condition("id", "eq", user_id)
            return Condition("id", "eq", user_id)
        if bypasses(p, entity, action):
            return None  # every organization's rows (the database's policies agree: tenancy.rls)
        if entity.tenant_via is not None:
            # Scoped through its parent: rows whose parent is one this principal may see (for a
            # write, one of the active organization). The parent's link is required, so no row escapes.
            rel = entity.relation(entity.tenant_via)
            assert rel is not None
            parent = self.read_filter(ctx, self.schema.entities[rel.target], action)
            return Related(rel.name, parent) if parent is not None else None
        tenant = entity.tenant_field
        if tenant is None:
            return None
        if (
            action is Action.READ
            and _names_tenant(where, tenant)
            and entity.name != self.kinds.audit
            and "api_key_id" not in p.attributes  # an API key acts in its own organization only
        ):
            # The client asked for specific organizations (?org_id=…): any of the user's in which their
            # role there may read this entity, never others.
            readers = self._readers(entity)
            return InSelect(tenant, self.members, "organization_id", (("user_id", user_id), ("role", readers)))
        return (
            Condition(tenant, "eq", p.org_id)
            if p.org_id
            else And((Condition(tenant, "isnull"), Condition(tenant, "notnull")))
        )

    def check_write(
        self, ctx: RequestContext, entity: Entity, values: dict[str, Any], old: dict[str, Any] | None
    ) -> dict[str, Any]:
        p = ctx.principal
        if p.kind in ("developer", "system"):
            return values
        if entity.name == self.kinds.users:
            refused = set(values) - self.writable_user_fields
            if refused:
                raise forbidden(
                    f"These fields are managed by the server: {', '.join(sorted(refused))}", "FIELD_NOT_ALLOWED"
                )
            return values
        tenant = entity.tenant_field
        if tenant is not None and old is None and bypasses(p, entity, Action.CREATE):
            # Any organization the body names (a missing one is refused by its reference), else the
            # active one: what injectOnCreate would have written.
            if values.get(tenant) is None:
                if not p.org_id:
                    raise ApiError(
                        400, "TENANT_REQUIRED", f"Name the organization of the new row ('{tenant}'): none is active"
                    )
                values = {**values, tenant: p.org_id}
        elif tenant is not None:
            given = values.get(tenant)
            if old is None:
                if given is not None and str(given) != p.org_id:
                    raise forbidden("Rows can only be created in your active organization", "TENANT_MISMATCH")
                values = {**values, tenant: p.org_id}
            elif given is not None and str(given) != str(old.get(tenant)):
                raise forbidden("A row cannot move to another organization", "TENANT_MISMATCH")
        owner = entity.owner_field
        if owner is not None and p.user_id is not None:
            given = values.get(owner)
            if old is None:
                if given is not None and str(given) != p.user_id and p.role != self.schema.roles[0]:
                    raise forbidden("Rows are created in your own name", "OWNER_MISMATCH")
                values = {**values, owner: given if given is not None else p.user_id}
            elif given is not None and str(given) != str(old.get(owner)) and p.role != self.schema.roles[0]:
                raise forbidden("Only admins can hand a row to someone else", "OWNER_MISMATCH")
        return values


def bypasses(p: Principal, entity: Entity, action: Action) -> bool:
    """Whether ``p`` skips the tenant boundary of ``entity`` for ``action`` (a bypass role)."""
    return (
        p.kind == "user"
        and bool(entity.bypass_roles)
        and entity.bypasses(p.attributes.get(PLATFORM_ROLE_ATTRIBUTE), action)
    )


def _names_tenant(node: Node | None, tenant: str) -> bool:
    """Whether the client's conditions pin the tenant column (``org_id = …`` or ``IN (…)``)."""
    if node is None:
        return False
    if isinstance(node, Condition):
        return node.field == tenant and node.op in ("eq", "in")
    if isinstance(node, And):
        return any(_names_tenant(n, tenant) for n in node.items)
    if isinstance(node, Or):
        return all(_names_tenant(n, tenant) for n in node.items)
    if isinstance(node, Related):
        return False
    return False
