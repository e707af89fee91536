"""Turn the entities a loader read into a checked, cross-linked ``Schema``.

Both dialects share this step: references are resolved, foreign keys take the type of the id
they point to, tenant and owner columns are found, and relations are derived in both directions.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from tenantry.schema.crud import CrudOptions, Report, View, check_crud
from tenantry.schema.errors import ProblemList
from tenantry.schema.model import (
    Action,
    AppDisplay,
    Display,
    Entity,
    Field,
    FieldType,
    IdType,
    Index,
    Link,
    Location,
    ManyToMany,
    Permissions,
    Relation,
    Schema,
    SystemRole,
    UnknownKeys,
)
from tenantry.schema.naming import (
    camel_case,
    humanize,
    is_identifier,
    pascal_case,
    pluralize,
    singularize,
    snake_case,
)

AUTO: Literal["auto"] = "auto"

_ID_FIELD_TYPE: dict[IdType, FieldType] = {
    "uuid": FieldType.UUID,
    "text": FieldType.STRING,
    "serial": FieldType.INTEGER,
    "bigserial": FieldType.BIGINT,
}
_FK_COMPATIBLE = {FieldType.UUID, FieldType.STRING, FieldType.TEXT, FieldType.INTEGER, FieldType.BIGINT}
_OWNER_NAMES = (
    "created_by",
    "created_by_id",
    "createdBy",
    "createdById",
    "owner_id",
    "ownerId",
    "author_id",
    "authorId",
)
_SYSTEM_NAMES: dict[str, SystemRole] = {
    "users": "users",
    "user": "users",
    "organizations": "organizations",
    "organization": "organizations",
    "audit_logs": "audit_logs",
    "audit_log": "audit_logs",
    "auditlogs": "audit_logs",
    "auditlog": "audit_logs",
}
RESERVED_FIELDS = {"id", "deleted_at"}


@dataclass
class DraftEntity:
    """An entity as read from a file, before cross-entity checks."""

    name: str
    location: Location | None
    fields: list[Field] = field(default_factory=list)
    table: str | None = None
    route: str | None = None
    class_name: str | None = None
    id_type: IdType = "uuid"
    unknown_keys: UnknownKeys = "reject"
    tenant: str | Literal["auto"] | None = AUTO
    # Nested scope (``task.organizationId``): the to-one relation and the parent's tenant field.
    tenant_via: tuple[str, str] | None = None
    inject_tenant: bool = True
    bypass_roles: tuple[str, ...] = ()
    bypass_actions: frozenset[Action] = frozenset()
    owner: str | Literal["auto"] | None = AUTO
    permissions: Permissions | None = None
    indexes: list[Index] = field(default_factory=list)
    soft_delete: bool = False
    always_paginate: bool = False
    default_limit: int | None = None
    display: Display | None = None
    title_field: str | None = None
    crud: CrudOptions = field(default_factory=CrudOptions)
    views: list[View] = field(default_factory=list)


@dataclass
class DraftManyToMany:
    """A many-to-many relationship as a loader read it; ``build_schema`` names what it leaves out.

    ``name`` is the owner's relation, ``inverse`` the target's (``None``: one-way). Without
    ``table`` and columns, the join table is named as TypeORM names it (see ``join_table_names``).
    """

    owner: str
    target: str
    name: str
    inverse: str | None
    location: Location | None
    table: str | None = None
    owner_column: str | None = None
    target_column: str | None = None


def join_table_names(owner_table: str, name: str, target_table: str) -> tuple[str, str, str]:
    """TypeORM's default join table and columns for ``@ManyToMany() @JoinTable() name`` (what Apso generates).

    ``DefaultNamingStrategy``: the table is ``snake(<owner table>_<property>_<target table>)``, each
    column ``camel(<table>_id)``; a table joined to itself gets ``_1`` and ``_2`` suffixes.
    """
    table = snake_case(f"{owner_table}_{name}_{target_table}")
    near, far = camel_case(f"{owner_table}_id"), camel_case(f"{target_table}_id")
    if near == far:
        near, far = f"{near}_1", f"{far}_2"
    return table, near, far


def build_schema(
    drafts: list[DraftEntity],
    problems: ProblemList,
    *,
    title: str = "Tenantry",
    roles: tuple[str, ...] = ("admin", "member", "viewer"),
    options: dict[str, Any] | None = None,
    app: AppDisplay | None = None,
    many_to_many: list[DraftManyToMany] | None = None,
) -> Schema:
    """Check and link the drafts; raises ``SchemaError`` listing every problem found."""
    by_key: dict[str, DraftEntity] = {}
    routes: dict[str, DraftEntity] = {}
    for d in drafts:
        if not is_identifier(d.name):
            problems.at(f"entity name '{d.name}' must be letters, digits and '_' (max 63)", d.location)
        key = d.name.lower()
        if key in by_key:
            problems.at(
                f"duplicate entity '{d.name}' (first defined at line {_line(by_key[key].location)})", d.location
            )
            continue
        by_key[key] = d
        route = (d.route or d.name).lower()
        if route in routes and routes[route] is not d:
            problems.at(f"entity '{d.name}' has the same route as '{routes[route].name}'", d.location)
        routes[route] = d
        _check_fields(d, problems)
        _apply_crud(d)
        for view in d.views:
            taken = routes.get(view.route.lower())
            if taken is not None:
                problems.at(f"view '{view.route}' of '{d.name}' has the same route as '{taken.name}'", view.location)
            routes[view.route.lower()] = d
            for role in view.guard.roles:
                if role not in roles:
                    problems.at(
                        f"view '{view.route}': guard names unknown role '{role}' (roles: {', '.join(roles)})",
                        view.location,
                    )
    unique_drafts = list(by_key.values())
    lookup = _reference_lookup(unique_drafts)
    system = {d.name: _SYSTEM_NAMES.get(d.name.lower()) for d in unique_drafts}
    users = next((d for d in unique_drafts if system[d.name] == "users"), None)
    orgs = next((d for d in unique_drafts if system[d.name] == "organizations"), None)

    for d in unique_drafts:
        if d.id_type == "bigserial" and system[d.name] is not None:
            # Accounts and organizations keep ids every authentication path already handles.
            problems.at(f"'{d.name}' is a system entity: its id may be uuid, text or serial, not bigserial", d.location)
        if d.bypass_roles and system[d.name] is not None:
            # Their reads and writes follow rules of their own (sign-in, memberships), never a scope.
            problems.at(
                f"'{d.name}' is a system entity: bypass roles apply to the organizations' own data only", d.location
            )
    for d in unique_drafts:
        d.fields = [_resolve_reference(d, f, lookup, problems) for f in d.fields]
    if users is not None and orgs is not None:
        # A user's organization is the one active in their session; people sign up before they
        # create or join one, so the users table cannot require it.
        users.fields = [
            replace(f, required=False, nullable=True) if f.references == orgs.name else f for f in users.fields
        ]
    audit = next((d for d in unique_drafts if system[d.name] == "audit_logs"), None)
    if audit is not None:
        audit.fields = [_audit_field(f) for f in audit.fields]

    relations: dict[str, list[Relation]] = {d.name: [] for d in unique_drafts}
    target_fields = {d.name: {f.name for f in d.fields} for d in unique_drafts}
    for d in unique_drafts:
        _derive_relations(d, relations, target_fields)
    links = _many_to_many(many_to_many or [], by_key, relations, target_fields, problems)

    entities: dict[str, Entity] = {}
    tenants = {d.name: _tenant_field(d, orgs, problems) for d in unique_drafts}
    for d in unique_drafts:
        tenant = tenants[d.name]
        via = _tenant_via(d, relations[d.name], tenants, problems)
        owner = _owner_field(d, users, problems)
        _check_indexes(d, problems)
        _check_permissions(d, roles, problems)
        class_name = d.class_name or pascal_case(singularize(d.name))
        display = d.display or Display(
            plural=humanize(d.name),
            singular=humanize(singularize(d.name)),
            title_field=d.title_field or _title_field(d),
        )
        entities[d.name] = Entity(
            name=d.name,
            table=d.table or snake_case(d.name),
            route=d.route or d.name,
            class_name=class_name,
            fields=tuple(d.fields),
            id_type=d.id_type,
            unknown_keys=d.unknown_keys,
            system=system[d.name],
            tenant_field=tenant,
            tenant_via=via,
            inject_tenant=d.inject_tenant,
            bypass_roles=d.bypass_roles,
            bypass_actions=d.bypass_actions,
            owner_field=owner,
            permissions=d.permissions,
            indexes=tuple(d.indexes),
            soft_delete=d.soft_delete,
            always_paginate=d.always_paginate,
            default_limit=d.default_limit,
            display=display,
            relations=tuple(relations[d.name]),
            location=d.location,
            crud=d.crud,
        )
    tables = {e.table: name for name, e in entities.items()}
    for m in links:
        if m.table in tables:
            problems.at(f"the join table '{m.table}' has the name of the table of '{tables[m.table]}'", m.location)
        tables[m.table] = m.table
    problems.raise_if_any()
    schema = Schema(
        entities=entities,
        title=title,
        roles=roles,
        source=problems.file,
        options=dict(options or {}),
        app=app or AppDisplay(),
        many_to_many=tuple(links),
        views=tuple(v for d in unique_drafts for v in d.views),
    )
    for entity in entities.values():
        check_crud(schema, entity, entity.crud, f"crud of '{entity.name}'", _reporter(problems, entity.crud.location))
    for view in schema.views:
        check_crud(schema, entities[view.entity], view.crud, f"view '{view.route}'", _reporter(problems, view.location))
    problems.raise_if_any()
    return schema


def _reporter(problems: ProblemList, location: Location | None) -> Report:
    def report(message: str) -> None:
        problems.at(message, location)

    return report


def _apply_crud(d: DraftEntity) -> None:
    """An entity's own ``crud`` options that change its table or its defaults."""
    if d.crud.soft_delete is not None:
        d.soft_delete = d.crud.soft_delete
    if d.crud.limit is not None:
        d.default_limit = d.crud.limit
    if d.crud.always_paginate is not None:
        d.always_paginate = d.crud.always_paginate


