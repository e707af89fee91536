"""nestjsx ``@Crud()`` controller options, declared per entity (``crud``) and per view (``views``).

Both dialects read the same shape (JSON in ``.apsorc``, YAML in the extended form), which follows
nestjsx's ``CrudOptions`` key for key so a team can copy a controller's options across: ``routes``
(``only`` / ``exclude``), ``query`` (``join``, ``exclude``, ``allow``, ``sort``, ``limit``,
``maxLimit``, ``alwaysPaginate``, ``softDelete``, ``filter``), ``params`` (fixed values a route is
scoped to and writes, as nestjsx's route params) and ``persist`` (values always written, as
``@CrudAuth({persist})``). A view serves an entity under a second route with a ``guard`` of its own.
``docs/crud-options.md`` is the user's guide.

Readers here turn plain values into the frozen model and report mistakes through a callback;
names (fields, relations) are checked later by ``check_crud``, once relations are known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from tenantry.schema.naming import pascal_case

if TYPE_CHECKING:  # the model holds these options, so it imports this module
    from tenantry.schema.model import Entity, Location, Schema

# nestjsx's route names (``BaseRouteName``), in its order; the ``Base`` suffix is optional here.
ROUTE_NAMES = (
    "getManyBase",
    "getOneBase",
    "createOneBase",
    "createManyBase",
    "updateOneBase",
    "replaceOneBase",
    "deleteOneBase",
    "recoverOneBase",
)
_CRUD_KEYS = ("routes", "query", "params", "persist")
_QUERY_KEYS = ("join", "exclude", "allow", "sort", "limit", "maxLimit", "alwaysPaginate", "softDelete", "filter")
_JOIN_KEYS = ("eager", "required", "select", "allow", "exclude", "alias")
_VIEW_KEYS = ("route", "guard", "crud")
_GUARD_KEYS = ("header", "headers", "roles")
_OPERATORS = frozenset(
    {
        "eq", "ne", "gt", "lt", "gte", "lte", "starts", "ends", "cont", "excl", "in", "notin", "isnull",
        "notnull", "between", "eqL", "neL", "startsL", "endsL", "contL", "exclL", "inL", "notinL",
    }
)  # fmt: skip

Report = Callable[[str], None]


@dataclass(frozen=True)
class JoinOption:
    """One relation a route lets clients join (nestjsx ``query.join[relation]``)."""

    eager: bool = False
    required: bool = False
    select: bool = True
    allow: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    alias: str | None = None


@dataclass(frozen=True)
class CrudOptions:
    """The options of one route (an entity's own, or a view's); ``None`` means "as by default"."""

    routes: frozenset[str] | None = None
    joins: tuple[tuple[str, JoinOption], ...] | None = None
    exclude: tuple[str, ...] = ()
    allow: tuple[str, ...] | None = None
    sort: tuple[tuple[str, bool], ...] = ()
    limit: int | None = None
    max_limit: int | None = None
    always_paginate: bool | None = None
    soft_delete: bool | None = None
    # An ``s`` search object (JSON text, so the model stays hashable) every row of the route matches.
    filter: str | None = None
    params: tuple[tuple[str, Any], ...] = ()
    persist: tuple[tuple[str, Any], ...] = ()
    location: Location | None = field(default=None, compare=False)

    def serves(self, route: str) -> bool:
        """Whether the route named ``route`` (``getManyBase`` …) is served."""
        return self.routes is None or route in self.routes

    @property
    def written(self) -> dict[str, Any]:
        """Values every write of the route sets, whatever the body says: ``params``, then ``persist``."""
        return {**dict(self.params), **dict(self.persist)}

    @property
    def scope(self) -> str | None:
        """The route's fixed row scope as ``s`` JSON: ``filter`` AND each of ``params``."""
        parts: list[Any] = [orjson.loads(self.filter)] if self.filter else []
        parts.extend({name: value} for name, value in self.params)
        if not parts:
            return None
        return orjson.dumps(parts[0] if len(parts) == 1 else {"$and": parts}).decode()


