"""The one path every read and write takes: principal -> policy -> scope -> validate -> transaction.

The REST API, the web UI and internal callers (webhooks, CLI) call these service functions; none
of them writes SQL of its own. Capabilities plug in at fixed points: a ``Policy`` decides whether a
principal may act, a ``Scope`` adds the conditions and forced values that keep tenants apart,
``WriteListener``s write their rows (audit log, outbox) in the same transaction as the change,
and project hooks run before (inside the transaction) and after (after commit) each action.
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from tenantry.context import PLATFORM_ROLE_ATTRIBUTE, RequestContext
from tenantry.db import Connection, Database, RowShaper, SQLCompiler, TableSet
from tenantry.db.codecs import utc_now
from tenantry.db.errors import DataRejected, IntegrityViolation
from tenantry.db.ids import uuid7
from tenantry.db.query import And, Condition, Join, ListQuery, Node, Or, Related, SortKey, conjunction, values_of
from tenantry.db.tables import has_foreign_keys
from tenantry.errors import (
    ApiError,
    FieldError,
    bad_request,
    conflict,
    forbidden,
    not_found,
    unauthorized,
    validation_failed,
)
from tenantry.hooks import Deny, HookEvent, Hooks
from tenantry.schema import Action, Entity, FieldType, Relation, Schema
from tenantry.schema.types import INT32, INT64
from tenantry.validation import EntityModels

log = logging.getLogger("tenantry.pipeline")

WriteAction = Literal["create", "update", "delete"]
MAX_BULK = 1000


@dataclass(frozen=True, slots=True)
class Grant:
    """A permission decision. ``own_only``: the principal may act only on rows it owns."""

    own_only: bool = False


class Policy(Protocol):
    """Decides whether a principal may take an action on an entity (deny by default)."""

    def authorize(self, ctx: RequestContext, entity: Entity, action: Action) -> Grant:
        """Return a grant, or raise a 401/403 ``ApiError``."""
        ...


class Scope(Protocol):
    """The server-side tenant boundary."""

    def read_filter(
        self, ctx: RequestContext, entity: Entity, action: Action = Action.READ, where: Node | None = None
    ) -> Node | None:
        """Conditions the rows of ``entity`` that ``action`` touches must satisfy.

        ``where`` is what the client asked for, so a scope may widen its default (e.g. to every
        organization of the user when the client names them) but never beyond its boundary.
        """
        ...

    def check_write(
        self, ctx: RequestContext, entity: Entity, values: dict[str, Any], old: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Values about to be written (``old`` is None on create), completed or refused (4xx)."""
        ...


class Presenter(Protocol):
    """Adds computed values to rows on their way out (e.g. a user's role in the active organization)."""

    async def present(self, ctx: RequestContext, entity: Entity, rows: list[dict[str, Any]]) -> None: ...


class OrganizationChange(Protocol):
    """A change the organization plugin reports to the pipeline's ``change_observers`` (audit, events),
    inside its transaction: organizations, memberships and invitations change outside the CRUD path."""

    @property
    def action(self) -> str: ...  # create, update, delete
    @property
    def resource_type(self) -> str: ...  # organization, member, invitation
    @property
    def resource_id(self) -> str: ...
    @property
    def organization_id(self) -> str: ...
    @property
    def actor_id(self) -> Any: ...
    @property
    def old(self) -> dict[str, Any] | None: ...
    @property
    def new(self) -> dict[str, Any] | None: ...


def organization_of(event: WriteEvent) -> Any:
    """The organization a change belongs to: the organization itself, the row's tenant, else the
    actor's active organization (a user's own profile, shared rows). The audit log records it and
    realtime sends the change there (``org:<id>``)."""
    entity = event.entity
    if entity.system == "organizations":
        return event.id
    if entity.tenant_field is not None:
        row = event.new if event.new is not None else event.old
        if row is not None and row.get(entity.tenant_field) is not None:
            return row[entity.tenant_field]
    return event.context.principal.org_id


class FilterTranslator(Protocol):
    """The inverse of a presenter: conditions on computed values become conditions the database can check."""

    def translate(self, ctx: RequestContext, entity: Entity, node: Node) -> Node: ...


@dataclass(frozen=True)
class WriteEvent:
    """A committed-or-about-to-commit change, as listeners see it (values in their JSON form)."""

    entity: Entity
    action: WriteAction
    id: Any
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    context: RequestContext


# Records an ``OrganizationChange`` on ``conn`` inside its transaction (the audit row, the event).
ChangeObserver = Callable[[Connection, OrganizationChange], Awaitable[None]]

# Called by a write with what it returns (the created rows, the updated row, the deleted row), on
# its connection as the last step of its transaction: an idempotency key's answer commits with
# the write or not at all. Raising rolls the write back.
Seal = Callable[[Connection, Any], Awaitable[None]]


class WriteListener(Protocol):
    """Writes its own rows in the same transaction as every change (audit log, outbox)."""

    async def on_write(self, conn: Connection, event: WriteEvent) -> None: ...


class OpenPolicy:
    """Signed-in users, the development principal and the system may act; anonymous callers get 401.

    The policy of an app without organizations and roles; tenancy replaces it with role-based rules.
    """

    def authorize(self, ctx: RequestContext, entity: Entity, action: Action) -> Grant:
        if ctx.principal.kind in ("user", "developer", "system"):
            return Grant()
        raise unauthorized("Authentication required")


class NoScope:
    """No tenant boundary (the open development mode, and system callers)."""

    def read_filter(
        self, ctx: RequestContext, entity: Entity, action: Action = Action.READ, where: Node | None = None
    ) -> Node | None:
        return None

    def check_write(
        self, ctx: RequestContext, entity: Entity, values: dict[str, Any], old: dict[str, Any] | None
    ) -> dict[str, Any]:
        return values