def _many_to_many(
    declared: list[DraftManyToMany],
    by_key: dict[str, DraftEntity],
    relations: dict[str, list[Relation]],
    target_fields: dict[str, set[str]],
    problems: ProblemList,
) -> list[ManyToMany]:
    """Both sides' relations of each many-to-many, and its join table."""
    out: list[ManyToMany] = []
    for m in declared:
        owner, target = by_key.get(m.owner.lower()), by_key.get(m.target.lower())
        for role, name, found in (("from", m.owner, owner), ("to", m.target, target)):
            if found is None:
                problems.at(f"many-to-many relationship {role} unknown entity '{name}'", m.location)
        if owner is None or target is None:
            continue
        owner_table, target_table = owner.table or snake_case(owner.name), target.table or snake_case(target.name)
        default = join_table_names(owner_table, m.name, target_table)
        table = m.table or default[0]
        near, far = m.owner_column or default[1], m.target_column or default[2]
        if near == far:
            problems.at(f"the join table '{table}' needs two different column names (both are '{near}')", m.location)
            continue
        sides = [(owner.name, m.name, target.name, Link(table, near, far))]
        if m.inverse:
            sides.append((target.name, m.inverse, owner.name, Link(table, far, near)))
        for holder, name, other, link in sides:
            if name in target_fields[holder] or any(r.name == name for r in relations[holder]):
                problems.at(f"'{holder}' already has a field or relation called '{name}'", m.location)
                continue
            relations[holder].append(Relation(name, "many", other, "id", "id", link=link))
        out.append(ManyToMany(table, owner.name, near, target.name, far, m.name, m.inverse or None, m.location))
    return out


