"""The frozen schema model every other part of Tenantry is derived from.

Both schema dialects (the seed's YAML and Apso's ``.apsorc``) load into these classes; the
database tables, the request validators, the CRUD routes, the OpenAPI document and the UI are all
computed from them, never from the source file.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from tenantry.schema.crud import CrudOptions, View
from tenantry.schema.naming import readable_title


class FieldType(enum.StrEnum):
    """The canonical column types. Source dialects map their spellings onto these."""

    STRING = "string"
    TEXT = "text"
    UUID = "uuid"
    INTEGER = "integer"
    BIGINT = "bigint"
    DECIMAL = "decimal"
    FLOAT = "float"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    DATE = "date"
    JSON = "json"
    ENUM = "enum"

    @property
    def is_textual(self) -> bool:
        """Types that LIKE-style operators apply to."""
        return self in (FieldType.STRING, FieldType.TEXT, FieldType.ENUM, FieldType.UUID)


class Action(enum.StrEnum):
    """What a principal may do to rows of an entity."""

    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


IdType = Literal["uuid", "text", "serial", "bigserial"]
# Ids the database numbers itself (auto-increment): never chosen by a client, absent from inserts.
SERIAL_ID_TYPES: frozenset[str] = frozenset({"serial", "bigserial"})
# What a create or update does with body keys that are not fields: refuse them (400
# ``UNKNOWN_FIELD``) or drop them, as nestjsx's validation pipe (``whitelist``) does for Apso.
UnknownKeys = Literal["reject", "drop"]
# Entities a capability gives meaning to: accounts, tenants, and the audit capability's log.
SystemRole = Literal["users", "organizations", "audit_logs"]
OnDelete = Literal["restrict", "cascade", "set null"]
AutoMode = Literal["create", "update"]


@dataclass(frozen=True)
class Location:
    """Where something was written in the schema file, for error messages."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Field:
    """One column of an entity, as the schema declared it."""

    name: str
    type: FieldType
    required: bool = False
    nullable: bool = True
    unique: bool = False
    index: bool = False
    default: Any = None
    has_default: bool = False
    references: str | None = None
    on_delete: OnDelete = "restrict"
    auto: AutoMode | None = None
    immutable: bool = False
    enum_values: tuple[str, ...] = ()
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    email: bool = False
    label: str | None = None
    relation_name: str | None = None
    inverse_name: str | None = None
    # An array column (``type`` is JSON on the wire): the type of its elements. PostgreSQL stores a
    # real array (``text[]``), SQLite a JSON array.
    element: FieldType | None = None
    # A PostGIS column (``type`` is JSON: GeoJSON on the wire): Apso's type name (``geometry``, ``point`` …).
    spatial: str | None = None
    location: Location | None = None

    @property
    def server_managed(self) -> bool:
        """Values the server sets itself; clients never write them."""
        return self.auto is not None

    @property
    def writable_on_update(self) -> bool:
        return not self.server_managed and not self.immutable


@dataclass(frozen=True)
class Index:
    """A secondary index; ``descending`` names the columns sorted DESC."""

    fields: tuple[str, ...]
    unique: bool = False
    name: str | None = None
    descending: frozenset[str] = frozenset()
    location: Location | None = None


@dataclass(frozen=True)
class Link:
    """The join table a many-to-many relation goes through, seen from one side.

    ``near`` holds this side's id, ``far`` the related row's id.
    """

    table: str
    near: str
    far: str


@dataclass(frozen=True)
class Relation:
    """A navigable link between two entities, derived from a reference field or a join table.

    ``kind`` is ``one`` when this entity holds the foreign key (many-to-one) and ``many`` when the
    other entity does (one-to-many), or when a join table links them (many-to-many: ``link`` is
    set and both fields are ``id``). ``local_field``/``remote_field`` name the columns compared.
    """

    name: str
    kind: Literal["one", "many"]
    target: str
    local_field: str
    remote_field: str
    aliases: tuple[str, ...] = ()
    link: Link | None = None


@dataclass(frozen=True)
class ManyToMany:
    """A many-to-many relationship and its join table (``owner`` is the side declaring it).

    ``owner_column`` holds the owner's id, ``target_column`` the target's; ``name`` is the owner's
    relation, ``inverse`` the target's (``None``: navigable from the owner only).
    """

    table: str
    owner: str
    owner_column: str
    target: str
    target_column: str
    name: str
    inverse: str | None = None
    location: Location | None = None


@dataclass(frozen=True)
class Permissions:
    """Which actions each role may take on an entity.

    ``own`` holds the (role, action) pairs limited to rows the principal created.
    """

    grants: dict[str, frozenset[Action]]
    own: frozenset[tuple[str, Action]] = frozenset()
    location: Location | None = None

    def allows(self, role: str, action: Action) -> bool:
        return action in self.grants.get(role, frozenset())

    def own_only(self, role: str, action: Action) -> bool:
        return (role, action) in self.own


@dataclass(frozen=True)
class Display:
    """How the UI names an entity, and where its pages sit in the web app's menu."""

    plural: str
    singular: str
    title_field: str | None = None
    icon: str | None = None  # a name from ``tenantry.schema.icons.ICONS``
    group: str | None = None  # the heading it is listed under in the menu
    menu: bool | None = None  # True/False: listed or not; None: the default (system tables are not)


@dataclass(frozen=True)
class MenuGroup:
    """Entities listed together in the web app's menu, under ``label`` (none: no heading)."""

    label: str | None
    entities: tuple[str, ...]


