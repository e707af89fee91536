"""One CRUD route as a client sees it: an entity under its own route or a view's, with that route's
nestjsx ``@Crud()`` options applied (``tenantry.schema.crud``; the guide is docs/crud-options.md).

The options act around the pipeline, never inside a tenant's scope: the route's guard and served
routes are checked first; its join allow-list, eager and required joins, default sort and paging
shape the parsed query; its fixed row scope (``filter`` and ``params``) and fixed values
(``params`` and ``persist``) go to the pipeline as a ``Restriction``; its ``exclude``/``allow``
hide fields on the way out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request

from tenantry.context import RequestContext
from tenantry.db.query import Condition, Join, ListQuery, Node, SortKey, conjunction
from tenantry.errors import ApiError
from tenantry.pipeline import Restriction
from tenantry.querystring import QueryParser
from tenantry.schema import Entity, Schema
from tenantry.schema.crud import CrudOptions, Guard, JoinOption

# (route kind, method) -> nestjsx's route name.
ROUTE_OF = {
    ("collection", "GET"): "getManyBase",
    ("collection", "HEAD"): "getManyBase",
    ("collection", "POST"): "createOneBase",
    ("bulk", "POST"): "createManyBase",
    ("item", "GET"): "getOneBase",
    ("item", "HEAD"): "getOneBase",
    ("item", "PUT"): "replaceOneBase",
    ("item", "PATCH"): "updateOneBase",
    ("item", "DELETE"): "deleteOneBase",
    ("recover", "PATCH"): "recoverOneBase",
}
_ALIASED = ("join", "filter", "or", "sort")


def forbidden_resource() -> ApiError:
    """What a NestJS guard that says no answers."""
    return ApiError(403, "FORBIDDEN_RESOURCE", "Forbidden resource")


@dataclass(frozen=True)
class Endpoint:
    """The entity, options, guard and fixed scope of one route."""

    route: str
    entity: Entity
    options: CrudOptions
    guard: Guard
    restriction: Restriction
    # Canonical relation path -> its options; None: every relation may be joined (the default).
    joins: dict[str, JoinOption] | None
    aliases: dict[str, str]
    hidden: frozenset[str]
    # Canonical relation path -> the fields of it a client may see (its ``allow`` less its ``exclude``).
    join_fields: dict[str, tuple[str, ...]]

    @classmethod
    def build(
        cls, schema: Schema, parser: QueryParser, route: str, entity: Entity, options: CrudOptions, guard: Guard
    ) -> Endpoint:
        """Resolve names once; a fixed ``filter`` that does not parse stops the app from starting."""
        where: Node | None = None
        if options.scope is not None:
            try:
                where = parser.search(entity, options.scope)
            except ApiError as exc:
                raise ValueError(f"route '{route}': its crud filter or params are invalid: {exc.message}") from None
        joins = None
        aliases: dict[str, str] = {}
        join_fields: dict[str, tuple[str, ...]] = {}
        if options.joins is not None:
            joins = {}
            for path, join in options.joins:
                canonical, target = _canonical(schema, entity, path)
                joins[canonical] = join
                if join.alias:
                    aliases[join.alias] = canonical  # a nested path too: `writer` for `post.author`
                if join.allow is not None or join.exclude:
                    shown = join.allow if join.allow is not None else target.columns
                    join_fields[canonical] = tuple(c for c in shown if c not in join.exclude)
        visible = set(options.allow) if options.allow is not None else set(entity.columns)
        hidden = frozenset(c for c in entity.columns if c != "id" and (c not in visible or c in options.exclude))
        restriction = Restriction(where, options.written)
        return cls(route, entity, options, guard, restriction, joins, aliases, hidden, join_fields)

    # -- before the pipeline ------------------------------------------------------------------

    def check(self, request: Request, ctx: RequestContext, kind: str) -> None:
        """404 for a route the options do not serve (nestjsx's wording), 403 when the guard says no."""
        name = ROUTE_OF.get((kind, request.method))
        if name is not None and not self.options.serves(name):
            raise ApiError(404, "ROUTE_NOT_FOUND", f"Cannot {request.method} {request.url.path}")
        guard = self.guard
        for header, value in guard.headers:
            if request.headers.get(header) != value:
                raise forbidden_resource()
        if guard.roles and ctx.principal.kind not in ("system", "developer") and ctx.principal.role not in guard.roles:
            raise forbidden_resource()

    def allowed_methods(self, kind: str, methods: Iterable[str]) -> list[str]:
        """Of ``methods`` (a path's), those this route serves: for the ``Allow`` of a 405."""
        return [m for m in methods if self.options.serves(ROUTE_OF.get((kind, m), ""))]

    def params(self, items: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The query string with join aliases replaced by their relations' names."""
        if not self.aliases:
            return items
        out = []
        for key, value in items:
            base = key.partition("[")[0]
            if base in _ALIASED:
                value = self._dealias(value)
            elif base == "s":
                value = self._dealias_search(value)
            out.append((key, value))
        return out

    def _dealias(self, value: str) -> str:
        for alias, name in self.aliases.items():
            for sep in (".", "||", ","):
                if value.startswith(alias + sep):
                    return name + value[len(alias) :]
            if value == alias:
                return name
        return value

    def _dealias_search(self, raw: str) -> str:
        try:
            tree = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw  # the parser answers 400

        def walk(node: Any) -> Any:
            if isinstance(node, dict):
                return {self._dealias(k): walk(v) for k, v in node.items()}
            if isinstance(node, list):
                return [walk(v) for v in node]
            return node

        return orjson.dumps(walk(tree)).decode()

    def list_query(self, query: ListQuery) -> tuple[ListQuery, Restriction]:
        """A parsed list query with the route's joins, default sort and paging applied."""
        joins, restriction = self._joins(query.joins)
        sort = query.sort or tuple(SortKey(name, desc) for name, desc in self.options.sort)
        fields = query.fields
        if fields is not None and self.hidden:
            fields = tuple(f for f in fields if f not in self.hidden)
        options = self.options
        query = dataclasses.replace(
            query,
            joins=joins,
            sort=sort,
            fields=fields,
            default_limit=options.limit,
            max_limit=options.max_limit,
            always_paginate=options.always_paginate,
        )
        return query, restriction

    def read(
        self, fields: tuple[str, ...] | None, joins: tuple[Join, ...]
    ) -> tuple[tuple[str, ...] | None, tuple[Join, ...], Restriction]:
        """A get-one request's fields and joins with the route's joins applied."""
        chosen, restriction = self._joins(joins)
        return fields, chosen, restriction

    @property
    def write_joins(self) -> tuple[Join, ...]:
        """The joins the rows a write answers with carry: the route's eager ones that are selected, with
        their fields (nestjsx re-reads a written row with its joins)."""
        return self._joins(())[0]

    def _joins(self, asked: tuple[Join, ...]) -> tuple[tuple[Join, ...], Restriction]:
        """nestjsx's join rules: only the allow-list, eager ones always; required ones leave out rows
        without the relation; ``select: false`` joins filter but are not returned."""
        if self.joins is None:
            return asked, self.restriction
        chosen: dict[str, Join] = {j.path: j for j in asked if j.path in self.joins}
        for path, option in self.joins.items():
            if option.eager and path not in chosen:
                chosen[path] = Join(path)
        # An inner join along a path: a row whose related row (at every step) is missing is left out.
        required: list[Node] = [Condition(f"{path}.id", "notnull") for path in chosen if self.joins[path].required]
        loaded = tuple(
            self._fields(join)
            for join in sorted(chosen.values(), key=lambda j: j.path.count("."))
            if self.joins[join.path].select
        )
        restriction = self.restriction
        if required:
            restriction = Restriction(conjunction(restriction.where, *required), restriction.written)
        return loaded, restriction

    def _fields(self, join: Join) -> Join:
        shown = self.join_fields.get(join.path)
        if shown is None:
            return join
        asked = join.fields if join.fields is not None else shown
        return Join(join.path, tuple(f for f in asked if f in shown))

    # -- after the pipeline -------------------------------------------------------------------

    def shape(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Leave out the fields the route hides (``query.exclude`` / ``query.allow``), in place."""
        if self.hidden:
            for row in rows:
                for name in self.hidden:
                    row.pop(name, None)
        return rows

    def shape_one(self, row: Any) -> Any:
        if isinstance(row, dict):
            self.shape([row])
        return row


def _canonical(schema: Schema, entity: Entity, path: str) -> tuple[str, Entity]:
    """A relation path in its relations' own names, and the entity it ends at."""
    out = []
    current = entity
    for segment in path.split("."):
        rel = current.relation(segment)
        assert rel is not None  # checked when the schema was loaded
        out.append(rel.name)
        current = schema.entities[rel.target]
    return ".".join(out), current


__all__ = ["ROUTE_OF", "Endpoint", "forbidden_resource"]