def _line(loc: Location | None) -> str:
    return str(loc.line) if loc else "?"


def _check_fields(d: DraftEntity, problems: ProblemList) -> None:
    seen: dict[str, Field] = {}
    for f in d.fields:
        if not is_identifier(f.name):
            problems.at(f"field name '{f.name}' must be letters, digits and '_' (max 63)", f.location)
        if f.name in RESERVED_FIELDS:
            problems.at(f"'{f.name}' is managed by Tenantry and cannot be declared", f.location)
        if f.name in seen:
            problems.at(
                f"duplicate field '{f.name}' in '{d.name}' (first at line {_line(seen[f.name].location)})", f.location
            )
        seen[f.name] = f
        if f.auto and f.type not in (FieldType.TIMESTAMP, FieldType.DATE):
            problems.at(f"'auto' applies to timestamp and date fields, not {f.type.value}", f.location)
        if f.required and f.has_default and f.default is None:
            problems.at(f"field '{f.name}' is required but defaults to null", f.location)


def _reference_lookup(drafts: list[DraftEntity]) -> dict[str, DraftEntity]:
    """Every name a reference may use for an entity: its name, table, class name, singular and plural."""
    lookup: dict[str, DraftEntity] = {}
    for d in drafts:
        for alias in (d.name, d.table, d.class_name, singularize(d.name), pluralize(d.name)):
            if alias:
                lookup.setdefault(alias.lower(), d)
    for d in drafts:  # exact names win over derived aliases
        lookup[d.name.lower()] = d
    return lookup