@dataclass(frozen=True)
class AppDisplay:
    """The web app's own look, from the schema's ``settings: display:``."""

    name: str | None = None  # the app's name (default: the schema's title, made readable)
    logo: str | None = None  # an image file, absolute or relative to the schema file
    color: str | None = None  # the brand colour, ``#rrggbb``
    menu: tuple[MenuGroup, ...] | None = None  # None: every entity a user works with
    icons: tuple[tuple[str, str], ...] = ()  # (entity, icon) the menu gives


@dataclass(frozen=True)
class Entity:
    """A resource: a table, its CRUD routes and its pages."""

    name: str
    table: str
    route: str
    class_name: str
    fields: tuple[Field, ...]
    id_type: IdType = "uuid"
    unknown_keys: UnknownKeys = "reject"
    system: SystemRole | None = None
    tenant_field: str | None = None
    # Scoped through a parent instead of a column of its own (Apso's nested ``scopeBy``,
    # ``task.organizationId``): the name of the to-one relation whose row decides the tenant.
    tenant_via: str | None = None
    # Whether the server writes the tenant column of a new row (Apso's ``injectOnCreate``); when
    # not, the client sends it, and it must still be the active organization.
    inject_tenant: bool = True
    # Apso's ``scopeOptions.bypassRoles``: users whose *platform* role (the admin plugin's
    # ``user.role``) is one of these skip the tenant boundary of this entity for ``bypass_actions``
    # (the operations ``enforceOn`` lists), on every organization's rows (docs/apso.md).
    bypass_roles: tuple[str, ...] = ()
    bypass_actions: frozenset[Action] = frozenset()
    owner_field: str | None = None
    permissions: Permissions | None = None
    indexes: tuple[Index, ...] = ()
    soft_delete: bool = False
    always_paginate: bool = False
    default_limit: int | None = None
    display: Display | None = None
    relations: tuple[Relation, ...] = ()
    location: Location | None = None
    # nestjsx @Crud() options of the entity's own route (docs/crud-options.md).
    crud: CrudOptions = field(default_factory=CrudOptions)

    @property
    def tenant_scoped(self) -> bool:
        """Whether rows belong to an organization (by a column of their own, or through a parent)."""
        return self.tenant_field is not None or self.tenant_via is not None

    def bypasses(self, platform_role: str | None, action: Action) -> bool:
        """Whether a user with the stored platform role value ``platform_role`` (Better Auth joins
        several with commas: ``"admin,support"``) skips this entity's tenant boundary for ``action``."""
        if not platform_role or action not in self.bypass_actions or not self.tenant_scoped:
            return False
        return any(role.strip() in self.bypass_roles for role in platform_role.split(","))

    @property
    def serial_id(self) -> bool:
        """Whether the database numbers this entity's rows (``serial``/``bigserial``)."""
        return self.id_type in SERIAL_ID_TYPES

    def field(self, name: str) -> Field | None:
        """The declared field called ``name`` (``id`` is implicit and not a declared field)."""
        return self._fields_by_name.get(name)

    @cached_property
    def _fields_by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    @cached_property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """Every column in table order: ``id``, the declared fields, then soft-delete marker."""
        extra = ("deleted_at",) if self.soft_delete else ()
        return ("id", *self.field_names, *extra)

    def unique_columns(self, fields: tuple[str, ...]) -> tuple[str, ...]:
        """The columns over which a uniqueness rule on ``fields`` holds.

        On a tenant-scoped entity of the schema's own, uniqueness is per organization: the tenant
        column comes first, so a 409 can only ever be about a row of the writer's own organization
        and never confirms another tenant's value. System entities keep theirs as declared (a
        user's e-mail and an organization's slug are unique everywhere), and so does a rule that
        names the tenant column itself (one subscription per organization).
        """
        tenant = self.tenant_field
        if tenant is None or self.system is not None or tenant in fields:
            return fields
        return (tenant, *fields)

    def relation(self, name: str) -> Relation | None:
        for rel in self.relations:
            if rel.name == name or name in rel.aliases:
                return rel
        return None

    @cached_property
    def created_at_field(self) -> str | None:
        for f in self.fields:
            if f.auto == "create" and f.type is FieldType.TIMESTAMP:
                return f.name
        return None


@dataclass(frozen=True)
class Schema:
    """The whole application model."""

    entities: dict[str, Entity]
    title: str = "Tenantry"
    roles: tuple[str, ...] = ("admin", "member", "viewer")
    source: str = "<memory>"
    options: dict[str, Any] = field(default_factory=dict)
    many_to_many: tuple[ManyToMany, ...] = ()
    app: AppDisplay = AppDisplay()
    # Entities served under second routes, with guards and options of their own.
    views: tuple[View, ...] = ()

    @property
    def app_name(self) -> str:
        """What the app is called on its pages and in its e-mails: ``settings: display: name``,
        else the title (the seed's ``Service Name``) as people would write it."""
        return self.app.name or readable_title(self.title)

    def entity(self, name: str) -> Entity | None:
        return self.entities.get(name)

    def by_route(self) -> dict[str, Entity]:
        """Entities keyed by lower-cased route, for case-insensitive URL matching."""
        return {e.route.lower(): e for e in self.entities.values()}

    def system_entity(self, role: SystemRole) -> Entity | None:
        for e in self.entities.values():
            if e.system == role:
                return e
        return None