@dataclass(frozen=True)
class Restriction:
    """A route's fixed row scope (nestjsx ``query.filter`` and route ``params``) and the values its
    writes always set (``params`` and ``@CrudAuth`` ``persist``).

    ``where`` is ANDed outside everything a client asks for, so no ``filter``, ``or`` or ``s`` can
    widen it; a write whose row would fall outside it is refused. ``written`` overrides the body.
    """

    where: Node | None = None
    written: dict[str, Any] = field(default_factory=dict)

    def body(self, body: Any) -> Any:
        """``body`` with the fixed values put over what the client sent."""
        if self.written and isinstance(body, dict):
            return {**body, **self.written}
        return body


NO_RESTRICTION = Restriction()


@dataclass
class Page:
    """A list result, with paging facts when the response is an envelope."""

    data: list[dict[str, Any]]
    paginated: bool
    total: int = 0
    page: int = 1
    page_count: int = 1

    def envelope(self) -> dict[str, Any]:
        """nestjsx/crud's ``GetManyDefaultResponse`` key order."""
        return {
            "data": self.data,
            "count": len(self.data),
            "total": self.total,
            "page": self.page,
            "pageCount": self.page_count,
        }


@dataclass
class Pipeline:
    """CRUD service functions for every entity of one schema."""

    schema: Schema
    db: Database
    tables: TableSet
    policy: Policy
    scope: Scope = field(default_factory=NoScope)
    hooks: Hooks = field(default_factory=Hooks)
    listeners: list[WriteListener] = field(default_factory=list)
    presenters: list[Presenter] = field(default_factory=list)
    translators: list[FilterTranslator] = field(default_factory=list)
    change_observers: list[ChangeObserver] = field(default_factory=list)
    max_limit: int = 100

    def __post_init__(self) -> None:
        self.sql = SQLCompiler(self.schema, self.tables, self.db.sa_dialect)
        self.dialect = self.db.dialect_name
        self.models = {name: EntityModels(e) for name, e in self.schema.entities.items()}
        self._shapers: dict[tuple[str, tuple[str, ...]], RowShaper] = {}
        users, orgs = self.schema.system_entity("users"), self.schema.system_entity("organizations")
        # The entities a session lookup proves rows of (``_proven_by_session``), found once.
        self._users_entity = users.name if users is not None else None
        self._orgs_entity = orgs.name if orgs is not None else None

    # -- helpers ------------------------------------------------------------------------------

    def shaper(self, entity: Entity, columns: tuple[str, ...]) -> RowShaper:
        key = (entity.name, columns)
        shaper = self._shapers.get(key)
        if shaper is None:
            shaper = self._shapers[key] = RowShaper(entity, columns, self.dialect)
        return shaper

    def parse_id(self, entity: Entity, raw: Any) -> Any:
        """An id from a URL or body in canonical form; 400 ``INVALID_ID`` when it cannot be one."""
        text = str(raw)
        if entity.id_type == "uuid":
            try:
                return uuid.UUID(text)
            except ValueError:
                raise bad_request(
                    "INVALID_ID", f"'{text[:64]}' is not a valid {entity.class_name} id (a UUID)"
                ) from None
        if entity.serial_id:
            # ASCII digits only ('²'.isdigit() is true), within the range of the column (int4 or int8).
            top = INT32[1] if entity.id_type == "serial" else INT64[1]
            if not (text.isascii() and text.isdigit()) or len(text) > len(str(top)) or int(text) > top:
                raise bad_request("INVALID_ID", f"'{text[:64]}' is not a valid {entity.class_name} id (an integer)")
            return int(text)
        if not text or len(text) > 64 or "\x00" in text:
            raise bad_request("INVALID_ID", f"'{text[:64]}' is not a valid {entity.class_name} id")
        return text

    def _read_where(
        self,
        ctx: RequestContext,
        entity: Entity,
        grant: Grant,
        include_deleted: bool = False,
        action: Action = Action.READ,
        where: Node | None = None,
    ) -> Node | None:
        own = None
        if grant.own_only:
            self._require_owner_field(ctx, entity)
            if action is Action.READ:
                own = Condition(entity.owner_field or "", "eq", ctx.principal.user_id)
            # Updates and deletes find the row within the tenant first, then refuse with 403 when it
            # is someone else's (``_check_owner``): hiding a row the caller can read would be a lie.
        live = Condition("deleted_at", "isnull") if entity.soft_delete and not include_deleted else None
        return conjunction(self.scope.read_filter(ctx, entity, action, where), own, live)

    @staticmethod
    def _require_owner_field(ctx: RequestContext, entity: Entity) -> None:
        if entity.owner_field is None or ctx.principal.user_id is None:
            what = entity.display.plural.lower() if entity.display else entity.name
            raise forbidden(
                f"Your role may only change {what} it created, and these record no creator", "FORBIDDEN_ACTION"
            )

    @staticmethod
    def _check_owner(ctx: RequestContext, entity: Entity, grant: Grant, row: dict[str, Any]) -> None:
        if grant.own_only and str(row.get(entity.owner_field or "")) != str(ctx.principal.user_id):
            raise forbidden("You may only change rows you created", "FORBIDDEN_ACTION")

    def _goes_through(self, ctx: RequestContext, entity: Entity, relation: str) -> bool:
        """Whether a relation is followed through its link table (``SQLCompiler.through``) for this caller.

        Users see links (an organization's users are its members); the developer and the system
        see the stored columns, as presenters show them the stored values.
        """
        if (entity.name, relation) not in self.sql.through:
            return False
        rel = entity.relation(relation)
        return ctx.principal.kind == "user" or (rel is not None and rel.link is not None)

    def _related_scope(self, ctx: RequestContext, target: Entity) -> Node | None:
        """The rows of a related entity the principal may read, as a condition (none at all when refused)."""
        try:
            grant = self.policy.authorize(ctx, target, Action.READ)
        except ApiError:
            return Condition("id", "isnull")  # ids are never NULL: no related row
        own = Condition(target.owner_field or "", "eq", ctx.principal.user_id) if grant.own_only else None
        return conjunction(self.scope.read_filter(ctx, target), own)

    def _scope_sort(self, ctx: RequestContext, entity: Entity, sort: tuple[SortKey, ...]) -> tuple[SortKey, ...]:
        """Sorting by ``relation.field`` reads the related row's value: only rows the principal may read.

        Otherwise the order of a page would tell how another tenant's row compares.
        """
        scoped = []
        for key in sort:
            if "." in key.field:
                scopes: list[Node | None] = []
                current = entity
                for name in key.field.split(".")[:-1]:
                    rel = current.relation(name)
                    assert rel is not None
                    current = self.schema.entities[rel.target]
                    scopes.append(self._related_scope(ctx, current))
                key = SortKey(key.field, key.descending, tuple(scopes))
            scoped.append(key)
        return tuple(scoped)

    def _scope_relations(self, ctx: RequestContext, entity: Entity, node: Node | None) -> Node | None:
        """Conditions on ``relation.field`` become EXISTS over the related rows *within their scope*,
        so a filter can never learn anything about another tenant's rows."""
        if node is None:
            return None
        if isinstance(node, (And, Or)):
            items = tuple(n for n in (self._scope_relations(ctx, entity, i) for i in node.items) if n is not None)
            return type(node)(items)
        if isinstance(node, Condition) and "." in node.field:
            rel_name, _, rest = node.field.partition(".")
            rel = entity.relation(rel_name)
            assert rel is not None
            target = self.schema.entities[rel.target]
            # Filtering on rows one may not read would reveal them, one comparison at a time: for
            # the filter, as for joins, a relation the principal may not read has no rows. A deeper
            # path (``post.author.name``) nests one EXISTS per relation, each within its own scope.
            inner = conjunction(
                self._scope_relations(ctx, target, Condition(rest, node.op, node.value)),
                self._related_scope(ctx, target),
            )
            assert inner is not None
            return Related(rel.name, inner, self._goes_through(ctx, entity, rel.name))
        return node

    def _reader(self, ctx: RequestContext, conn: Connection) -> Any:
        """``HookEvent.find`` for hooks: scoped reads on the action's own connection."""

        async def find(name: str, lookups: dict[str, Any]) -> list[dict[str, Any]]:
            entity = self.schema.entities.get(name)
            if entity is None:
                raise ValueError(f"unknown entity {name!r}")
            conditions: list[Node] = []
            for key, value in lookups.items():
                field_name, _, lookup = key.partition("__")
                if field_name not in entity.columns:
                    raise ValueError(f"{name} has no field {field_name!r}")
                op = {"": "eq", "ne": "ne", "in": "in", "ilike": "eqL"}.get(lookup)
                if op is None:
                    raise ValueError(f"unknown lookup {lookup!r} (use field, field__ne, field__in, field__ilike)")
                conditions.append(Condition(field_name, op, tuple(value) if op == "in" else value))
            where = conjunction(self.scope.read_filter(ctx, entity), *conditions)
            columns = self._all_columns(entity)
            stmt, values = self.sql.select(entity, columns, where, limit=True)
            rows = await conn.fetch(stmt.sql, stmt.params(values, {"limit": 100}))
            return self.shaper(entity, columns).many(rows)

        return find

    async def _present(self, ctx: RequestContext, entity: Entity, rows: list[dict[str, Any]]) -> None:
        for presenter in self.presenters:
            await presenter.present(ctx, entity, rows)

    async def present(self, ctx: RequestContext, entity: Entity, rows: list[dict[str, Any]]) -> None:
        """Add what the presenters compute to stored ``rows``, in place (an answer replayed)."""
        await self._present(ctx, entity, rows)

    async def presented(self, ctx: RequestContext, entity: Entity, row: dict[str, Any] | None) -> dict[str, Any] | None:
        """A copy of ``row`` as ``ctx`` reads it through the API (the presenters hide what they hide):
        what a pushed notification or an outgoing webhook may carry of a stored row."""
        if row is None:
            return None
        shown = copy.deepcopy(row)
        await self._present(ctx, entity, [shown])
        return shown

    def _all_columns(self, entity: Entity) -> tuple[str, ...]:
        return entity.columns

    # -- reads --------------------------------------------------------------------------------

    async def list_rows(
        self, ctx: RequestContext, entity: Entity, query: ListQuery, *, restrict: Restriction = NO_RESTRICTION
    ) -> Page:
        """Rows of ``entity`` matching ``query`` within the principal's scope (and ``restrict``)."""
        grant = self.policy.authorize(ctx, entity, Action.READ)
        asked = query.where
        for translator in self.translators:
            asked = translator.translate(ctx, entity, asked) if asked is not None else None
        where = conjunction(
            self._read_where(ctx, entity, grant, query.include_deleted, where=asked),
            self._scope_relations(ctx, entity, restrict.where),
            self._scope_relations(ctx, entity, asked),
        )
        columns, internal = self._projection(entity, query.fields, query.joins)
        limit_cap = min(self.max_limit, query.max_limit or self.max_limit)
        take = query.limit if query.limit else (query.default_limit or entity.default_limit or limit_cap)
        take = min(take, limit_cap)
        always = entity.always_paginate if query.always_paginate is None else query.always_paginate
        paginated = always or query.page is not None or query.offset is not None
        skip = take * (query.page - 1) if query.page else (query.offset or 0)
        sort = self._scope_sort(ctx, entity, query.sort) or self.sql.default_sort(entity)
        stmt, values = self.sql.select(
            entity, columns, where, sort, limit=True, offset=bool(skip), with_total=paginated
        )
        rows = await self.db.fetch(stmt.sql, stmt.params(values, {"limit": take, "offset": skip}))
        total = 0
        if paginated:
            if rows:
                total = int(rows[0][-1])
            elif skip:
                count_stmt, count_values = self.sql.count(entity, where)
                total = int((await self.db.fetch(count_stmt.sql, count_stmt.params(count_values)))[0][0])
        data = self.shaper(entity, columns).many(rows)
        if query.joins:
            await self._load_joins(ctx, entity, data, query.joins)
        await self._present(ctx, entity, data)
        if internal:
            for row in data:
                for name in internal:
                    row.pop(name, None)
        if not paginated:
            return Page(data, False)
        return Page(
            data,
            True,
            total=total,
            page=skip // take + 1 if take else 1,
            page_count=-(-total // take) if take and total else 1,
        )

    async def get_row(
        self,
        ctx: RequestContext,
        entity: Entity,
        raw_id: Any,
        *,
        fields: tuple[str, ...] | None = None,
        joins: tuple[Join, ...] = (),
        restrict: Restriction = NO_RESTRICTION,
    ) -> dict[str, Any]:
        """One row by id; 404 when it does not exist or is outside the principal's scope (or ``restrict``)."""
        grant = self.policy.authorize(ctx, entity, Action.READ)
        row_id = self.parse_id(entity, raw_id)
        where = conjunction(
            Condition("id", "eq", row_id),
            self._read_where(ctx, entity, grant),
            self._scope_relations(ctx, entity, restrict.where),
        )
        assert where is not None
        columns, internal = self._projection(entity, fields, joins)
        stmt, values = self.sql.select(entity, columns, where)
        row = await self.db.fetchrow(stmt.sql, stmt.params(values))
        if row is None:
            raise not_found(entity.class_name)
        data = self.shaper(entity, columns)(row)
        if joins:
            await self._load_joins(ctx, entity, [data], joins)
        await self._present(ctx, entity, [data])
        for name in internal:
            data.pop(name, None)
        return data

    def _projection(
        self, entity: Entity, fields: tuple[str, ...] | None, joins: tuple[Join, ...]
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Columns to select, and which of them are only needed internally (join keys)."""
        if fields is None:
            return self._all_columns(entity), ()
        wanted = ["id", *(f for f in fields if f != "id" and f in entity.columns)]
        internal = []
        for join in joins:
            rel = entity.relation(join.path.split(".")[0])
            if rel is not None and rel.local_field not in wanted:
                wanted.append(rel.local_field)
                internal.append(rel.local_field)
        return tuple(wanted), tuple(internal)

    async def _load_joins(
        self,
        ctx: RequestContext,
        entity: Entity,
        rows: list[dict[str, Any]],
        joins: Sequence[Join],
        conn: Connection | None = None,
    ) -> None:
        """Attach related rows under each relation's name: an object (to-one) or a list (to-many).

        Each relation costs one query for the whole page (never one per row), and its rows pass
        through the target entity's own policy and scope. ``conn``: read inside a write's
        transaction (its links are not committed yet).
        """
        by_head: dict[str, list[Join]] = {}
        for join in joins:
            head, _, rest = join.path.partition(".")
            by_head.setdefault(head, [])
            if rest:
                by_head[head].append(Join(rest, join.fields))
        own_fields = {j.path: j.fields for j in joins if "." not in j.path}
        for head, nested in by_head.items():
            rel = entity.relation(head)
            if rel is None:
                continue
            target = self.schema.entities[rel.target]
            try:
                grant = self.policy.authorize(ctx, target, Action.READ)
            except ApiError:
                continue  # a relation the principal may not read is left out, as unknown joins are
            columns, internal = self._projection(target, own_fields.get(head), tuple(nested))
            if rel.remote_field not in columns:
                columns = (*columns, rel.remote_field)
                internal = (*internal, rel.remote_field)
            await self._attach(ctx, entity, rel, target, rows, columns, grant, conn)
            children = [r[rel.name] for r in rows if rel.kind == "one" and r.get(rel.name) is not None]
            if rel.kind == "many":
                children = [c for r in rows for c in r[rel.name]]
            if nested and children:
                await self._load_joins(ctx, target, children, nested, conn)
            for child in children:
                for name in internal:
                    child.pop(name, None)

    async def _attach(
        self,
        ctx: RequestContext,
        entity: Entity,
        rel: Relation,
        target: Entity,
        rows: list[dict[str, Any]],
        columns: tuple[str, ...],
        grant: Grant,
        conn: Connection | None = None,
    ) -> None:
        keys = list({r[rel.local_field] for r in rows if r.get(rel.local_field) is not None})
        related: list[dict[str, Any]] = []
        via = self.sql.through.get((entity.name, rel.name)) if self._goes_through(ctx, entity, rel.name) else None
        if keys:
            where = self._read_where(ctx, target, grant)
            stmt, values = self.sql.select_related(rel, columns, where, via)
            ids = self.sql.key_list(target, rel.remote_field, keys)
            found = await (conn or self.db).fetch(stmt.sql, stmt.params(values, {"ids": ids}))
            related = self.shaper(target, columns).many(found)
            if via is not None:
                # Group by the key each row was linked to (the extra last column), not a column of the row.
                linked: dict[str, list[dict[str, Any]]] = {}
                for raw, shaped in zip(found, related, strict=True):
                    linked.setdefault(str(raw[-1]), []).append(shaped)
                for row in rows:
                    row[rel.name] = linked.get(str(row.get(rel.local_field)), [])
                return
        if rel.kind == "one":
            index = {r[rel.remote_field]: r for r in related}
            for row in rows:
                row[rel.name] = index.get(row.get(rel.local_field))
        else:
            groups: dict[Any, list[dict[str, Any]]] = {}
            for r in related:
                groups.setdefault(r[rel.remote_field], []).append(r)
            for row in rows:
                row[rel.name] = groups.get(row.get(rel.local_field), [])

    # -- writes -------------------------------------------------------------------------------

    def _complete_create(self, ctx: RequestContext, entity: Entity, values: dict[str, Any]) -> dict[str, Any]:
        """Add the server's values to validated input: id, defaults, timestamps, forced scope values."""
        now = utc_now()
        row: dict[str, Any] = {}
        if not entity.serial_id:
            given = values.pop("id", None)
            # UUIDv7: time-ordered, so `sort=id` follows insertion and PostgreSQL's index stays compact.
            row["id"] = str(given) if given is not None else str(uuid7())
        for f in entity.fields:
            if f.auto:
                row[f.name] = now if f.type is FieldType.TIMESTAMP else now.date()
            elif f.name in values:
                row[f.name] = values[f.name]
            elif f.has_default:
                row[f.name] = (
                    (now if f.type is FieldType.TIMESTAMP else now.date()) if f.default == "now" else f.default
                )
        return row

    async def _check_references(
        self, ctx: RequestContext, conn: Connection, entity: Entity, values: dict[str, Any], action: Action
    ) -> None:
        """Every row a write points at must be one the principal may see: a project cannot name a
        ``created_by`` outside its organization, nor an organization the user is not in. Reported
        exactly like a reference to nothing, so other tenants' rows do not show through."""
        errors: list[FieldError] = []
        proven = self._proven_by_session(ctx)
        p = ctx.principal
        # A bypass role (Apso's bypassRoles) writes rows of any organization: the foreign key alone
        # decides that its organization exists (the scope has kept the row from moving).
        any_tenant = p.kind == "user" and entity.bypasses(p.attributes.get(PLATFORM_ROLE_ATTRIBUTE), action)
        for f in entity.fields:
            value = values.get(f.name)
            if f.references is None or value is None or (any_tenant and f.name == entity.tenant_field):
                continue
            target = self.schema.entities[f.references]
            if proven.get(target.name) == str(value):
                continue  # the principal's own user or active organization: its session lookup saw it
            scope = self.scope.read_filter(ctx, target)
            if scope is None:
                continue  # the foreign key alone decides
            stmt, params = self.sql.exists(target, And((Condition("id", "eq", str(value)), scope)))
            if await conn.fetchrow(stmt.sql, stmt.params(params)) is None:
                errors.append(
                    FieldError(f.name, f"refers to a {target.class_name} that does not exist", "REFERENCE_NOT_FOUND")
                )
        if errors:
            raise validation_failed(errors)

    def _proven_by_session(self, ctx: RequestContext) -> dict[str, str]:
        """Rows a signed-in user's request has already proven it may see: the user, and the active
        organization of which the session lookup found them a member. A create that names them (the
        usual ``org_id`` and ``created_by``) needs no query to check them again."""
        principal = ctx.principal
        if principal.kind != "user":
            return {}
        proven: dict[str, str] = {}
        if self._users_entity is not None and principal.user_id is not None:
            proven[self._users_entity] = principal.user_id
        if self._orgs_entity is not None and principal.org_id is not None and principal.role is not None:
            proven[self._orgs_entity] = principal.org_id
        return proven

    # -- many-to-many links ------------------------------------------------------------------

    def _split_links(self, entity: Entity, body: Any) -> tuple[Any, dict[str, list[Any]]]:
        """A body without its many-to-many keys, and those: relation name -> the ids to link.

        As TypeORM saves them: ``"categories": [{"id": 3}, {"id": 4}]`` (bare ids are taken too).
        The values are checked here (400 on a malformed one); whether they exist for the caller is
        checked in the write's transaction.
        """
        links: dict[str, list[Any]] = {}
        if not isinstance(body, dict) or not any(r.link is not None for r in entity.relations):
            return body, links
        body = dict(body)  # the caller's stays as sent (an idempotency key's fingerprint, hooks)
        errors: list[FieldError] = []
        for rel in entity.relations:
            if rel.link is None:
                continue
            for key in (rel.name, *rel.aliases):
                if key not in body:
                    continue
                raw = body.pop(key)
                target = self.schema.entities[rel.target]
                if not isinstance(raw, list) or len(raw) > MAX_BULK:
                    errors.append(FieldError(key, f"must be an array of at most {MAX_BULK} ids", "INVALID_TYPE"))
                    continue
                ids: dict[str, Any] = {}
                for i, item in enumerate(raw):
                    value = item.get("id") if isinstance(item, dict) else item
                    if value is None or isinstance(value, (bool, list, dict, float)):
                        what = f"must be a {target.class_name} or its id"
                        errors.append(FieldError(f"{key}.{i}", what, "INVALID_ID"))
                        break
                    try:
                        parsed = self.parse_id(target, value)
                    except ApiError as exc:
                        errors.append(FieldError(f"{key}.{i}", str(exc.message), "INVALID_ID"))
                        break
                    ids.setdefault(str(parsed), parsed)
                links[rel.name] = list(ids.values())
        if errors:
            raise validation_failed(errors)
        return body, links

    async def _write_links(
        self,
        ctx: RequestContext,
        conn: Connection,
        entity: Entity,
        row: dict[str, Any],
        links: dict[str, list[Any]],
        *,
        replace: bool = False,
        bulk: bool = False,
        index: int = 0,
    ) -> None:
        """Link a row to the given rows (``replace``: instead of those it was linked to).

        Every row linked to must be one the caller may read (its entity's policy and scope) and, when
        both entities belong to organizations, one of the row's own organization (a member of two
        never links across them): any other is reported exactly like one that does not exist, and
        nothing is written.
        """
        errors: list[FieldError] = []
        for name, ids in links.items():
            rel = entity.relation(name)
            assert rel is not None
            target = self.schema.entities[rel.target]
            if not ids:
                continue
            # Users and organizations are shared across organizations (memberships say whose they are).
            shared = entity.system is not None or target.system is not None
            tenant = None if shared or entity.tenant_field is None else row.get(entity.tenant_field)
            visible = conjunction(
                Condition("id", "in", tuple(ids)),
                self._related_scope(ctx, target),
                Condition("deleted_at", "isnull") if target.soft_delete else None,
                Condition(target.tenant_field, "eq", tenant) if target.tenant_field and tenant else None,
            )
            stmt, values = self.sql.select(target, ("id",), visible)
            found = {str(r[0]) for r in await conn.fetch(stmt.sql, stmt.params(values))}
            found = {str(self.parse_id(target, f)) for f in found}
            if any(str(i) not in found for i in ids):
                field_name = f"bulk.{index}.{name}" if bulk else name
                what = f"refers to a {target.class_name} that does not exist"
                errors.append(FieldError(field_name, what, "REFERENCE_NOT_FOUND"))
        if errors:
            raise validation_failed(errors)
        for name, ids in links.items():
            via = self.sql.through[(entity.name, name)]
            rel = entity.relation(name)
            assert rel is not None
            target = self.schema.entities[rel.target]
            near = self.sql.id_value(entity, row["id"])
            if replace:
                delete = self.sql.link_delete(via)
                await conn.execute(delete.sql, delete.params((), {"near": near}))
            insert = self.sql.link_insert(via)
            for i in ids:
                await conn.execute(insert.sql, insert.params((), {"near": near, "far": self.sql.id_value(target, i)}))

    async def _show_joins(
        self,
        ctx: RequestContext,
        conn: Connection,
        entity: Entity,
        rows: list[dict[str, Any]],
        links: Sequence[dict[str, list[Any]]],
        joins: Sequence[Join],
    ) -> None:
        """The rows a write answers with carry the rows it linked and the route's ``joins`` (its
        eager ones, as nestjsx re-reads a written row with them), as ``?join=`` would show them.

        Read on the write's connection before its answer is sealed, so that an ``Idempotency-Key``
        replay returns the same body."""
        for row, linked in zip(rows, links, strict=True):
            wanted = [*joins, *(Join(name) for name in linked if all(j.path != name for j in joins))]
            if wanted:
                await self._load_joins(ctx, entity, [row], wanted, conn)

    @staticmethod
    def _refuse_client_ids(ctx: RequestContext, entity: Entity, items: list[Any]) -> None:
        # A signed-in user choosing an id could learn from a 409 that another tenant's row has it.
        # Text ids are the exception: they are the client's by design (Apso's `text` keys, Better
        # Auth's own ids), which the README states along with that consequence.
        if entity.id_type == "text" and not entity.system:
            return
        if entity.serial_id and entity.unknown_keys == "drop":
            return  # not a field of the create body, so dropped like any unknown key (nestjsx's whitelist)
        if ctx.principal.kind == "user" and any(isinstance(i, dict) and "id" in i for i in items):
            raise validation_failed([FieldError("id", "is assigned by the server", "FIELD_NOT_ALLOWED")])

    async def create_row(
        self,
        ctx: RequestContext,
        entity: Entity,
        body: Any,
        *,
        seal: Seal | None = None,
        restrict: Restriction = NO_RESTRICTION,
        joins: Sequence[Join] = (),
    ) -> dict[str, Any]:
        """Insert one row; returns it as the API shows it (201), with ``joins`` loaded. ``seal``: see ``Seal``."""
        self.policy.authorize(ctx, entity, Action.CREATE)
        self._refuse_client_ids(ctx, entity, [body])
        body = restrict.body(body)
        body, links = self._split_links(entity, body)
        values = self.models[entity.name].validate_create(body, server_fills=ctx.principal.kind == "user")
        rows = await self._insert_many(
            ctx,
            entity,
            [values],
            None if seal is None else _first(seal),
            links=[links],
            restrict=restrict,
            joins=joins,
        )
        return rows[0]

    async def create_rows(
        self,
        ctx: RequestContext,
        entity: Entity,
        items: Any,
        *,
        seal: Seal | None = None,
        restrict: Restriction = NO_RESTRICTION,
        joins: Sequence[Join] = (),
    ) -> list[dict[str, Any]]:
        """Insert several rows in one transaction: all of them or none, each with ``joins`` loaded.
        ``seal``: see ``Seal``."""
        self.policy.authorize(ctx, entity, Action.CREATE)
        if not isinstance(items, list):
            raise validation_failed([FieldError("bulk", "must be an array of objects", "INVALID_TYPE")])
        if not items:
            raise validation_failed([FieldError("bulk", "should not be empty", "REQUIRED")])
        if len(items) > MAX_BULK:
            raise validation_failed([FieldError("bulk", f"must contain at most {MAX_BULK} items", "TOO_MANY")])
        self._refuse_client_ids(ctx, entity, items)
        models = self.models[entity.name]
        validated: list[dict[str, Any]] = []
        links: list[dict[str, list[Any]]] = []
        errors: list[FieldError] = []
        for i, item in enumerate(items):
            try:
                item, linked = self._split_links(entity, restrict.body(item))
                links.append(linked)
                validated.append(models.validate_create(item, server_fills=ctx.principal.kind == "user"))
            except ApiError as exc:
                errors.extend(
                    FieldError(f"bulk.{i}.{e['field']}".rstrip("."), e["message"], e["code"])
                    for e in exc.extra.get("errors", [])
                )
        if errors:
            raise validation_failed(errors)
        return await self._insert_many(ctx, entity, validated, seal, links=links, restrict=restrict, joins=joins)

    async def _insert_many(
        self,
        ctx: RequestContext,
        entity: Entity,
        items: list[dict[str, Any]],
        seal: Seal | None = None,
        links: list[dict[str, list[Any]]] | None = None,
        restrict: Restriction = NO_RESTRICTION,
        joins: Sequence[Join] = (),
    ) -> list[dict[str, Any]]:
        columns = self._all_columns(entity)
        shaper = self.shaper(entity, columns)
        created: list[dict[str, Any]] = []
        try:
            async with self.db.transaction() as conn:
                for i, values in enumerate(items):
                    row = self._complete_create(ctx, entity, self.scope.check_write(ctx, entity, values, None))
                    if self.hooks.has(entity.name, "before_create"):
                        event = HookEvent(entity.name, "create", ctx, data=row, reader=self._reader(ctx, conn))
                        await self.hooks.run_before("before_create", event)
                        row = event.data
                    await self._check_references(ctx, conn, entity, row, Action.CREATE)
                    names = tuple(row)
                    stmt = self.sql.insert(entity, names, columns)
                    result = await conn.fetchrow(stmt.sql, stmt.params([row[n] for n in names]))
                    assert result is not None
                    new = shaper(result)
                    await self._check_restriction(ctx, conn, entity, new["id"], restrict)
                    created.append(new)
                    if links and links[i]:
                        await self._write_links(ctx, conn, entity, new, links[i], bulk=len(items) > 1, index=i)
                    await self._notify(conn, WriteEvent(entity, "create", new["id"], None, new, ctx))
                # Events and hooks saw the rows alone; the answer (and what a replay returns) has its joins.
                shown = [dict(row) for row in created]
                await self._show_joins(ctx, conn, entity, shown, links or [{} for _ in created], joins)
                if seal is not None:
                    await seal(conn, shown)
        except IntegrityViolation as exc:
            raise await self._explain(entity, exc, items) from None
        except DataRejected as exc:
            raise bad_request("INVALID_VALUE", f"The database rejected a value: {_first_line(exc)}") from None
        except Deny as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None
        for new in created:
            await self.hooks.run_after("after_create", HookEvent(entity.name, "create", ctx, new=new))
        await self._present(ctx, entity, shown)
        return shown

    async def update_row(
        self,
        ctx: RequestContext,
        entity: Entity,
        raw_id: Any,
        body: Any,
        *,
        seal: Seal | None = None,
        restrict: Restriction = NO_RESTRICTION,
        joins: Sequence[Join] = (),
    ) -> dict[str, Any]:
        """Change the fields present in ``body`` (PUT and PATCH alike, as nestjsx/Apso); never inserts.

        ``seal``: see ``Seal``. ``restrict``: only its rows are found, its values are written and the
        row must still be one of them afterwards. ``joins``: loaded on the row it answers with."""
        grant = self.policy.authorize(ctx, entity, Action.UPDATE)
        row_id = self.parse_id(entity, raw_id)
        models = self.models[entity.name]
        columns = self._all_columns(entity)
        shaper = self.shaper(entity, columns)
        body = restrict.body(body)
        where = conjunction(
            Condition("id", "eq", row_id),
            self._read_where(ctx, entity, grant, action=Action.UPDATE),
            self._scope_relations(ctx, entity, restrict.where),
        )
        assert where is not None
        values: dict[str, Any] = {}
        body, links = self._split_links(entity, body)
        try:
            async with self.db.transaction() as conn:
                old = await self._locked_row(conn, entity, columns, where)
                self._check_owner(ctx, entity, grant, old)
                values = self.scope.check_write(ctx, entity, models.validate_update(body, old), old)
                if self.hooks.has(entity.name, "before_update"):
                    event = HookEvent(entity.name, "update", ctx, data=values, old=old, reader=self._reader(ctx, conn))
                    await self.hooks.run_before("before_update", event)
                    values = event.data
                if links:
                    await self._write_links(ctx, conn, entity, {**old, **values}, links, replace=True)
                if not values:
                    shown = dict(old)
                    await self._show_joins(ctx, conn, entity, [shown], [links], joins)
                    if seal is not None:
                        await seal(conn, shown)
                else:
                    await self._check_references(ctx, conn, entity, values, Action.UPDATE)
                    now = utc_now()
                    for f in entity.fields:
                        if f.auto == "update":
                            values[f.name] = now if f.type is FieldType.TIMESTAMP else now.date()
                    names = tuple(values)
                    stmt, _ = self.sql.update(entity, names, where, columns)
                    result = await conn.fetchrow(stmt.sql, stmt.params([values[n] for n in names] + values_of(where)))
                    assert result is not None
                    new = shaper(result)
                    await self._check_restriction(ctx, conn, entity, new["id"], restrict)
                    await self._notify(conn, WriteEvent(entity, "update", new["id"], old, new, ctx))
                    shown = dict(new)
                    await self._show_joins(ctx, conn, entity, [shown], [links], joins)
                    if seal is not None:
                        await seal(conn, shown)
        except IntegrityViolation as exc:
            raise await self._explain(entity, exc, [values]) from None
        except DataRejected as exc:
            raise bad_request("INVALID_VALUE", f"The database rejected a value: {_first_line(exc)}") from None
        except Deny as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None
        if values:  # otherwise nothing but links (or nothing at all) changed: the row is as it was
            await self.hooks.run_after("after_update", HookEvent(entity.name, "update", ctx, old=old, new=new))
        await self._present(ctx, entity, [shown])
        return shown

    async def delete_row(
        self,
        ctx: RequestContext,
        entity: Entity,
        raw_id: Any,
        *,
        seal: Seal | None = None,
        restrict: Restriction = NO_RESTRICTION,
    ) -> dict[str, Any]:
        """Delete a row (or mark it deleted, for soft-delete entities); returns the row as it was.

        ``seal``: see ``Seal``."""
        grant = self.policy.authorize(ctx, entity, Action.DELETE)
        row_id = self.parse_id(entity, raw_id)
        columns = self._all_columns(entity)
        where = conjunction(
            Condition("id", "eq", row_id),
            self._read_where(ctx, entity, grant, action=Action.DELETE),
            self._scope_relations(ctx, entity, restrict.where),
        )
        assert where is not None
        try:
            async with self.db.transaction() as conn:
                old = await self._locked_row(conn, entity, columns, where)
                self._check_owner(ctx, entity, grant, old)
                if self.hooks.has(entity.name, "before_delete"):
                    event = HookEvent(entity.name, "delete", ctx, old=old, reader=self._reader(ctx, conn))
                    await self.hooks.run_before("before_delete", event)
                if entity.soft_delete:
                    stmt, _ = self.sql.update(entity, ("deleted_at",), where, ("id",))
                    await conn.fetchrow(stmt.sql, stmt.params([utc_now(), *values_of(where)]))
                else:
                    del_stmt, del_values = self.sql.delete(entity, where)
                    await conn.fetchrow(del_stmt.sql, del_stmt.params(del_values))
                await self._notify(conn, WriteEvent(entity, "delete", old["id"], old, None, ctx))
                if seal is not None:
                    await seal(conn, old)
        except IntegrityViolation as exc:
            raise await self._explain_delete(entity, row_id, exc) from None
        except Deny as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None
        await self.hooks.run_after("after_delete", HookEvent(entity.name, "delete", ctx, old=old))
        return old

    async def recover_row(
        self, ctx: RequestContext, entity: Entity, raw_id: Any, *, restrict: Restriction = NO_RESTRICTION
    ) -> dict[str, Any]:
        """Undo a soft delete."""
        if not entity.soft_delete:
            raise not_found(entity.class_name)
        grant = self.policy.authorize(ctx, entity, Action.UPDATE)
        row_id = self.parse_id(entity, raw_id)
        columns = self._all_columns(entity)
        deleted = Condition("deleted_at", "notnull")
        where = conjunction(
            Condition("id", "eq", row_id),
            self._read_where(ctx, entity, grant, True),
            deleted,
            self._scope_relations(ctx, entity, restrict.where),
        )
        assert where is not None
        try:
            async with self.db.transaction() as conn:
                old = await self._locked_row(conn, entity, columns, where)
                stmt, _ = self.sql.update(entity, ("deleted_at",), where, columns)
                result = await conn.fetchrow(stmt.sql, stmt.params([None, *values_of(where)]))
                assert result is not None
                new = self.shaper(entity, columns)(result)
                await self._notify(conn, WriteEvent(entity, "update", new["id"], old, new, ctx))
        except IntegrityViolation as exc:
            raise await self._explain(entity, exc, [{}]) from None
        return new

    async def _check_restriction(
        self, ctx: RequestContext, conn: Connection, entity: Entity, row_id: Any, restrict: Restriction
    ) -> None:
        """A row written through a restricted route must be one the route can see (its ``filter``):
        otherwise the write is refused and rolled back, never left where the route cannot reach it."""
        if restrict.where is None:
            return
        inside = conjunction(Condition("id", "eq", row_id), self._scope_relations(ctx, entity, restrict.where))
        assert inside is not None
        stmt, params = self.sql.exists(entity, inside)
        if await conn.fetchrow(stmt.sql, stmt.params(params)) is None:
            raise bad_request("OUT_OF_SCOPE", f"The {entity.class_name} would fall outside this route's rows")

    async def _locked_row(
        self, conn: Connection, entity: Entity, columns: tuple[str, ...], where: Node
    ) -> dict[str, Any]:
        stmt, values = self.sql.select(entity, columns, where, for_update=True)
        row = await conn.fetchrow(stmt.sql, stmt.params(values))
        if row is None:
            raise not_found(entity.class_name)
        return self.shaper(entity, columns)(row)

    async def _notify(self, conn: Connection, event: WriteEvent) -> None:
        for listener in self.listeners:
            await listener.on_write(conn, event)

    # -- constraint errors -> client errors ---------------------------------------------------

    async def _explain(self, entity: Entity, exc: IntegrityViolation, items: list[dict[str, Any]]) -> ApiError:
        """Turn a constraint violation into the 4xx a client can act on, naming the field."""
        if exc.kind == "unique":
            fields = self._constraint_fields(entity, exc)
            names = ", ".join(fields) or "value"
            return conflict(
                "UNIQUE_VIOLATION",
                f"{entity.class_name} with this {names} already exists",
                fields=list(fields),
            )
        if exc.kind == "foreign_key":
            errors = await self._missing_references(entity, items)
            if errors:
                return validation_failed(errors)
            return bad_request("REFERENCE_NOT_FOUND", "A referenced row does not exist")
        if exc.kind == "not_null":
            col = exc.columns[0] if exc.columns else "value"
            return validation_failed([FieldError(col, "is required", "REQUIRED")])
        return bad_request("CONSTRAINT_VIOLATION", "The database rejected the change")

    def _constraint_fields(self, entity: Entity, exc: IntegrityViolation) -> tuple[str, ...]:
        info = self.tables.constraints.get(exc.constraint or "")
        if info is not None:
            return info.fields
        # SQLite names the columns, not the constraint: a per-organization rule names the
        # fields the client wrote, not the tenant column the server added.
        columns = exc.columns
        if columns[1:] and entity.unique_columns(columns[1:]) == columns:
            return columns[1:]
        return columns

    async def _missing_references(self, entity: Entity, items: list[dict[str, Any]]) -> list[FieldError]:
        errors: list[FieldError] = []
        for values in items:
            for f in entity.fields:
                value = values.get(f.name)
                if f.references is None or value is None:
                    continue
                target = self.schema.entities[f.references]
                stmt, params = self.sql.exists(target, Condition("id", "eq", str(value)))
                if not await self.db.fetchrow(stmt.sql, stmt.params(params)):
                    errors.append(
                        FieldError(
                            f.name, f"refers to a {target.class_name} that does not exist", "REFERENCE_NOT_FOUND"
                        )
                    )
        return errors

    async def _explain_delete(self, entity: Entity, row_id: Any, exc: IntegrityViolation) -> ApiError:
        if exc.kind != "foreign_key":
            return bad_request("CONSTRAINT_VIOLATION", "The database rejected the change")
        blockers = []
        for rel in entity.relations:
            target = self.schema.entities[rel.target]
            if rel.kind != "many" or not has_foreign_keys(target):
                continue
            stmt, params = self.sql.exists(target, Condition(rel.remote_field, "eq", row_id))
            if await self.db.fetchrow(stmt.sql, stmt.params(params)):
                blockers.append(target.name)
        what = ", ".join(blockers) or "other rows"
        return conflict(
            "REFERENCED_BY",
            f"{entity.class_name} is still referenced by {what}; delete or reassign those first",
            referencedBy=blockers,
        )


def _first(seal: Seal) -> Seal:
    """``seal`` of a one-row create: given the row rather than the list of one."""

    async def first(conn: Connection, rows: Any) -> None:
        await seal(conn, rows[0])

    return first


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200]


__all__ = [
    "NO_RESTRICTION",
    "Grant",
    "NoScope",
    "OpenPolicy",
    "Page",
    "Pipeline",
    "Policy",
    "Restriction",
    "Scope",
    "Seal",
    "SortKey",
    "WriteEvent",
    "WriteListener",
]