def _resolve_reference(d: DraftEntity, f: Field, lookup: dict[str, DraftEntity], problems: ProblemList) -> Field:
    if f.references is None:
        return f
    target = lookup.get(f.references.lower())
    if target is None:
        close = difflib.get_close_matches(f.references.lower(), list(lookup), n=1)
        hint = f" (did you mean '{lookup[close[0]].name}'?)" if close else ""
        problems.at(f"field '{f.name}' references unknown entity '{f.references}'{hint}", f.location)
        return f
    if f.type not in _FK_COMPATIBLE:
        problems.at(f"field '{f.name}' is a {f.type.value} and cannot reference '{target.name}'", f.location)
        return f
    fk_type = _ID_FIELD_TYPE[target.id_type]
    length = 64 if fk_type is FieldType.STRING else None
    if f.on_delete == "set null" and f.required:
        problems.at(f"field '{f.name}' is required, so 'on delete: set null' is impossible", f.location)
    return replace(f, references=target.name, type=fk_type, length=length)


# What the audit log must be able to hold, whatever the schema declared (see ``tenantry.audit``).
_AUDIT_ACTION_LENGTH = 64
_AUDIT_RESOURCE_ID_LENGTH = 255


def _audit_field(f: Field) -> Field:
    """Relax one declared column of the audit log so every event fits it.

    Security events have no user or organization (a failed sign-in of an unknown address) or no
    single resource (revoking every session); actions go beyond create/update/delete (``sign_in``,
    ``member_add`` …); resource ids are not all UUIDs (sessions, memberships). The references to
    users and organizations stay, for joins in the API (both ways: ``?join=user`` on the log,
    ``?join=audit_logs`` on an organization, each read through the log's own policy and scope);
    ``tenantry.db.tables`` creates no foreign key for them, because the history must outlive the
    rows it mentions.
    """
    name = snake_case(f.name)
    if name in ("user_id", "org_id", "organization_id") or f.references is not None:
        return replace(f, required=False, nullable=True)
    if name == "action":
        return replace(
            f,
            type=FieldType.STRING,
            enum_values=(),
            length=max(f.length or 0, _AUDIT_ACTION_LENGTH),
            default=None,
            has_default=False,
        )
    if name == "resource_id":
        return replace(
            f,
            type=FieldType.STRING,
            length=max(f.length or 0, _AUDIT_RESOURCE_ID_LENGTH),
            required=False,
            nullable=True,
        )
    return f