@dataclass(frozen=True)
class Guard:
    """Who may use a view: every header named must carry its value; with ``roles``, the caller's role
    in its active organization must be one of them."""

    headers: tuple[tuple[str, str], ...] = ()
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class View:
    """An entity served under a second route, with its own guard and options."""

    route: str
    entity: str
    class_name: str
    guard: Guard = field(default_factory=Guard)
    crud: CrudOptions = field(default_factory=CrudOptions)
    location: Location | None = field(default=None, compare=False)


def _route_name(raw: Any, report: Report) -> str | None:
    text = str(raw)
    name = text if text.endswith("Base") else text + "Base"
    if name in ROUTE_NAMES:
        return name
    report(f"unknown route '{text}' (routes: {', '.join(n.removesuffix('Base') for n in ROUTE_NAMES)})")
    return None


def _names(raw: Any, what: str, report: Report) -> tuple[str, ...] | None:
    if isinstance(raw, list) and all(isinstance(x, str) and x for x in raw):
        return tuple(raw)
    report(f"{what} must be a list of names")
    return None


def _mapping(raw: Any, what: str, keys: tuple[str, ...], report: Report) -> dict[str, Any]:
    if not isinstance(raw, dict):
        report(f"{what} must be an object")
        return {}
    for key in raw:
        if key not in keys:
            report(f"unknown key '{key}' in {what} (keys: {', '.join(keys)})")
    return {k: v for k, v in raw.items() if k in keys}


def _flag(raw: Any, what: str, report: Report) -> bool:
    if isinstance(raw, bool):
        return raw
    report(f"{what} must be true or false")
    return False


def _positive(raw: Any, what: str, report: Report) -> int | None:
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return raw
    report(f"{what} must be a positive integer")
    return None


def read_routes(raw: Any, report: Report) -> frozenset[str] | None:
    """``routes: {only: [...]}`` or ``routes: {exclude: [...]}`` -> the names of the routes served."""
    spec = _mapping(raw, "'routes'", ("only", "exclude"), report)
    if "only" in spec and "exclude" in spec:
        report("'routes' takes 'only' or 'exclude', not both")
    if "only" in spec:
        names = _names(spec["only"], "'routes.only'", report) or ()
        return frozenset(n for n in (_route_name(x, report) for x in names) if n)
    if "exclude" in spec:
        names = _names(spec["exclude"], "'routes.exclude'", report) or ()
        excluded = {n for n in (_route_name(x, report) for x in names) if n}
        return frozenset(n for n in ROUTE_NAMES if n not in excluded)
    return None


def read_join(raw: Any, report: Report) -> tuple[tuple[str, JoinOption], ...]:
    """``join: {relation: {eager, required, select, allow, exclude, alias}}`` (nestjsx's shape)."""
    if not isinstance(raw, dict):
        report("'query.join' must be an object of relation paths to their options")
        return ()
    out = []
    for path, spec in raw.items():
        opts = _mapping(spec if spec is not None else {}, f"join '{path}'", _JOIN_KEYS, report)
        alias = opts.get("alias")
        if alias is not None and not (isinstance(alias, str) and alias.isidentifier()):
            report(f"'alias' of join '{path}' must be a name")
            alias = None
        out.append(
            (
                str(path),
                JoinOption(
                    eager=_flag(opts["eager"], f"'eager' of join '{path}'", report) if "eager" in opts else False,
                    required=_flag(opts["required"], f"'required' of join '{path}'", report)
                    if "required" in opts
                    else False,
                    select=_flag(opts["select"], f"'select' of join '{path}'", report) if "select" in opts else True,
                    allow=_names(opts["allow"], f"'allow' of join '{path}'", report) if "allow" in opts else None,
                    exclude=(_names(opts["exclude"], f"'exclude' of join '{path}'", report) or ())
                    if "exclude" in opts
                    else (),
                    alias=alias,
                ),
            )
        )
    return tuple(out)


