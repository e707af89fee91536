"""The nestjsx/crud request query language, parsed into a typed ``ListQuery``.

Supported exactly as @nestjsx/crud 4.5.0 reads it: ``fields``/``select``, ``filter`` and ``or``
(``field||$op||value``, repeatable, also ``filter[0]=…``), ``s`` (JSON search), ``join``
(``rel``, ``rel||f1,f2``, ``rel.nested``), ``sort`` (``field,ASC``), ``limit``/``per_page``,
``offset``, ``page``, ``cache``. Plain ``?field=value`` is equality (the seed's
``GET /projects?org_id=…``).

Where nestjsx answers a client mistake with a database error (500), this parser answers 400 with
a stable code: unknown fields, values of the wrong type, operators a type does not support.
Deliberate differences: ``$eqL``/``$inL`` lower-case the value as well as the column (nestjsx
compares ``LOWER(col)`` with the value as sent, which never matches mixed case), and LIKE
wildcards in values are matched literally.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from tenantry.db.query import (
    ALL_OPS,
    CI_OPS,
    LIKE_OPS,
    LIST_OPS,
    RANGE_OPS,
    UNARY_OPS,
    And,
    Condition,
    Join,
    ListQuery,
    Node,
    Or,
    SortKey,
)
from tenantry.errors import bad_request
from tenantry.schema import Entity, FieldType, Schema
from tenantry.schema.types import INT32, INT64

DELIM = "||"
LIST_DELIM = ","
MAX_JOIN_DEPTH = 4
MAX_CONDITIONS = 100
RESERVED = frozenset(
    {
        "fields",
        "select",
        "filter",
        "or",
        "s",
        "join",
        "sort",
        "limit",
        "per_page",
        "offset",
        "page",
        "cache",
        "include_deleted",
    }
)

# The list nestjsx prints in its "Invalid comparison operator" message, in its order.
_NESTJSX_OPS = (
    "eq,ne,gt,lt,gte,lte,starts,ends,cont,excl,in,notin,isnull,notnull,between,"
    "$eq,$ne,$gt,$lt,$gte,$lte,$starts,$ends,$cont,$excl,$in,$notin,$isnull,$notnull,$between,"
    "$eqL,$neL,$startsL,$endsL,$contL,$exclL,$inL,$notinL"
)
_DEPRECATED = frozenset(
    {
        "eq",
        "ne",
        "gt",
        "lt",
        "gte",
        "lte",
        "starts",
        "ends",
        "cont",
        "excl",
        "in",
        "notin",
        "isnull",
        "notnull",
        "between",
    }
)

_ORDERED_TYPES = {
    FieldType.INTEGER,
    FieldType.BIGINT,
    FieldType.DECIMAL,
    FieldType.FLOAT,
    FieldType.TIMESTAMP,
    FieldType.DATE,
}
_TEXT_TYPES = {FieldType.STRING, FieldType.TEXT, FieldType.ENUM}


def _base_name(key: str) -> str:
    """``filter[0]`` / ``filter[]`` -> ``filter``."""
    bracket = key.find("[")
    return key[:bracket] if bracket > 0 and key.endswith("]") else key


class QueryParser:
    """Parses query strings for one schema (relations are resolved against it)."""

    def __init__(self, schema: Schema, max_limit: int) -> None:
        self.schema = schema
        self.max_limit = max_limit

    # -- entry points -------------------------------------------------------------------------

    def parse_list(self, entity: Entity, params: Iterable[tuple[str, str]]) -> ListQuery:
        """A list request's query string -> ``ListQuery``; raises 400 ``ApiError``s."""
        grouped = self._group(params)
        fields = self._fields(entity, grouped.get("fields", []) + grouped.get("select", []))
        joins = self._joins(entity, grouped.get("join", []))
        sort_keys: dict[str, SortKey] = {}
        for raw in grouped.get("sort", []):
            key = self._sort(entity, raw)
            # Only the first key on a field can change the order; repeats would only lengthen ORDER BY.
            sort_keys.setdefault(key.field, key)
        sort = tuple(sort_keys.values())
        limit = self._int(grouped, "limit") if "limit" in grouped else self._int(grouped, "per_page")
        offset = self._int(grouped, "offset")
        page = self._int(grouped, "page")
        if page is not None and page < 1:
            raise bad_request("INVALID_PAGE", "Invalid page. Number >= 1 expected")
        include_deleted = grouped.get("include_deleted", ["0"])[-1].lower() in ("1", "true", "yes")
        equality = [
            Condition(key, "eq", self._value(entity, key, "eq", value))
            for key, values in grouped.items()
            if key not in RESERVED and self._is_column(entity, key)
            for value in values
        ]
        if "s" in grouped:
            where: Node | None = self._search(entity, grouped["s"][-1])
        else:
            where = self._filters(entity, grouped.get("filter", []), grouped.get("or", []))
        if equality:
            items = (*equality, where) if where is not None else tuple(equality)
            where = items[0] if len(items) == 1 else And(tuple(items))
        return ListQuery(
            where=where,
            fields=fields,
            sort=sort,
            joins=joins,
            limit=limit,
            offset=offset,
            page=page,
            include_deleted=include_deleted,
        )

    def parse_read(
        self, entity: Entity, params: Iterable[tuple[str, str]]
    ) -> tuple[tuple[str, ...] | None, tuple[Join, ...]]:
        """``fields`` and ``join`` of a get-one request."""
        grouped = self._group(params)
        fields = self._fields(entity, grouped.get("fields", []) + grouped.get("select", []))
        return fields, self._joins(entity, grouped.get("join", []))

    def search(self, entity: Entity, raw: str) -> Node | None:
        """An ``s`` search object (JSON text) as a condition tree; raises 400 ``ApiError``s."""
        return self._search(entity, raw)

    # -- pieces -------------------------------------------------------------------------------

    @staticmethod
    def _group(params: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for key, value in params:
            if "\x00" in value or "\x00" in key:
                raise bad_request("INVALID_QUERY", "Query parameters must not contain NUL characters")
            grouped.setdefault(_base_name(key), []).append(value)
        return grouped

    def _is_column(self, entity: Entity, name: str) -> bool:
        return name in entity.columns

    def _fields(self, entity: Entity, raw: list[str]) -> tuple[str, ...] | None:
        if not raw:
            return None
        # Unknown names are ignored, as nestjsx does; the id is always returned.
        names = [n.strip() for item in raw for n in item.split(LIST_DELIM) if n.strip()]
        return tuple(dict.fromkeys(n for n in names if n in entity.columns))

    def _joins(self, entity: Entity, raw: list[str]) -> tuple[Join, ...]:
        joins: dict[str, Join] = {}
        for item in raw:
            path, _, field_list = item.partition(DELIM)
            path = path.strip()
            segments = path.split(".")
            if not path or len(segments) > MAX_JOIN_DEPTH:
                continue
            current: Entity | None = entity
            for seg in segments:
                rel = current.relation(seg) if current else None
                if rel is None:
                    current = None
                    break
                current = self.schema.entities[rel.target]
            if current is None:
                continue  # unknown relations are ignored (the whole path), as in nestjsx
            # A nested join needs its parent joined too (nestjsx's rule); add it implicitly.
            for depth in range(1, len(segments)):
                parent = self._canonical_path(entity, segments[:depth])
                if parent not in joins:
                    joins[parent] = Join(parent)
            fields = None
            if field_list:
                fields = tuple(f.strip() for f in field_list.split(LIST_DELIM) if f.strip() in current.columns)
            canonical = self._canonical_path(entity, segments)
            joins[canonical] = Join(canonical, fields)
        # Parents before children.
        return tuple(sorted(joins.values(), key=lambda j: j.path.count(".")))

    def _canonical_path(self, entity: Entity, segments: list[str]) -> str:
        out = []
        current = entity
        for seg in segments:
            rel = current.relation(seg)
            assert rel is not None
            out.append(rel.name)
            current = self.schema.entities[rel.target]
        return ".".join(out)

    def _sort(self, entity: Entity, raw: str) -> SortKey:
        field, _, order = raw.partition(LIST_DELIM)
        field = field.strip()
        order = order.strip()
        if order not in ("ASC", "DESC"):
            raise bad_request("INVALID_SORT", "Invalid sort order. ASC,DESC expected")
        target, name, canonical = self._resolve_field(entity, field)
        f = target.field(name)
        if f is not None and f.spatial is not None:
            raise bad_request("INVALID_SORT", f"Cannot sort by PostGIS field '{field}'")
        if f is not None and f.type is FieldType.JSON:
            raise bad_request("INVALID_SORT", f"Cannot sort by JSON field '{field}'")
        return SortKey(canonical, order == "DESC")

    def _int(self, grouped: dict[str, list[str]], key: str) -> int | None:
        values = grouped.get(key)
        if not values:
            return None
        raw = values[-1].strip()
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
            raise bad_request(f"INVALID_{key.upper()}", f"Invalid {key}. Number expected")
        return int(raw)

    # -- conditions ---------------------------------------------------------------------------

    def _filters(self, entity: Entity, filters: list[str], ors: list[str]) -> Node | None:
        if len(filters) + len(ors) > MAX_CONDITIONS:
            raise bad_request("INVALID_FILTER", f"At most {MAX_CONDITIONS} conditions are allowed")
        f_nodes = [self._parse_condition(entity, raw) for raw in filters]
        o_nodes = [self._parse_condition(entity, raw) for raw in ors]
        # nestjsx's combination rules (crud-request.interceptor + typeorm service).
        if f_nodes and not o_nodes:
            return f_nodes[0] if len(f_nodes) == 1 else And(tuple(f_nodes))
        if o_nodes and not f_nodes:
            return o_nodes[0] if len(o_nodes) == 1 else Or(tuple(o_nodes))
        if not f_nodes:
            return None
        if len(f_nodes) == 1 and len(o_nodes) == 1:
            return Or((f_nodes[0], o_nodes[0]))
        left = f_nodes[0] if len(f_nodes) == 1 else And(tuple(f_nodes))
        right = o_nodes[0] if len(o_nodes) == 1 else And(tuple(o_nodes))
        return Or((left, right))

    def _parse_condition(self, entity: Entity, raw: str) -> Condition:
        parts = raw.split(DELIM)
        if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
            raise bad_request("INVALID_FILTER", "Invalid filter value")
        field = parts[0].strip()
        op = self._operator(parts[1].strip())
        value = DELIM.join(parts[2:])
        if op in UNARY_OPS:
            return self._condition(entity, field, op, None)
        if value == "":
            raise bad_request("INVALID_FILTER", "Invalid filter value")
        if op in LIST_OPS or op in RANGE_OPS:
            return self._condition(entity, field, op, value.split(LIST_DELIM))
        return self._condition(entity, field, op, value)

    @staticmethod
    def _operator(raw: str) -> str:
        if raw.startswith("$"):
            op = raw[1:]
            if op in ALL_OPS:
                return op
        elif raw in _DEPRECATED:
            return raw
        raise bad_request("INVALID_OPERATOR", f"Invalid comparison operator. {_NESTJSX_OPS} expected")

    def _resolve_field(self, entity: Entity, name: str) -> tuple[Entity, str, str]:
        """The entity and column a name refers to, and the name with each relation's canonical name.

        A name may follow relations to any depth up to ``MAX_JOIN_DEPTH`` (``post.author.name``),
        whatever their kind; each relation is matched by its name or an alias.
        """
        *path, column = name.split(".")
        if len(path) > MAX_JOIN_DEPTH:
            raise bad_request("INVALID_FIELD", f"Invalid field '{name}': at most {MAX_JOIN_DEPTH} relations deep")
        current = entity
        canonical: list[str] = []
        for segment in path:
            rel = current.relation(segment)
            if rel is None:
                raise bad_request("INVALID_FIELD", f"Invalid field '{name}'")
            canonical.append(rel.name)
            current = self.schema.entities[rel.target]
        if column not in current.columns:
            raise bad_request("INVALID_FIELD", f"Invalid field '{name}'")
        return current, column, ".".join((*canonical, column))

    def _condition(self, entity: Entity, field: str, op: str, value: Any) -> Condition:
        # Canonical relation names, whatever alias the client used.
        target, column, field = self._resolve_field(entity, field)
        if op in UNARY_OPS:
            return Condition(field, op)
        if op in LIST_OPS or op in RANGE_OPS:
            items = value if isinstance(value, list) else [value]
            if not items or any(v is None or v == "" for v in items):
                raise bad_request("INVALID_FILTER_VALUE", f"Invalid column '{field}' value")
            if op in RANGE_OPS and len(items) != 2:
                raise bad_request("INVALID_FILTER_VALUE", f"Invalid column '{field}' value: $between needs two values")
            return Condition(field, op, tuple(self._value(target, column, op, v) for v in items))
        return Condition(field, op, self._value(target, column, op, value))

    def _value(self, entity: Entity, column: str, op: str, raw: Any) -> Any:
        """Coerce a filter value to the column's type; 400 when it cannot be one."""
        if isinstance(raw, str) and "\x00" in raw:  # e.g. "\u0000" inside an s= JSON string
            raise bad_request("INVALID_QUERY", "Query parameters must not contain NUL characters")
        ftype = _column_type(entity, column)
        declared = entity.field(column)
        if declared is not None and declared.element is not None:
            if op not in ("cont", "in"):
                raise bad_request(
                    "INVALID_OPERATOR",
                    f"Array field '{column}' can be tested with $cont (holds the value), $in (holds one of the "
                    "values), $isnull and $notnull",
                )
            ftype = declared.element  # the value is compared with the array's elements
        elif op in LIKE_OPS or op in CI_OPS:
            if ftype not in _TEXT_TYPES and ftype is not FieldType.UUID:
                raise bad_request(
                    "INVALID_OPERATOR", f"Operator ${op} applies to text fields, not '{column}' ({ftype.value})"
                )
            return str(raw) if not isinstance(raw, bool) else str(raw).lower()
        if declared is not None and declared.spatial is not None:
            raise bad_request(
                "INVALID_OPERATOR", f"PostGIS field '{column}' can only be tested with $isnull / $notnull"
            )
        if ftype is FieldType.JSON:
            raise bad_request("INVALID_OPERATOR", f"JSON field '{column}' can only be tested with $isnull / $notnull")
        if ftype is FieldType.BOOLEAN and op in ("gt", "lt", "gte", "lte", "between"):
            raise bad_request("INVALID_OPERATOR", f"Operator ${op} does not apply to boolean field '{column}'")
        try:
            return _coerce(ftype, raw)
        except (ValueError, InvalidOperation, OverflowError):
            shown = str(raw)[:64]
            raise bad_request(
                "INVALID_FILTER_VALUE", f"Invalid value '{shown}' for '{column}': expected {_describe(ftype)}"
            ) from None

    # -- s (search) ---------------------------------------------------------------------------

    def _search(self, entity: Entity, raw: str) -> Node | None:
        try:
            tree = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise bad_request("INVALID_SEARCH", "Invalid search param. JSON expected") from None
        if not isinstance(tree, dict):
            raise bad_request("INVALID_SEARCH", "Invalid search param. JSON object expected")
        counter = [0]
        return self._search_object(entity, tree, counter)

    def _search_object(self, entity: Entity, obj: dict[str, Any], counter: list[int]) -> Node | None:
        items: list[Node] = []
        for key, value in obj.items():
            counter[0] += 1
            if counter[0] > MAX_CONDITIONS:
                raise bad_request("INVALID_SEARCH", f"At most {MAX_CONDITIONS} conditions are allowed")
            if key in ("$and", "$or"):
                if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                    raise bad_request("INVALID_SEARCH", f"Invalid search param. {key} expects an array of objects")
                subs = [n for n in (self._search_object(entity, v, counter) for v in value) if n is not None]
                if subs:
                    node: Node = subs[0] if len(subs) == 1 else (And(tuple(subs)) if key == "$and" else Or(tuple(subs)))
                    items.append(node)
                continue
            items.append(self._search_field(entity, key, value))
        if not items:
            return None
        return items[0] if len(items) == 1 else And(tuple(items))

    def _search_field(self, entity: Entity, field: str, value: Any) -> Node:
        if value is None:
            return self._condition(entity, field, "isnull", None)
        if not isinstance(value, dict):
            if isinstance(value, list):
                raise bad_request("INVALID_SEARCH", f"Invalid search value for '{field}'")
            return self._condition(entity, field, "eq", value)
        conds: list[Node] = []
        for op_key, op_value in value.items():
            if op_key in ("$or", "$and"):
                if not isinstance(op_value, dict):
                    raise bad_request(
                        "INVALID_SEARCH", f"Invalid search param. {op_key} of '{field}' expects an object"
                    )
                subs = [self._search_field(entity, field, {k: v}) for k, v in op_value.items()]
                if subs:
                    conds.append(Or(tuple(subs)) if op_key == "$or" else And(tuple(subs)))
                continue
            op = self._operator(op_key) if op_key.startswith("$") else None
            if op is None:
                raise bad_request("INVALID_OPERATOR", f"Invalid comparison operator. {_NESTJSX_OPS} expected")
            if op in UNARY_OPS:
                # {"$isnull": true} tests for null; {"$isnull": false} means the opposite.
                if op_value is False:
                    op = "notnull" if op == "isnull" else "isnull"
                conds.append(self._condition(entity, field, op, None))
            elif op in LIST_OPS or op in RANGE_OPS:
                if not isinstance(op_value, list):
                    raise bad_request("INVALID_FILTER_VALUE", f"Invalid column '{field}' value")
                conds.append(self._condition(entity, field, op, op_value))
            else:
                if op_value is None or isinstance(op_value, (list, dict)):
                    raise bad_request("INVALID_FILTER_VALUE", f"Invalid column '{field}' value")
                conds.append(self._condition(entity, field, op, op_value))
        if not conds:
            raise bad_request("INVALID_SEARCH", f"Invalid search value for '{field}'")
        return conds[0] if len(conds) == 1 else And(tuple(conds))


def _column_type(entity: Entity, column: str) -> FieldType:
    if column == "id":
        return {"uuid": FieldType.UUID, "serial": FieldType.INTEGER, "bigserial": FieldType.BIGINT}.get(
            entity.id_type, FieldType.STRING
        )
    if column == "deleted_at":
        return FieldType.TIMESTAMP
    f = entity.field(column)
    assert f is not None
    return f.type


def _describe(ftype: FieldType) -> str:
    return {
        FieldType.UUID: "a UUID",
        FieldType.INTEGER: "an integer",
        FieldType.BIGINT: "an integer",
        FieldType.DECIMAL: "a number",
        FieldType.FLOAT: "a number",
        FieldType.BOOLEAN: "true or false",
        FieldType.TIMESTAMP: "an ISO-8601 date-time",
        FieldType.DATE: "an ISO-8601 date",
    }.get(ftype, "text")


def _coerce(ftype: FieldType, raw: Any) -> Any:
    if isinstance(raw, bool) and ftype not in (FieldType.BOOLEAN, FieldType.STRING, FieldType.TEXT, FieldType.ENUM):
        raise ValueError
    text = raw if isinstance(raw, str) else str(raw)
    if ftype in _TEXT_TYPES:
        return str(raw).lower() if isinstance(raw, bool) else text
    if ftype is FieldType.UUID:
        return str(uuid.UUID(text))
    if ftype in (FieldType.INTEGER, FieldType.BIGINT):
        if isinstance(raw, float):
            if not raw.is_integer():
                raise ValueError
            raw = int(raw)
        value = int(text.strip()) if isinstance(raw, str) else int(raw)
        lo, hi = INT32 if ftype is FieldType.INTEGER else INT64  # a serial id is an int4 column too
        if not lo <= value <= hi:
            raise ValueError
        return value
    if ftype is FieldType.DECIMAL:
        d = Decimal(text.strip())
        if not d.is_finite():
            raise ValueError
        return d
    if ftype is FieldType.FLOAT:
        value_f = float(text)
        if value_f != value_f or value_f in (float("inf"), float("-inf")):
            raise ValueError
        return value_f
    if ftype is FieldType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        lowered = text.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise ValueError
    if ftype is FieldType.TIMESTAMP:
        stamp = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.UTC)
        stamp.astimezone(dt.UTC)  # raises OverflowError at the edges of the calendar
        return stamp
    if ftype is FieldType.DATE:
        return dt.date.fromisoformat(text.strip())
    raise ValueError


__all__ = ["RESERVED", "QueryParser"]