def _strip_id(name: str) -> str | None:
    for suffix in ("_id", "Id", "_ID"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def _derive_relations(d: DraftEntity, relations: dict[str, list[Relation]], target_fields: dict[str, set[str]]) -> None:
    refs = [f for f in d.fields if f.references in relations]  # unresolved ones were reported
    field_names = {f.name for f in d.fields}
    for f in refs:
        assert f.references is not None
        target = f.references
        same_target = [g for g in refs if g.references == target]
        stripped = _strip_id(f.name)
        if f.relation_name:
            name = f.relation_name
        elif len(same_target) == 1:
            name = singularize(target) if target != d.name else (stripped or f"parent_{f.name}")
        else:
            name = stripped or f"{f.name}_{singularize(target)}"
        aliases = tuple(a for a in (stripped,) if a and a != name and a not in field_names)
        if name in field_names or any(r.name == name for r in relations[d.name]):
            name = f"{f.name}_ref"
        relations[d.name].append(Relation(name, "one", target, f.name, "id", aliases))
        if f.inverse_name == "":  # explicitly one-directional
            continue
        if f.inverse_name:
            inverse = f.inverse_name
        elif len(same_target) == 1 and target != d.name:
            inverse = d.name
        else:
            inverse = f"{d.name}_by_{stripped or f.name}"
        if any(r.name == inverse for r in relations[target]) or inverse in target_fields.get(target, set()):
            inverse = f"{d.name}_by_{f.name}"
        # A unique foreign key is one-to-one: the way back is a single row, not a list.
        kind: Literal["one", "many"] = "one" if f.unique else "many"
        if f.unique and not f.inverse_name:
            inverse = singularize(inverse) if inverse == d.name else inverse
        relations[target].append(Relation(inverse, kind, d.name, "id", f.name))


def _tenant_field(d: DraftEntity, orgs: DraftEntity | None, problems: ProblemList) -> str | None:
    if d.tenant is None:
        return None
    if d.tenant != AUTO:
        f = next((f for f in d.fields if f.name == d.tenant), None)
        if f is None:
            problems.at(f"tenant field '{d.tenant}' is not a field of '{d.name}'", d.location)
        return d.tenant
    if orgs is None or d is orgs:
        return None
    for f in d.fields:
        if f.references == orgs.name:
            return f.name
    return None


def _tenant_via(
    d: DraftEntity, relations: list[Relation], tenants: dict[str, str | None], problems: ProblemList
) -> str | None:
    """The relation a nested scope (``task.organizationId``) goes through, checked.

    The parent must be scoped by that field of its own, and the link must be required: a row
    without a parent would belong to no organization, and be seen by none or by all.
    """
    if d.tenant_via is None:
        return None
    name, field_name = d.tenant_via
    path = f"{name}.{field_name}"
    rel = next((r for r in relations if r.kind == "one" and (r.name == name or name in r.aliases)), None)
    if rel is None:
        problems.at(f"scope path '{path}' of '{d.name}': '{name}' is not a to-one relation of '{d.name}'", d.location)
        return None
    if tenants.get(rel.target) != field_name:
        problems.at(
            f"scope path '{path}' of '{d.name}': '{rel.target}' must itself be scoped by its own field "
            f"'{field_name}' (scopeBy: \"{field_name}\")",
            d.location,
        )
        return None
    link = next((f for f in d.fields if f.name == rel.local_field), None)
    if link is None or link.nullable:
        problems.at(
            f"scope path '{path}' of '{d.name}': the relationship to '{rel.target}' must not be nullable "
            "(a row without a parent would belong to no organization)",
            d.location,
        )
        return None
    return rel.name


def _owner_field(d: DraftEntity, users: DraftEntity | None, problems: ProblemList) -> str | None:
    if d.owner is None:
        return None
    if d.owner != AUTO:
        f = next((f for f in d.fields if f.name == d.owner), None)
        if f is None:
            problems.at(f"owner field '{d.owner}' is not a field of '{d.name}'", d.location)
        return d.owner
    if users is None:
        return None
    for name in _OWNER_NAMES:
        f = next((f for f in d.fields if f.name == name), None)
        if f is not None and f.references == users.name:
            return f.name
    return None


def _check_indexes(d: DraftEntity, problems: ProblemList) -> None:
    known = {f.name for f in d.fields} | {"id"}
    for ix in d.indexes:
        for name in ix.fields:
            if name not in known:
                problems.at(f"index on '{d.name}' names unknown field '{name}'", ix.location or d.location)


def _check_permissions(d: DraftEntity, roles: tuple[str, ...], problems: ProblemList) -> None:
    if d.permissions is None:
        return
    for role in d.permissions.grants:
        if role not in roles:
            problems.at(
                f"permissions of '{d.name}' name unknown role '{role}' (roles: {', '.join(roles)})",
                d.permissions.location,
            )


def _title_field(d: DraftEntity) -> str | None:
    for candidate in ("name", "title", "label", "email", "slug"):
        if any(f.name == candidate for f in d.fields):
            return candidate
    return next((f.name for f in d.fields if f.type in (FieldType.STRING, FieldType.TEXT)), None)