def read_sort(raw: Any, report: Report) -> tuple[tuple[str, bool], ...]:
    """``sort: [{field, order}]`` (nestjsx's ``QuerySort``) or ``["field,DESC"]`` -> (field, descending)."""
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("field"), str):
            name, order = item["field"], str(item.get("order", "ASC"))
        elif isinstance(item, str):
            name, _, order = item.partition(",")
            order = order.strip() or "ASC"
        else:
            report("'query.sort' is a list of {field, order} objects")
            continue
        if order not in ("ASC", "DESC"):
            report(f"sort order of '{name}' must be ASC or DESC")
            continue
        out.append((name.strip(), order == "DESC"))
    return tuple(out)


def read_filter(raw: Any, report: Report) -> str | None:
    """``filter``: an ``s`` search object, or nestjsx's ``[{field, operator, value}]`` list."""
    if isinstance(raw, dict):
        return orjson.dumps(raw).decode()
    if isinstance(raw, list):
        conditions = []
        for item in raw:
            if not (isinstance(item, dict) and isinstance(item.get("field"), str) and "operator" in item):
                report("each 'query.filter' condition is {field, operator, value}")
                continue
            op = str(item["operator"]).removeprefix("$")
            if op not in _OPERATORS:
                report(f"unknown operator '{item['operator']}' in 'query.filter'")
                continue
            value = item.get("value", True)
            conditions.append({item["field"]: {f"${op}": value}})
        return orjson.dumps({"$and": conditions}).decode() if conditions else None
    report("'query.filter' must be a search object or a list of {field, operator, value}")
    return None


def _values(raw: Any, what: str, report: Report) -> tuple[tuple[str, Any], ...]:
    if not isinstance(raw, dict) or not all(not isinstance(v, (dict, list)) for v in raw.values()):
        report(f"'{what}' maps field names to fixed values")
        return ()
    return tuple((str(k), v) for k, v in raw.items())


def read_crud(raw: Any, report: Report, location: Location | None = None) -> CrudOptions:
    """A ``crud`` object (nestjsx's ``CrudOptions`` subset) -> ``CrudOptions``."""
    spec = _mapping(raw, "'crud'", _CRUD_KEYS, report)
    query = _mapping(spec.get("query", {}), "'crud.query'", _QUERY_KEYS, report)
    allow = _names(query["allow"], "'query.allow'", report) if "allow" in query else None
    return CrudOptions(
        routes=read_routes(spec["routes"], report) if "routes" in spec else None,
        joins=read_join(query["join"], report) if "join" in query else None,
        exclude=(_names(query["exclude"], "'query.exclude'", report) or ()) if "exclude" in query else (),
        allow=allow,
        sort=read_sort(query["sort"], report) if "sort" in query else (),
        limit=_positive(query["limit"], "'query.limit'", report) if "limit" in query else None,
        max_limit=_positive(query["maxLimit"], "'query.maxLimit'", report) if "maxLimit" in query else None,
        always_paginate=_flag(query["alwaysPaginate"], "'query.alwaysPaginate'", report)
        if "alwaysPaginate" in query
        else None,
        soft_delete=_flag(query["softDelete"], "'query.softDelete'", report) if "softDelete" in query else None,
        filter=read_filter(query["filter"], report) if "filter" in query else None,
        params=_values(spec["params"], "params", report) if "params" in spec else (),
        persist=_values(spec["persist"], "persist", report) if "persist" in spec else (),
        location=location,
    )


