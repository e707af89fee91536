"""Organizations, memberships and invitations: the logic of Better Auth's organization plugin.

Callable from the ``/api/auth/organization/*`` endpoints, the web UI and tests alike. Each action
is one transaction; every rule is checked inside it, after the organization's row is locked when
the action changes who belongs to it (so two admins demoting each other cannot leave it without
one). Errors are ``AuthError``s carrying Better Auth's status and code.

Roles are the schema's (``schema.roles``): the first is the top role and plays Better Auth's
``owner`` (the name ``owner`` is accepted as an alias for it on input); answers always name our
roles. Permissions follow Better Auth's default access control, mapped onto them: the top role has
the owner's statements, a role called ``admin`` below it the admin's (members and invitations,
but not the organization itself, which the CRUD policy reserves to the top role too), every other
role the member's (none). ``has-permission`` also answers for the schema's tenant-scoped entities
(``{"projects": ["create"]}``) from the same rules the CRUD policy enforces.

Membership and invitation limits (Better Auth's ``membershipLimit``/``invitationLimit``, 100 by
default) are not imposed. Every change is reported to the pipeline's change observers inside its transaction
(``OrgChange``), for the audit log and the event outbox.

Beyond Better Auth, a session never names an organization its user is not in: when a membership
ends (leaving, removal, deletion of the organization) the user's sessions there move to their
oldest remaining organization, or to none.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from tenantry.auth.errors import AuthError, auth_error, validation_error
from tenantry.auth.service import AuthContext, Current
from tenantry.auth.store import UserRecord, iso
from tenantry.auth.validate import is_email, js_type, string
from tenantry.db import Connection
from tenantry.db.errors import IntegrityViolation
from tenantry.errors import ApiError
from tenantry.pipeline import ChangeObserver, WriteEvent
from tenantry.schema import Action
from tenantry.tenancy.access import default_permissions
from tenantry.tenancy.errors import org_error
from tenantry.tenancy.store import MEMBER_FIELDS, FilterOp, OrgStore

if TYPE_CHECKING:
    from tenantry.core import App
    from tenantry.tenancy import Tenancy

# The ``/api/auth`` paths of the actions the pages run too: what rate limits count, whichever way they come.
CREATE = "/organization/create"
SET_ACTIVE = "/organization/set-active"
INVITE_MEMBER = "/organization/invite-member"
UPDATE_MEMBER_ROLE = "/organization/update-member-role"
REMOVE_MEMBER = "/organization/remove-member"
ACCEPT_INVITATION = "/organization/accept-invitation"
REJECT_INVITATION = "/organization/reject-invitation"
CANCEL_INVITATION = "/organization/cancel-invitation"
LEAVE = "/organization/leave"
DELETE = "/organization/delete"

INVITATION_EXPIRES_IN = 48 * 60 * 60  # Better Auth's default invitationExpiresIn
MEMBERS_LIMIT = 100  # Better Auth's default page of members (membershipLimit)
OWNER_ALIAS = "owner"
_SLUG_MAX = 48

# Better Auth's default statements (plugins/organization/access/statement.ts).
_ALL_STATEMENTS: dict[str, frozenset[str]] = {
    "organization": frozenset({"update", "delete"}),
    "member": frozenset({"create", "update", "delete"}),
    "invitation": frozenset({"create", "cancel"}),
    "team": frozenset({"create", "update", "delete"}),
    "ac": frozenset({"create", "read", "update", "delete"}),
}
_ADMIN_STATEMENTS = {**_ALL_STATEMENTS, "organization": frozenset[str]()}
_MEMBER_STATEMENTS = {name: frozenset[str]() for name in _ALL_STATEMENTS} | {"ac": frozenset({"read"})}


@dataclass(frozen=True)
class OrgChange:
    """One change to an organization, a membership or an invitation, seen inside its transaction.

    What the audit log and the event outbox record: ``old``/``new`` are the JSON forms the plugin
    answers with (never secrets)."""

    action: Literal["create", "update", "delete"]
    resource_type: Literal["organization", "member", "invitation"]
    resource_id: str
    organization_id: str
    actor_id: Any
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None


@dataclass
class MemberQuery:
    """``list-members`` paging, sorting and filtering, by Better Auth field names."""

    limit: int = MEMBERS_LIMIT
    offset: int = 0
    sort_by: str | None = None
    descending: bool = False
    filter_field: str | None = None
    filter_op: FilterOp = "eq"
    filter_value: Any = None


@dataclass
class OrganizationService:
    """Better Auth's organization plugin over Tenantry's organizations entity."""

    tenancy: Tenancy
    app: App
    ctx: AuthContext

    def __post_init__(self) -> None:
        app = self.app
        self.db = app.db
        self.schema = app.schema
        self.roles = self.schema.roles
        self.top_role = self.roles[0]
        self.entity = self.tenancy.tables.organization_entity
        self.models = app.pipeline.models[self.entity.name]
        self.store = OrgStore(self.db, self.tenancy.tables, self.ctx.tables, self.ctx.store, app.pipeline.sql)
        self.has_slug = self.entity.field("slug") is not None
        columns = self.store.org_columns
        created = self.entity.created_at_field
        updated = {f.name for f in self.entity.fields if f.auto == "update"}
        core = {"id", "name", "slug", "logo", "metadata", created}
        # The schema's own organization fields (the seed's billing_email …) are shown and settable too.
        self.extra_columns = tuple(c for c in columns if c not in core and c not in updated)
        self.writable_extra = frozenset(
            c for c in self.extra_columns if (f := self.entity.field(c)) is not None and not f.server_managed
        )
        self._created_column = created
        self._entity_permissions = self._entity_statements()

    # -- permissions ------------------------------------------------------------------------------

    def _entity_statements(self) -> dict[str, dict[str, frozenset[str]]]:
        """Per role, the CRUD actions it has on each tenant-scoped entity (``projects: [create …]``)."""
        defaults = default_permissions(self.roles)
        audit = self.tenancy.kinds.audit
        out: dict[str, dict[str, frozenset[str]]] = {role: {} for role in self.roles}
        for entity in self.schema.entities.values():
            if not entity.tenant_scoped or entity.name == audit:
                continue
            permissions = entity.permissions or defaults
            for role in self.roles:
                out[role][entity.name] = frozenset(a.value for a in Action if permissions.allows(role, a))
        return out

    def statements(self, role: str) -> dict[str, frozenset[str]]:
        """What ``role`` may do, as Better Auth's access-control statements plus one per entity."""
        if role == self.top_role:
            base = _ALL_STATEMENTS
        elif role == "admin":
            base = _ADMIN_STATEMENTS
        else:
            base = _MEMBER_STATEMENTS
        return {**base, **self._entity_permissions.get(role, {})}

    def allows(self, role: str, permissions: dict[str, list[str]]) -> bool:
        """Better Auth's ``authorize``: every requested resource known and each of its actions granted."""
        if not permissions:
            return False
        granted = self.statements(role)
        for resource, actions in permissions.items():
            allowed = granted.get(resource)
            if allowed is None or not actions or not all(a in allowed for a in actions):
                return False
        return True

    def parse_role(self, raw: Any, key: str = "role") -> str:
        """One of the schema's roles (``owner`` meaning the top role) from a string or a list."""
        items = raw if isinstance(raw, list) else [raw]
        if not all(isinstance(i, str) for i in items):
            bad = next(i for i in items if not isinstance(i, str))
            raise validation_error(f"body.{key}", f"Invalid input: expected string, received {js_type(bad)}")
        names = [r.strip() for item in items for r in item.split(",") if r.strip()]
        alias = OWNER_ALIAS not in self.roles  # a schema with its own "owner" role means that one
        roles = list(dict.fromkeys(self.top_role if alias and r == OWNER_ALIAS else r for r in names))
        if not roles:
            raise org_error(400, "ROLE_NOT_FOUND")
        unknown = [r for r in roles if r not in self.roles]
        if unknown:
            raise AuthError(400, "ROLE_NOT_FOUND", f"ROLE_NOT_FOUND: {', '.join(unknown)}")
        if len(roles) > 1:
            raise AuthError(400, "BAD_REQUEST", f"A member has one role: one of {', '.join(self.roles)}")
        return roles[0]

    # -- JSON shapes ------------------------------------------------------------------------------

    def org_json(self, org: dict[str, Any]) -> dict[str, Any]:
        """``{name, slug, logo, createdAt, metadata, <schema fields…>, id}``."""
        out: dict[str, Any] = {
            "name": org.get("name"),
            "slug": org.get("slug"),
            "logo": org.get("logo"),
            "createdAt": org.get(self._created_column) if self._created_column else None,
            "metadata": org.get("metadata"),
        }
        for column in self.extra_columns:
            out[column] = org.get(column)
        out["id"] = org["id"]
        return out

    @staticmethod
    def member_json(member: dict[str, Any]) -> dict[str, Any]:
        """``{organizationId, userId, role, createdAt, id}`` (and ``user {id, name, email, image}``)."""
        out: dict[str, Any] = {
            "organizationId": member["organization_id"],
            "userId": member["user_id"],
            "role": member["role"],
            "createdAt": iso(member["created_at"]),
            "id": member["id"],
        }
        if "user" in member:
            out["user"] = member["user"]
        return out

    @staticmethod
    def invitation_json(invitation: dict[str, Any]) -> dict[str, Any]:
        return {
            "organizationId": invitation["organization_id"],
            "email": invitation["email"],
            "role": invitation["role"],
            "status": invitation["status"],
            "expiresAt": iso(invitation["expires_at"]),
            "createdAt": iso(invitation["created_at"]),
            "inviterId": invitation["inviter_id"],
            "id": invitation["id"],
        }

    # -- helpers ----------------------------------------------------------------------------------

    @property
    def observers(self) -> list[ChangeObserver]:
        """Who records each change in its transaction: the pipeline's change observers (audit, events)."""
        return self.app.pipeline.change_observers

    async def _notify(self, conn: Connection, change: OrgChange) -> None:
        for observer in self.observers:
            await observer(conn, change)

    @staticmethod
    def _active(current: Current) -> str | None:
        value = current.session.get("active_organization_id")
        return None if value is None else str(value)

    @staticmethod
    def _require_verified_recipient(current: Current, invitation: dict[str, Any], code: str) -> None:
        """The session's user must be the invitation's addressee, with that address proven."""
        if invitation["email"].lower() != current.user.email.lower():
            raise org_error(403, "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION")
        if not current.user.email_verified:
            raise org_error(403, code)

    @staticmethod
    def _usable(invitation: dict[str, Any] | None) -> bool:
        return (
            invitation is not None
            and invitation["status"] == "pending"
            and invitation["expires_at"] > dt.datetime.now(dt.UTC)
        )

    def _visible_invitations(self, invitations: list[dict[str, Any]], role: str) -> list[dict[str, Any]]:
        """Invitations a member may see: only inviters see them (their ids are join links), and
        invitations to the top role only the top role."""
        if not self.allows(role, {"invitation": ["create"]}):
            return []
        if role == self.top_role:
            return invitations
        return [i for i in invitations if i["role"] != self.top_role]

    def _validated(self, values: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
        """The entity's own rules (types, lengths, enums, required fields) on organization values."""
        entity_values = {k: v for k, v in values.items() if self.entity.field(k) is not None}
        try:
            if current is None:
                checked = self.models.validate_create(entity_values)
            else:
                checked = self.models.validate_update(entity_values, current)
        except ApiError as exc:
            errors = exc.extra.get("errors") or [{"field": "", "message": str(exc)}]
            first = errors[0]
            raise validation_error(f"body.{first['field']}".rstrip("."), str(first["message"])) from None
        return {**{k: v for k, v in values.items() if k not in entity_values}, **checked}

    async def _free_slug(self, conn: Connection, name: str) -> str:
        """A slug from ``name`` that no organization has: ``acme``, else ``acme-2``, ``acme-3`` …"""
        slug_field = self.entity.field("slug")
        limit = min(_SLUG_MAX, (slug_field.length if slug_field and slug_field.length else _SLUG_MAX) - 6)
        base = slugify(name, max(limit, 1))
        taken = await self.store.slugs_like(conn, base)
        if base not in taken:
            return base
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"

    # -- organizations ----------------------------------------------------------------------------

    async def create_in(
        self,
        conn: Connection,
        user_id: Any,
        *,
        name: str,
        slug: str | None = None,
        logo: str | None = None,
        metadata: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Create an organization with ``user_id`` as its top-role member, on the caller's transaction.

        A slug given explicitly must be free (400 ``ORGANIZATION_ALREADY_EXISTS``); without one, a
        free slug is made from the name. Returns the organization and the membership."""
        values: dict[str, Any] = {"name": name, **(extra or {})}
        if self.has_slug:
            if slug is None:
                slug = await self._free_slug(conn, name)
            elif await self.store.organization(conn, slug=slug) is not None:
                raise org_error(400, "ORGANIZATION_ALREADY_EXISTS")
            values["slug"] = slug
        values = self._validated(values)
        if logo is not None:
            values["logo"] = logo
        if metadata is not None:
            values["metadata"] = metadata
        try:
            org = await self.store.insert_organization(conn, values)
            member = await self.store.add_member(conn, org["id"], user_id, self.top_role)
        except IntegrityViolation as exc:
            # Raised here, not left to callers: sign-up reads an integrity error as "e-mail taken".
            if exc.kind == "unique":
                raise org_error(400, "ORGANIZATION_ALREADY_EXISTS") from None
            raise AuthError(400, "BAD_REQUEST", "The organization could not be created") from None
        await self._notify(
            conn, OrgChange("create", "organization", org["id"], org["id"], user_id, new=self.org_json(org))
        )
        await self._notify(
            conn, OrgChange("create", "member", member["id"], org["id"], user_id, new=self.member_json(member))
        )
        return org, member

    async def create_organization(
        self,
        current: Current,
        *,
        name: str,
        slug: str | None = None,
        logo: str | None = None,
        metadata: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        keep_current_active: bool = False,
    ) -> dict[str, Any]:
        """``organization/create``: the organization with ``members: [creator]``; it becomes the
        session's active organization unless ``keep_current_active``."""
        attempts = 1 if slug is not None else 3
        for attempt in range(attempts):
            try:
                async with self.db.transaction() as conn:
                    org, member = await self.create_in(
                        conn, current.user.id, name=name, slug=slug, logo=logo, metadata=metadata, extra=extra
                    )
                    if not keep_current_active:
                        await self.ctx.store.set_active_organization(conn, current.session["token"], org["id"])
            except AuthError as exc:
                # A generated slug taken by a concurrent create between our check and insert: pick again.
                if exc.code == "ORGANIZATION_ALREADY_EXISTS" and attempt + 1 < attempts:
                    continue
                raise
            return {**self.org_json(org), "members": [self.member_json(member)]}
        raise AssertionError("unreachable")  # pragma: no cover

    async def check_slug(self, slug: str) -> dict[str, Any]:
        if await self.store.organization(None, slug=slug) is not None:
            raise org_error(400, "ORGANIZATION_SLUG_ALREADY_TAKEN")
        return {"status": True}

    async def list_organizations(self, current: Current) -> list[dict[str, Any]]:
        return [self.org_json(o) for o in await self.store.organizations_of(None, current.user.id)]

    async def _find(self, org_id: Any = None, slug: str | None = None) -> dict[str, Any] | None:
        return await self.store.organization(None, org_id=org_id, slug=slug) if (org_id or slug) else None

    async def get_organization(
        self, current: Current, organization_id: str | None = None, organization_slug: str | None = None
    ) -> dict[str, Any] | None:
        """``organization/get-organization``: ``None`` when no organization is named nor active."""
        org_id = organization_id or self._active(current)
        if not organization_slug and not org_id:
            return None
        org = await self._find(None if organization_slug else org_id, organization_slug)
        if org is None:
            raise org_error(400, "ORGANIZATION_NOT_FOUND")
        if await self.store.member(None, org["id"], current.user.id) is None:
            raise org_error(403, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION")
        return self.org_json(org)

    async def full_organization(
        self,
        current: Current,
        organization_id: str | None = None,
        organization_slug: str | None = None,
        members_limit: int | None = None,
    ) -> dict[str, Any] | None:
        """``organization/get-full-organization``: the organization with ``invitations`` (those the
        member may see) and ``members`` (each with its user)."""
        org_id = organization_id or self._active(current)
        if not organization_slug and not org_id:
            return None
        org = await self._find(None if organization_slug else org_id, organization_slug)
        if org is None:
            raise org_error(400, "ORGANIZATION_NOT_FOUND")
        me = await self.store.member(None, org["id"], current.user.id)
        if me is None:
            raise org_error(403, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION")
        members, _ = await self.store.members(None, org["id"], limit=members_limit or MEMBERS_LIMIT)
        invitations = self._visible_invitations(await self.store.invitations_of(None, org["id"]), me["role"])
        return {
            **self.org_json(org),
            "invitations": [self.invitation_json(i) for i in invitations],
            "members": [self.member_json(m) for m in members],
        }

    async def set_active(
        self,
        current: Current,
        organization_id: str | None = None,
        organization_slug: str | None = None,
        *,
        clear: bool = False,
    ) -> tuple[dict[str, Any] | None, bool]:
        """``organization/set-active``: the organization now active (or ``None``), and whether the
        session changed (then the endpoint re-issues the session cookie, as Better Auth does)."""
        active = self._active(current)
        token = current.session["token"]
        if clear:
            if active is None:
                return None, False
            async with self.db.transaction() as conn:
                await self.ctx.store.set_active_organization(conn, token, None)
            return None, True
        org_id: Any = organization_id
        if not org_id and not organization_slug:
            if active is None:
                return None, False
            org_id = active
        if organization_slug and not org_id:
            by_slug = await self.store.organization(None, slug=organization_slug)
            if by_slug is None:
                raise org_error(400, "ORGANIZATION_NOT_FOUND")
            org_id = by_slug["id"]
        async with self.db.transaction() as conn:
            if await self.store.member(conn, org_id, current.user.id) is None:
                raise org_error(403, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION")
            org = await self.store.organization(conn, org_id=org_id)
            if org is None:
                raise org_error(400, "ORGANIZATION_NOT_FOUND")
            await self.ctx.store.set_active_organization(conn, token, org["id"])
        return self.org_json(org), True

    async def update_organization(
        self, current: Current, data: dict[str, Any], organization_id: str | None = None
    ) -> dict[str, Any]:
        """``organization/update`` (``data``: name, slug, logo, metadata and the schema's fields)."""
        org_id = organization_id or self._active(current)
        if not org_id:
            raise org_error(400, "ORGANIZATION_NOT_FOUND")
        async with self.db.transaction() as conn:
            me = await self.store.member(conn, org_id, current.user.id)
            if me is None:
                raise org_error(400, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION")
            if not self.allows(me["role"], {"organization": ["update"]}):
                raise org_error(403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION")
            old = await self.store.organization(conn, org_id=org_id, lock=True)
            if old is None:
                raise org_error(400, "ORGANIZATION_NOT_FOUND")
            slug = data.get("slug")
            if self.has_slug and isinstance(slug, str):
                other = await self.store.organization(conn, slug=slug)
                if other is not None and other["id"] != old["id"]:
                    raise org_error(400, "ORGANIZATION_SLUG_ALREADY_TAKEN")
            settable = {c for c in ("name", "slug") if self.entity.field(c) is not None} | self.writable_extra
            entity_data = {k: v for k, v in data.items() if k in settable}
            changes = self._validated(entity_data, old) if entity_data else {}
            for key in ("logo", "metadata"):
                if key in data:
                    changes[key] = data[key]
            if not changes:
                return self.org_json(old)
            try:
                new = await self.store.update_organization(conn, old["id"], changes)
            except IntegrityViolation as exc:
                if exc.kind == "unique":
                    raise org_error(400, "ORGANIZATION_SLUG_ALREADY_TAKEN") from None
                raise AuthError(400, "BAD_REQUEST", "The organization could not be updated") from None
            assert new is not None
            await self._notify(
                conn,
                OrgChange(
                    "update",
                    "organization",
                    old["id"],
                    old["id"],
                    current.user.id,
                    self.org_json(old),
                    self.org_json(new),
                ),
            )
        return self.org_json(new)

    async def delete_organization(self, current: Current, organization_id: str) -> dict[str, Any]:
        """``organization/delete``: only with the organization's delete permission (the top role)."""
        try:
            async with self.db.transaction() as conn:
                me = await self.store.member(conn, organization_id, current.user.id)
                if me is None:
                    raise org_error(400, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION")
                if not self.allows(me["role"], {"organization": ["delete"]}):
                    raise org_error(403, "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION")
                org = await self.store.organization(conn, org_id=organization_id, lock=True)
                if org is None:
                    raise org_error(400, "ORGANIZATION_NOT_FOUND")
                await self.store.delete_organization(conn, org["id"])
                await self.store.reassign_sessions(conn, org["id"])
                await self._notify(
                    conn, OrgChange("delete", "organization", org["id"], org["id"], current.user.id, self.org_json(org))
                )
        except IntegrityViolation:
            # Rows of the organization's own (projects …) still point at it: the schema says keep them.
            raise AuthError(
                409,
                "REFERENCED_BY",
                "The organization still has data that refers to it; delete that first",
            ) from None
        return self.org_json(org)

    async def on_write(self, conn: Connection, event: WriteEvent) -> None:
        """Organizations deleted through the CRUD API leave no session pointing at them either."""
        if event.entity.name == self.entity.name and event.action == "delete":
            await self.store.reassign_sessions(conn, event.id)

    # -- members ----------------------------------------------------------------------------------

    async def active_member(self, current: Current) -> dict[str, Any]:
        org_id = self._active(current)
        if not org_id:
            raise org_error(400, "NO_ACTIVE_ORGANIZATION")
        member = await self.store.member(None, org_id, current.user.id)
        if member is None:
            raise org_error(400, "MEMBER_NOT_FOUND")
        return self.member_json(member)

    async def _org_id(self, current: Current, organization_id: str | None, organization_slug: str | None) -> Any:
        org_id: Any = organization_id or self._active(current)
        if organization_slug:
            org = await self.store.organization(None, slug=organization_slug)
            if org is None:
                raise org_error(400, "ORGANIZATION_NOT_FOUND")
            org_id = org["id"]
        if not org_id:
            raise org_error(400, "NO_ACTIVE_ORGANIZATION")
        return org_id

    async def active_member_role(
        self,
        current: Current,
        user_id: str | None = None,
        organization_id: str | None = None,
        organization_slug: str | None = None,
    ) -> dict[str, Any]:
        """``organization/get-active-member-role``: the caller's role, or another member's."""
        org_id = await self._org_id(current, organization_id, organization_slug)
        me = await self.store.member(None, org_id, current.user.id)
        if me is None:
            raise org_error(403, "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION")
        if not user_id:
            return {"role": me["role"]}
        member = await self.store.member(None, org_id, user_id)
        if member is None:
            raise org_error(403, "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION")
        return {"role": member["role"]}

    async def list_members(
        self,
        current: Current,
        query: MemberQuery,
        organization_id: str | None = None,
        organization_slug: str | None = None,
    ) -> dict[str, Any]:
        """``organization/list-members``: ``{members, total}``."""
        org_id = await self._org_id(current, organization_id, organization_slug)
        if await self.store.member(None, org_id, current.user.id) is None:
            raise org_error(403, "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION")
        sort_by = MEMBER_FIELDS.get(query.sort_by or "createdAt")
        if sort_by is None:
            raise AuthError(400, "BAD_REQUEST", f"Members cannot be sorted by {query.sort_by}")
        filter_by: tuple[str, FilterOp, Any] | None = None
        if query.filter_field:
            column = MEMBER_FIELDS.get(query.filter_field)
            if column is None:
                raise AuthError(400, "BAD_REQUEST", f"Members cannot be filtered by {query.filter_field}")
            filter_by = (column, query.filter_op, query.filter_value)
        members, total = await self.store.members(
            None,
            org_id,
            limit=query.limit,
            offset=query.offset,
            sort_by=sort_by,
            descending=query.descending,
            filter_by=filter_by,
        )
        return {"members": [self.member_json(m) for m in members], "total": total}

    async def active_members(self, current: Current, role: str | None) -> tuple[int, bool]:
        """How many members the caller's active organization has, and whether an invitation to it
        waits for an answer (pending and unexpired; always False for a ``role`` that may not invite,
        whose count is read alone): one statement.

        ``role``: the caller's role there, as this request's session lookup read it (it joins the
        membership): None refuses, as ``list_members`` does for a non-member, without reading the
        membership a second time."""
        org_id = self._active(current)
        if org_id is None or role is None:
            raise org_error(403, "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION")
        if not self.allows(role, {"invitation": ["create"]}):
            return await self.store.count_members(None, org_id), False
        return await self.store.members_and_waiting(None, org_id)

    async def _last_owner(self, conn: Connection, org_id: Any, member: dict[str, Any]) -> bool:
        """Whether ``member`` is the organization's only top-role member."""
        return member["role"] == self.top_role and await self.store.count_members(conn, org_id, self.top_role) <= 1

    async def remove_member(
        self, current: Current, member_id_or_email: str, organization_id: str | None = None
    ) -> dict[str, Any]:
        """``organization/remove-member`` by member id or e-mail: ``{member}``."""
        org_id = organization_id or self._active(current)
        if not org_id:
            raise org_error(400, "NO_ACTIVE_ORGANIZATION")
        async with self.db.transaction() as conn:
            org = await self.store.organization(conn, org_id=org_id, lock=True)
            me = await self.store.member(conn, org_id, current.user.id) if org else None
            if org is None or me is None:
                raise org_error(400, "MEMBER_NOT_FOUND")
            if "@" in member_id_or_email:
                target = await self.store.member_by_email(conn, org["id"], member_id_or_email)
            else:
                target = await self.store.member_by_id(conn, member_id_or_email)
            # A member id of another organization is simply not found here (checked first, unlike
            # Better Auth, so the answer says nothing about that member's role there).
            if target is None or target["organization_id"] != org["id"]:
                raise org_error(400, "MEMBER_NOT_FOUND")
            if target["role"] == self.top_role and (
                me["role"] != self.top_role or await self._last_owner(conn, org["id"], target)
            ):
                raise org_error(400, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER")
            if not self.allows(me["role"], {"member": ["delete"]}):
                raise org_error(401, "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER")
            await self.store.delete_member(conn, target["id"])
            await self.store.reassign_sessions(conn, org["id"], target["user_id"])
            target.pop("user", None)
            removed = self.member_json(target)
            await self._notify(conn, OrgChange("delete", "member", target["id"], org["id"], current.user.id, removed))
        return {"member": removed}

    async def update_member_role(
        self, current: Current, member_id: str, role: str, organization_id: str | None = None
    ) -> dict[str, Any]:
        """``organization/update-member-role``: the member with its new role. Nobody below the top
        role touches the top role, and the last top-role member cannot step down."""
        org_id = organization_id or self._active(current)
        if not org_id:
            raise org_error(400, "NO_ACTIVE_ORGANIZATION")
        async with self.db.transaction() as conn:
            org = await self.store.organization(conn, org_id=org_id, lock=True)
            me = await self.store.member(conn, org_id, current.user.id) if org else None
            if org is None or me is None:
                raise org_error(400, "MEMBER_NOT_FOUND")
            target = me if me["id"] == member_id else await self.store.member_by_id(conn, member_id)
            if target is None:
                raise org_error(400, "MEMBER_NOT_FOUND")
            if target["organization_id"] != org["id"]:
                raise org_error(403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER")
            i_am_top = me["role"] == self.top_role
            if not i_am_top and (target["role"] == self.top_role or role == self.top_role):
                raise org_error(403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER")
            if (
                i_am_top
                and target["id"] == me["id"]
                and role != self.top_role
                and await self._last_owner(conn, org["id"], me)
            ):
                raise org_error(400, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER")
            if not i_am_top and not self.allows(me["role"], {"member": ["update"]}):
                raise org_error(403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER")
            updated = await self.store.set_role(conn, target["id"], role)
            if updated is None:
                raise org_error(400, "MEMBER_NOT_FOUND")
            target.pop("user", None)
            await self._notify(
                conn,
                OrgChange(
                    "update",
                    "member",
                    target["id"],
                    org["id"],
                    current.user.id,
                    self.member_json(target),
                    self.member_json(updated),
                ),
            )
        return self.member_json(updated)

    async def leave(self, current: Current, organization_id: str) -> dict[str, Any]:
        """``organization/leave``: the membership that ended (with its user). A session active there
        moves to another of the user's organizations, if any."""
        async with self.db.transaction() as conn:
            org = await self.store.organization(conn, org_id=organization_id, lock=True)
            me = await self.store.member(conn, organization_id, current.user.id) if org else None
            if org is None or me is None:
                raise org_error(400, "MEMBER_NOT_FOUND")
            if await self._last_owner(conn, org["id"], me):
                raise org_error(400, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER")
            await self.store.delete_member(conn, me["id"])
            await self.store.reassign_sessions(conn, org["id"], current.user.id)
            left = self.member_json(me)
            await self._notify(conn, OrgChange("delete", "member", me["id"], org["id"], current.user.id, left))
        return left

    async def has_permission(
        self, current: Current, permissions: dict[str, list[str]], organization_id: str | None = None
    ) -> dict[str, Any]:
        """``organization/has-permission``: ``{error: null, success}`` for the caller's role there."""
        org_id = organization_id or self._active(current)
        if not org_id:
            raise org_error(400, "NO_ACTIVE_ORGANIZATION")
        me = await self.store.member(None, org_id, current.user.id)
        if me is None:
            raise org_error(401, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION")
        return {"error": None, "success": self.allows(me["role"], permissions)}

    # -- invitations ------------------------------------------------------------------------------

    async def invite(
        self,
        current: Current,
        email: str,
        role: str,
        organization_id: str | None = None,
        *,
        resend: bool = False,
    ) -> dict[str, Any]:
        """``organization/invite-member``: a pending invitation (48 h), e-mailed in the same
        transaction. An address that is already a member, or already has a pending invitation
        (unless ``resend``: then that one is extended and sent again), is refused."""
        org_id = organization_id or self._active(current)
        if not org_id:
            raise org_error(400, "ORGANIZATION_NOT_FOUND")
        address = email.lower()
        if not is_email(address):
            raise auth_error(400, "INVALID_EMAIL")
        async with self.db.transaction() as conn:
            me = await self.store.member(conn, org_id, current.user.id)
            if me is None:
                raise org_error(400, "MEMBER_NOT_FOUND")
            if not self.allows(me["role"], {"invitation": ["create"]}):
                raise org_error(403, "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION")
            if role == self.top_role and me["role"] != self.top_role:
                raise org_error(403, "YOU_ARE_NOT_ALLOWED_TO_INVITE_USER_WITH_THIS_ROLE")
            if await self.store.member_by_email(conn, org_id, address) is not None:
                raise org_error(400, "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION")
            org = await self.store.organization(conn, org_id=org_id, lock=True)
            if org is None:
                raise org_error(400, "ORGANIZATION_NOT_FOUND")
            pending = await self.store.invitations_of(conn, org["id"], email=address, pending_only=True)
            expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=INVITATION_EXPIRES_IN)
            if pending and not resend:
                raise org_error(400, "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION")
            if pending:
                existing = pending[0]
                if existing["role"] == self.top_role and me["role"] != self.top_role:
                    raise org_error(403, "YOU_ARE_NOT_ALLOWED_TO_INVITE_USER_WITH_THIS_ROLE")
                invitation = await self.store.set_invitation(conn, existing["id"], expires_at=expires)
                assert invitation is not None
                await self._notify(
                    conn,
                    OrgChange(
                        "update",
                        "invitation",
                        invitation["id"],
                        org["id"],
                        current.user.id,
                        self.invitation_json(existing),
                        self.invitation_json(invitation),
                    ),
                )
            else:
                invitation = await self.store.insert_invitation(
                    conn, org["id"], address, role, current.user.id, expires
                )
                await self._notify(
                    conn,
                    OrgChange(
                        "create",
                        "invitation",
                        invitation["id"],
                        org["id"],
                        current.user.id,
                        new=self.invitation_json(invitation),
                    ),
                )
            await self._send_invitation(conn, invitation, org, current.user)
        return self.invitation_json(invitation)

    def invitation_url(self, invitation_id: str) -> str:
        """Where the e-mail sends the invitee: the app's page, which accepts it or signs up with it."""
        return f"{self.ctx.base_url}/accept-invitation/{invitation_id}"

    async def _send_invitation(
        self, conn: Connection, invitation: dict[str, Any], org: dict[str, Any], inviter: UserRecord
    ) -> None:
        recipient = await self.ctx.store.user_by_email(invitation["email"], conn)
        if recipient is None:
            # No account yet: the greeting has no name, the link leads to signing up.
            recipient = UserRecord(id=None, core={"name": None, "email": invitation["email"]}, additional={})
        await self.ctx.mail(
            conn,
            template="invitation",
            to=invitation["email"],
            url=self.invitation_url(invitation["id"]),
            user=recipient,
            # One message per sending: a resend (new expiry) is a new message, a retried one is not.
            dedupe_key=f"invitation:{invitation['id']}:{iso(invitation['expires_at'])}",
            extra={
                "organization_name": org.get("name") or org.get("slug") or "an organization",
                "inviter_name": inviter.core.get("name"),
                "inviter_email": inviter.email,
                "role": invitation["role"],
                "expires_in": INVITATION_EXPIRES_IN,
            },
        )

    async def accept_in(
        self, conn: Connection, invitation: dict[str, Any], user_id: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Use a pending invitation for ``user_id`` on the caller's transaction: the invitation
        (now accepted) and the new membership. Checks of who may accept are the caller's."""
        org = await self.store.organization(conn, org_id=invitation["organization_id"], lock=True)
        if org is None:
            raise org_error(400, "ORGANIZATION_NOT_FOUND")
        if await self.store.member(conn, org["id"], user_id) is not None:
            raise org_error(400, "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION")
        accepted = await self.store.set_invitation(conn, invitation["id"], status="accepted", from_status="pending")
        if accepted is None:  # used by a concurrent request since we read it
            raise org_error(400, "INVITATION_NOT_FOUND")
        member = await self.store.add_member(conn, org["id"], user_id, accepted["role"])
        await self._notify(
            conn,
            OrgChange(
                "update",
                "invitation",
                accepted["id"],
                org["id"],
                user_id,
                self.invitation_json(invitation),
                self.invitation_json(accepted),
            ),
        )
        await self._notify(
            conn, OrgChange("create", "member", member["id"], org["id"], user_id, new=self.member_json(member))
        )
        return accepted, member

    async def accept_invitation(self, current: Current, invitation_id: str) -> dict[str, Any]:
        """``organization/accept-invitation``: ``{invitation, member}``; the organization becomes active."""
        async with self.db.transaction() as conn:
            invitation = await self.store.invitation(conn, invitation_id)
            if invitation is None or not self._usable(invitation):
                raise org_error(400, "INVITATION_NOT_FOUND")
            self._require_verified_recipient(
                current, invitation, "EMAIL_VERIFICATION_REQUIRED_BEFORE_ACCEPTING_OR_REJECTING_INVITATION"
            )
            accepted, member = await self.accept_in(conn, invitation, current.user.id)
            await self.ctx.store.set_active_organization(conn, current.session["token"], member["organization_id"])
        return {"invitation": self.invitation_json(accepted), "member": self.member_json(member)}

    async def reject_invitation(self, current: Current, invitation_id: str) -> dict[str, Any]:
        """``organization/reject-invitation``: ``{invitation, member: null}``."""
        async with self.db.transaction() as conn:
            invitation = await self.store.invitation(conn, invitation_id)
            if invitation is None or invitation["status"] != "pending":
                raise AuthError(400, "INVITATION_NOT_FOUND", "Invitation not found!")
            self._require_verified_recipient(
                current, invitation, "EMAIL_VERIFICATION_REQUIRED_BEFORE_ACCEPTING_OR_REJECTING_INVITATION"
            )
            rejected = await self.store.set_invitation(conn, invitation_id, status="rejected", from_status="pending")
            if rejected is None:
                raise AuthError(400, "INVITATION_NOT_FOUND", "Invitation not found!")
            await self._notify(
                conn,
                OrgChange(
                    "update",
                    "invitation",
                    invitation_id,
                    rejected["organization_id"],
                    current.user.id,
                    self.invitation_json(invitation),
                    self.invitation_json(rejected),
                ),
            )
        return {"invitation": self.invitation_json(rejected), "member": None}

    async def cancel_invitation(self, current: Current, invitation_id: str) -> dict[str, Any]:
        """``organization/cancel-invitation``: the canceled invitation (only a pending one)."""
        async with self.db.transaction() as conn:
            invitation = await self.store.invitation(conn, invitation_id)
            if invitation is None:
                raise org_error(400, "INVITATION_NOT_FOUND")
            me = await self.store.member(conn, invitation["organization_id"], current.user.id)
            if me is None:
                raise org_error(400, "MEMBER_NOT_FOUND")
            if not self.allows(me["role"], {"invitation": ["cancel"]}):
                raise org_error(403, "YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION")
            canceled = await self.store.set_invitation(conn, invitation_id, status="canceled", from_status="pending")
            if canceled is None:  # accepted, rejected or canceled already: nothing left to cancel
                raise org_error(400, "INVITATION_NOT_FOUND")
            await self._notify(
                conn,
                OrgChange(
                    "update",
                    "invitation",
                    invitation_id,
                    canceled["organization_id"],
                    current.user.id,
                    self.invitation_json(invitation),
                    self.invitation_json(canceled),
                ),
            )
        return self.invitation_json(canceled)

    async def get_invitation(self, current: Current, invitation_id: str) -> dict[str, Any]:
        """``organization/get-invitation``: the invitation with ``organizationName``,
        ``organizationSlug`` and ``inviterEmail``, for its verified addressee."""
        invitation = await self.store.invitation(None, invitation_id)
        if invitation is None or not self._usable(invitation):
            raise org_error(400, "INVITATION_NOT_FOUND")
        self._require_verified_recipient(current, invitation, "EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION")
        org = await self.store.organization(None, org_id=invitation["organization_id"])
        if org is None:
            raise org_error(400, "ORGANIZATION_NOT_FOUND")
        inviter = await self.store.member(None, org["id"], invitation["inviter_id"])
        if inviter is None:
            raise org_error(400, "INVITER_IS_NO_LONGER_A_MEMBER_OF_THE_ORGANIZATION")
        return {
            **self.invitation_json(invitation),
            "organizationName": org.get("name"),
            "organizationSlug": org.get("slug"),
            "inviterEmail": inviter["user"]["email"],
        }

    async def list_invitations(self, current: Current, organization_id: str | None = None) -> list[dict[str, Any]]:
        """``organization/list-invitations``: every invitation of the organization the member may see."""
        org_id = organization_id or self._active(current)
        if not org_id:
            # Better Auth's words here, with the code its other endpoints give the same situation.
            raise AuthError(400, "NO_ACTIVE_ORGANIZATION", "Organization ID is required")
        me = await self.store.member(None, org_id, current.user.id)
        if me is None:
            raise org_error(403, "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION")
        if not self.allows(me["role"], {"invitation": ["create"]}):
            raise org_error(403, "YOU_ARE_NOT_ALLOWED_TO_LIST_INVITATIONS")
        invitations = self._visible_invitations(await self.store.invitations_of(None, org_id), me["role"])
        return [self.invitation_json(i) for i in invitations]

    async def list_user_invitations(self, current: Current) -> list[dict[str, Any]]:
        """``organization/list-user-invitations``: the pending invitations to the caller's verified address."""
        if not current.user.email_verified:
            raise org_error(403, "EMAIL_VERIFICATION_REQUIRED_FOR_INVITATION")
        return [
            {**self.invitation_json(i), "organizationName": i["organization_name"]}
            for i in await self.store.invitations_for(None, current.user.email)
        ]

    # -- sign-up ----------------------------------------------------------------------------------

    async def on_sign_up(self, conn: Connection, user: UserRecord, body: dict[str, Any]) -> UserRecord:
        """The sign-up transaction's organization part (``AuthContext.on_sign_up``).

        ``organizationName`` (and ``organizationSlug``): the user founds that organization, with the
        top role. ``invitationId``: the user joins with the invited role, and their address counts
        as verified (the invitation was e-mailed to it). Any refusal rolls the whole sign-up back."""
        name = string(body, "organizationName", required=False)
        slug = string(body, "organizationSlug", required=False)
        invitation_id = string(body, "invitationId", required=False)
        if slug is not None and name is None:
            raise validation_error("body.organizationName", "Invalid input: expected string, received undefined")
        if name is not None and invitation_id is not None:
            raise AuthError(400, "BAD_REQUEST", "Sign up with an organization or with an invitation, not both")
        if name is not None:
            if not name.strip():
                raise validation_error("body.organizationName", "Too small: expected string to have >=1 characters")
            if slug is not None and not slug:
                raise validation_error("body.organizationSlug", "Too small: expected string to have >=1 characters")
            await self.create_in(conn, user.id, name=name, slug=slug)
        if invitation_id is not None:
            invitation = await self.store.invitation(conn, invitation_id)
            if invitation is None or not self._usable(invitation):
                raise org_error(400, "INVITATION_NOT_FOUND")
            if invitation["email"].lower() != user.email.lower():
                raise org_error(403, "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION")
            await self.accept_in(conn, invitation, user.id)
            if not user.email_verified:
                verified = await self.ctx.store.update_user(conn, user.id, {"emailVerified": True})
                assert verified is not None
                user = verified
        return user


def slugify(name: str, limit: int = _SLUG_MAX) -> str:
    """``"Acme Corp!"`` -> ``acme-corp``: ASCII letters and digits joined by single dashes."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return text[:limit].rstrip("-") or "org"
