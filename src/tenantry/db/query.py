"""The structured form of a list query: conditions, sort, projection, joins and paging.

The API parses the nestjsx/crud query string into this form (with values already typed), the
server adds its own conditions (tenant scope), and ``tenantry.db.compiler`` turns it into SQL.
Every node separates its *shape* (cached, compiled once) from its *values* (bound per request).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

# Operators by the number of values they take.
UNARY_OPS = frozenset({"isnull", "notnull"})
LIST_OPS = frozenset({"in", "notin", "inL", "notinL"})
RANGE_OPS = frozenset({"between"})
COMPARE_OPS = frozenset({"eq", "ne", "gt", "lt", "gte", "lte"})
LIKE_OPS = frozenset({"starts", "ends", "cont", "excl"})
CI_OPS = frozenset({"eqL", "neL", "startsL", "endsL", "contL", "exclL", "inL", "notinL"})
ALL_OPS = UNARY_OPS | LIST_OPS | RANGE_OPS | COMPARE_OPS | LIKE_OPS | CI_OPS


@dataclass(frozen=True, slots=True)
class Condition:
    """``field op value``. ``field`` may be ``relation.field``; ``value`` is a tuple for list ops."""

    field: str
    op: str
    value: Any = None

    def shape(self) -> tuple[Any, ...]:
        n = len(self.value) if self.op in LIST_OPS or self.op in RANGE_OPS else (0 if self.op in UNARY_OPS else 1)
        return ("c", self.field, self.op, n)


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]

    def shape(self) -> tuple[Any, ...]:
        return ("and", *(i.shape() for i in self.items))


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]

    def shape(self) -> tuple[Any, ...]:
        return ("or", *(i.shape() for i in self.items))


@dataclass(frozen=True, slots=True)
class Related:
    """Rows whose ``relation`` has at least one related row matching ``node`` (an EXISTS).

    The pipeline adds the related entity's own scope to ``node``, so a condition on a relation
    never reaches rows of another tenant.
    """

    relation: str
    node: Node
    # Follow the relation through its link table (``SQLCompiler.through``) rather than the column.
    through: bool = False

    def shape(self) -> tuple[Any, ...]:
        return ("rel", self.relation, self.node.shape(), self.through)


@dataclass(frozen=True, slots=True)
class InSelect:
    """``field IN (SELECT column FROM table WHERE k1 = v1 AND …)`` over a capability's own table
    (a tuple value means ``k IN (…)``).

    How tenancy says "rows of organizations this user belongs to" without fetching the list first.
    """

    field: str
    table: str
    column: str
    match: tuple[tuple[str, Any], ...]

    def shape(self) -> tuple[Any, ...]:
        keys = tuple((k, len(v)) if isinstance(v, tuple) else k for k, v in self.match)
        return ("insel", self.field, self.table, self.column, keys)

    def bound(self) -> list[Any]:
        """The values in bind order: a tuple value (``IN``) contributes each of its items."""
        out: list[Any] = []
        for _, value in self.match:
            out.extend(value) if isinstance(value, tuple) else out.append(value)
        return out


Node: TypeAlias = Condition | And | Or | Related | InSelect


def conjunction(*nodes: Node | None) -> Node | None:
    """AND of the given nodes, skipping ``None``; a single node is returned as is."""
    items = tuple(n for n in nodes if n is not None)
    if not items:
        return None
    return items[0] if len(items) == 1 else And(items)


def values_of(node: Node | None) -> list[Any]:
    """The bound values of a tree, in the order ``shape()`` walks it."""
    out: list[Any] = []

    def walk(n: Node) -> None:
        if isinstance(n, Condition):
            if n.op in UNARY_OPS:
                return
            if n.op in LIST_OPS or n.op in RANGE_OPS:
                out.extend(n.value)
            else:
                out.append(n.value)
        elif isinstance(n, Related):
            walk(n.node)
        elif isinstance(n, InSelect):
            out.extend(n.bound())
        else:
            for item in n.items:
                walk(item)

    if node is not None:
        walk(node)
    return out


@dataclass(frozen=True, slots=True)
class SortKey:
    """Order by ``field`` (a path ``relation.….field`` for a related row's value).

    ``scopes`` limit, one per relation of the path, which related rows may lend their value (each
    related entity's read scope); a related row outside it sorts as if there were none.
    """

    field: str
    descending: bool = False
    scopes: tuple[Node | None, ...] = ()

    def shape(self) -> tuple[Any, ...]:
        """What the compiled SQL depends on (not the scopes' values)."""
        return (self.field, self.descending, tuple(s.shape() if s is not None else None for s in self.scopes))


@dataclass(frozen=True, slots=True)
class Join:
    """Load a relation (``path`` may be nested: ``organization.users``), optionally only some fields."""

    path: str
    fields: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ListQuery:
    """Everything a list request asks for, validated against its entity."""

    where: Node | None = None
    fields: tuple[str, ...] | None = None
    sort: tuple[SortKey, ...] = ()
    joins: tuple[Join, ...] = ()
    limit: int | None = None
    offset: int | None = None
    page: int | None = None
    include_deleted: bool = False
    # A route's own paging options (nestjsx query.limit / maxLimit / alwaysPaginate); None: the entity's.
    default_limit: int | None = None
    max_limit: int | None = None
    always_paginate: bool | None = None