def read_guard(raw: Any, report: Report) -> Guard:
    """``guard: {header: {name: value}, roles: [..]}``."""
    spec = _mapping(raw, "'guard'", _GUARD_KEYS, report)
    headers: dict[str, str] = {}
    for key in ("header", "headers"):
        if key in spec:
            value = spec[key]
            if not isinstance(value, dict) or not all(isinstance(v, (str, int)) for v in value.values()):
                report(f"'guard.{key}' maps header names to the values they must carry")
                continue
            headers.update({str(k).lower(): str(v) for k, v in value.items()})
    roles = (_names(spec["roles"], "'guard.roles'", report) or ()) if "roles" in spec else ()
    if not headers and not roles:
        report("a 'guard' needs 'header' or 'roles'")
    return Guard(tuple(sorted(headers.items())), tuple(roles))


def read_views(raw: Any, entity: str, report: Report, location: Location | None = None) -> list[View]:
    """``views: [{route, guard?, crud?}]`` of one entity."""
    if not isinstance(raw, list):
        report(f"'views' of '{entity}' is a list of {{route, guard, crud}}")
        return []
    views = []
    for item in raw:
        spec = _mapping(item, f"a view of '{entity}'", _VIEW_KEYS, report)
        route = spec.get("route")
        if not (isinstance(route, str) and route and all(c.isalnum() or c in "-_" for c in route)):
            report(f"a view of '{entity}' needs a 'route' of letters, digits, '-' and '_'")
            continue
        crud = read_crud(spec.get("crud", {}), report, location)
        if crud.soft_delete is not None:
            report(f"view '{route}': 'softDelete' belongs to the entity's own 'crud' (it adds a column)")
        guard = read_guard(spec["guard"], report) if "guard" in spec else Guard()
        views.append(View(route, entity, pascal_case(route), guard, crud, location))
    return views


def check_crud(schema: Schema, entity: Entity, options: CrudOptions, where: str, report: Report) -> None:
    """Names in ``options`` must be the entity's fields and relations (after ``build_schema``)."""
    columns = set(entity.columns)
    for what, names in (("query.exclude", options.exclude), ("query.allow", options.allow or ())):
        for name in names:
            if name not in columns:
                report(f"{where}: '{what}' names unknown field '{name}'")
    for name, _ in options.sort:
        if name not in columns:
            report(f"{where}: 'query.sort' names unknown field '{name}'")
    for name, _ in (*options.params, *options.persist):
        f = entity.field(name)
        if f is None:
            report(f"{where}: fixed value for unknown field '{name}'")
        elif f.server_managed:
            report(f"{where}: '{name}' is set by the server and cannot be fixed")
    for path, join in options.joins or ():
        current: Entity | None = entity
        for segment in path.split("."):
            rel = current.relation(segment) if current is not None else None
            current = schema.entities[rel.target] if rel is not None else None
        if current is None:
            report(f"{where}: 'query.join' names unknown relation '{path}'")
            continue
        for name in (*(join.allow or ()), *join.exclude):
            if name not in current.columns:
                report(f"{where}: join '{path}' names unknown field '{name}'")
        shadows = join.alias is not None and (entity.relation(join.alias) is not None or join.alias in columns)
        if shadows and join.alias != path:  # naming a relation by its own name changes nothing
            report(f"{where}: alias '{join.alias}' of join '{path}' is already a field or relation of '{entity.name}'")
    if options.filter is not None:
        for name in _search_fields(orjson.loads(options.filter)):
            head, _, column = name.partition(".")
            rel = entity.relation(head) if column else None
            known = name in columns if not column else rel is not None and column in schema.entities[rel.target].columns
            if not known:
                report(f"{where}: 'query.filter' names unknown field '{name}'")


def _search_fields(tree: Any) -> list[str]:
    """The field names an ``s`` search object tests (``$and``/``$or`` walked into)."""
    names: list[str] = []
    items = tree if isinstance(tree, list) else [tree]
    for item in items:
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if key in ("$and", "$or"):
                names.extend(_search_fields(value))
            else:
                names.append(key)
    return names


__all__ = [
    "ROUTE_NAMES",
    "CrudOptions",
    "Guard",
    "JoinOption",
    "Report",
    "View",
    "check_crud",
    "read_crud",
    "read_guard",
    "read_views",
]
