"""Build SQL with SQLAlchemy Core, compile it once per statement shape, bind values per request.

Compiling a SQLAlchemy statement costs far more than running a simple indexed query, so every
statement is keyed by its *shape* (entity, columns, condition tree without values, sort …) and
compiled the first time that shape is seen. A ``Statement`` remembers, for each positional
parameter, which request value feeds it and how that value is converted for the driver.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from tenantry.db.codecs import field_to_db, id_to_db, to_db
from tenantry.db.query import (
    CI_OPS,
    LIKE_OPS,
    LIST_OPS,
    RANGE_OPS,
    UNARY_OPS,
    And,
    Condition,
    InSelect,
    Node,
    Or,
    Related,
    SortKey,
    values_of,
)
from tenantry.db.tables import TableSet
from tenantry.schema import Entity, FieldType, Relation, Schema

Transform = Callable[[Any], Any]
_CACHE_SIZE = 2048


@dataclass(frozen=True)
class Statement:
    """Compiled SQL plus how to build its positional parameters.

    ``slots[i]`` is either an ``int`` (the index into the statement's bound values) or a ``str``
    naming an extra value (``limit``, ``offset``, ``ids`` …) supplied at execution.
    """

    sql: str
    slots: tuple[int | str, ...]
    transforms: tuple[Transform, ...]
    defaults: dict[str, Any]

    def params(self, values: Sequence[Any] = (), extras: dict[str, Any] | None = None) -> list[Any]:
        converted = [t(v) for t, v in zip(self.transforms, values, strict=True)]
        out: list[Any] = []
        for slot in self.slots:
            if isinstance(slot, int):
                out.append(converted[slot])
            elif extras is not None and slot in extras:
                out.append(extras[slot])
            else:
                out.append(self.defaults[slot])
        return out


def compile_statement(stmt: Any, dialect: Dialect, transforms: Sequence[Transform] = ()) -> Statement:
    """Compile a SQLAlchemy statement once for ``dialect``: its SQL and how to build its parameters.

    Bind parameters named ``v<n>`` take the n-th value given to ``Statement.params`` (through
    ``transforms[n]``); any other named bind parameter is an extra, passed by name at execution.
    """
    compiled = stmt.compile(dialect=dialect)
    slots: list[int | str] = []
    for name in compiled.positiontup or ():
        slots.append(int(name[1:]) if name.startswith("v") and name[1:].isdigit() else name)
    defaults = {k: v for k, v in compiled.params.items() if not (k.startswith("v") and k[1:].isdigit())}
    return Statement(compiled.string, tuple(slots), tuple(transforms), defaults)


def escape_like(value: str) -> str:
    """Escape LIKE wildcards so ``$cont||50%`` matches a literal percent sign (nestjsx does not)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def escape_glob(value: str) -> str:
    """Make GLOB's wildcards (``*``, ``?``, ``[``) literal: ``[*]`` matches one ``*``."""
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in value)


def _wildcard_pattern(kind: str, escape: Transform, wildcard: str, fold: Transform) -> Transform:
    """The pattern for ``starts``/``ends``/``cont``/``excl``: the escaped value with wildcards around it."""
    before = wildcard if kind in ("ends", "cont", "excl") else ""
    after = wildcard if kind in ("starts", "cont", "excl") else ""
    return lambda v: before + escape(fold(v)) + after


@dataclass(frozen=True)
class Through:
    """A one-to-many relation that really goes through a link table (``near`` -> ``far`` columns).

    Tenancy registers organizations -> users this way: the schema's ``users.org_id`` says "a user
    belongs to an organization", but a user may belong to several, and the memberships say which.
    """

    table: str
    near: str  # the link table's column holding this entity's key
    far: str  # the link table's column holding the related entity's id


# The column ``select_related`` adds for the key a related row belongs to, when it goes through a link.
THROUGH_KEY = "__through_key"


class SQLCompiler:
    """Builds and caches statements for one schema on one dialect."""

    def __init__(self, schema: Schema, tables: TableSet, dialect: Dialect) -> None:
        self.schema = schema
        self.tables = tables
        self.dialect = dialect
        self.dialect_name = tables.dialect
        self._cache: OrderedDict[tuple[Any, ...], Statement] = OrderedDict()
        # (entity, relation name) -> the link table the relation goes through (see ``Through``).
        # Many-to-many relations always go through their join table.
        self.through: dict[tuple[str, str], Through] = {
            (entity.name, rel.name): Through(rel.link.table, rel.link.near, rel.link.far)
            for entity in schema.entities.values()
            for rel in entity.relations
            if rel.link is not None
        }
        # Aliases of related tables get a number each: a path may name one relation twice (parent.parent).
        self._aliases = itertools.count()

    def _alias(self, target: Entity, rel: Relation) -> Any:
        return self.tables.table(target).alias(f"r{next(self._aliases)}_{rel.name}")

    def _link(self, entity: Entity, table: Any, rel: Relation, alias: Any, through: bool = False) -> Any:
        """The condition tying a related row (``alias``) to a row of ``entity`` (``table``)."""
        via = self.through.get((entity.name, rel.name)) if through or rel.link is not None else None
        if via is None:
            return alias.c[rel.remote_field] == table.c[rel.local_field]
        link = self.tables.metadata.tables[via.table]
        # Correlated to the outer row explicitly: it sits two levels down, inside the EXISTS.
        members = sa.select(link.c[via.far]).where(link.c[via.near] == table.c[rel.local_field]).correlate_except(link)
        return alias.c.id.in_(members)

    # -- cache --------------------------------------------------------------------------------

    def _cached(self, key: tuple[Any, ...], build: Callable[[], tuple[Any, list[Transform]]]) -> Statement:
        stmt = self._cache.get(key)
        if stmt is not None:
            self._cache.move_to_end(key)
            return stmt
        sa_stmt, transforms = build()
        stmt = compile_statement(sa_stmt, self.dialect, transforms)
        self._cache[key] = stmt
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return stmt

    def prepared(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Statement:
        """A statement another capability builds itself (its own tables), compiled once per ``key``.

        ``build`` returns a SQLAlchemy statement whose parameters are named bind parameters; pass
        their values as ``extras`` to ``Statement.params``.
        """
        return self._cached(("prepared", *key), lambda: (build(), []))

    # -- value conversion ---------------------------------------------------------------------

    def _field_type(self, entity: Entity, name: str) -> FieldType | None:
        if name == "id" or name == "deleted_at":
            return None
        f = entity.field(name)
        assert f is not None, f"{entity.name}.{name}"
        return f.type

    def _to_db(self, entity: Entity, name: str) -> Transform:
        dialect = self.dialect_name
        if name == "id":
            id_type = entity.id_type
            return lambda v: id_to_db(id_type, dialect, v)
        if name == "deleted_at":
            return lambda v: to_db(FieldType.TIMESTAMP, dialect, v)
        f = entity.field(name)
        assert f is not None, f"{entity.name}.{name}"
        return lambda v: field_to_db(f, dialect, v)

    # -- expressions --------------------------------------------------------------------------

    def _column(self, table: Any, entity: Entity, name: str) -> Any:
        return table.c[name]

    def _where(self, entity: Entity, table: Any, node: Node, transforms: list[Transform]) -> Any:
        if isinstance(node, And):
            return sa.and_(*(self._where(entity, table, n, transforms) for n in node.items))
        if isinstance(node, Or):
            return sa.or_(*(self._where(entity, table, n, transforms) for n in node.items))
        if isinstance(node, Related):
            return self._related(entity, table, node, transforms)
        if isinstance(node, InSelect):
            return self._in_select(entity, table, node, transforms)
        if "." in node.field:
            return self._related_condition(entity, table, node, transforms)
        return self._condition(entity, table, node, transforms)

    def _related(self, entity: Entity, table: Any, node: Related, transforms: list[Transform]) -> Any:
        rel = entity.relation(node.relation)
        assert rel is not None
        target = self.schema.entities[rel.target]
        alias = self._alias(target, rel)
        link = self._link(entity, table, rel, alias, node.through)
        return sa.exists().where(link, self._where(target, alias, node.node, transforms))

    def _in_select(self, entity: Entity, table: Any, node: InSelect, transforms: list[Transform]) -> Any:
        other = self.tables.metadata.tables[node.table]
        column = table.c[node.field]
        conditions = []
        for key, value in node.match:
            convert = self._column_param(other.c[key])
            if isinstance(value, tuple):
                conditions.append(other.c[key].in_([self._bind(transforms, convert) for _ in value]))
            else:
                conditions.append(other.c[key] == self._bind(transforms, convert))
        return column.in_(sa.select(other.c[node.column]).where(*conditions))

    def _column_param(self, column: Any) -> Transform:
        """How to bind a value compared with a capability table's column (ids and timestamps differ by dialect)."""
        kind = type(column.type).__name__
        dialect = self.dialect_name
        if kind == "GUID":
            return lambda v: id_to_db("uuid", dialect, v)
        if kind == "UTCTimestamp":
            return lambda v: to_db(FieldType.TIMESTAMP, dialect, v)
        return lambda v: v

    def _related_condition(self, entity: Entity, table: Any, cond: Condition, transforms: list[Transform]) -> Any:
        rel_name, _, field = cond.field.partition(".")
        rel = entity.relation(rel_name)
        assert rel is not None
        target = self.schema.entities[rel.target]
        alias = self._alias(target, rel)
        link = self._link(entity, table, rel, alias)
        inner = self._where(target, alias, Condition(field, cond.op, cond.value), transforms)
        return sa.exists().where(link, inner)

    def _bind(self, transforms: list[Transform], transform: Transform) -> Any:
        name = f"v{len(transforms)}"
        transforms.append(transform)
        return sa.bindparam(name)

    def _condition(self, entity: Entity, table: Any, cond: Condition, transforms: list[Transform]) -> Any:
        col = self._column(table, entity, cond.field)
        op = cond.op
        if op in UNARY_OPS:
            return col.is_(None) if op == "isnull" else col.is_not(None)
        f = entity.field(cond.field)
        if f is not None and f.element is not None:
            return self._array_condition(f.element, col, cond, transforms)
        conv = self._to_db(entity, cond.field)
        ftype = self._field_type(entity, cond.field)
        textual = ftype in (FieldType.STRING, FieldType.TEXT, FieldType.ENUM) or (
            ftype is FieldType.UUID and self.dialect_name == "sqlite"
        )
        if op in LIKE_OPS or op in CI_OPS:
            as_text = col if textual else sa.cast(col, sa.Text)
            target = sa.func.lower(as_text) if op in CI_OPS else as_text
            base = op[:-1] if op in CI_OPS else op
            fold: Transform = (lambda v: str(v).lower()) if op in CI_OPS else str
            if base in ("eq", "ne"):
                param = self._bind(transforms, fold)
                return target == param if base == "eq" else target != param
            if base in ("in", "notin"):
                params = [self._bind(transforms, fold) for _ in cond.value]
                return target.in_(params) if base == "in" else target.not_in(params)
            if op in LIKE_OPS and self.dialect_name == "sqlite":
                # SQLite's LIKE ignores ASCII case; GLOB matches case-sensitively, as LIKE does on PostgreSQL.
                glob = _wildcard_pattern(base, escape_glob, "*", fold)
                matched = target.op("GLOB", is_comparison=True)(self._bind(transforms, glob))
            else:
                matched = target.like(
                    self._bind(transforms, _wildcard_pattern(base, escape_like, "%", fold)), escape="\\"
                )
            return sa.not_(matched) if base == "excl" else matched
        if op in LIST_OPS:
            params = [self._bind(transforms, conv) for _ in cond.value]
            return col.in_(params) if op == "in" else col.not_in(params)
        if op in RANGE_OPS:
            lo = self._bind(transforms, conv)
            hi = self._bind(transforms, conv)
            return col.between(lo, hi)
        param = self._bind(transforms, conv)
        return {
            "eq": lambda: col == param,
            "ne": lambda: col != param,
            "gt": lambda: col > param,
            "lt": lambda: col < param,
            "gte": lambda: col >= param,
            "lte": lambda: col <= param,
        }[op]()

    def _array_condition(self, element: FieldType, col: Any, cond: Condition, transforms: list[Transform]) -> Any:
        """``$cont``: the array holds the value; ``$in``: it holds at least one of the values.

        PostgreSQL compares with ``= ANY(col)`` on its real array; SQLite looks through the JSON
        array with ``json_each`` (a JSON ``true`` reads as 1 there, as booleans are stored).
        """
        dialect = self.dialect_name
        convert: Transform = lambda v: to_db(element, dialect, v)  # noqa: E731
        count = len(cond.value) if cond.op == "in" else 1
        params = [self._bind(transforms, convert) for _ in range(count)]
        if dialect == "postgresql":
            return sa.or_(*(p == sa.any_(col) for p in params))
        each = sa.func.json_each(col).table_valued("value")
        return sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.value.in_(params)))

    def _order_by(self, entity: Entity, table: Any, sort: Sequence[SortKey], transforms: list[Transform]) -> list[Any]:
        clauses: list[Any] = []
        for key in sort:
            if "." in key.field:
                expr: Any = self._path_value(entity, table, key, transforms)
            else:
                expr = table.c[key.field]
            clauses.append(expr.desc().nulls_first() if key.descending else expr.asc().nulls_last())
        if not any(k.field == "id" for k in sort):
            clauses.append(table.c.id.asc())
        return clauses

    def _path_value(self, entity: Entity, table: Any, key: SortKey, transforms: list[Transform]) -> Any:
        """The value a sort path (``post.author.name``) reads for each row: a correlated subquery
        following each relation, each related row within its scope (``key.scopes``).

        Through a to-many relation a row has several values: it sorts by its first in the
        requested order (the least ascending, the greatest descending), as a SQL join would
        place it first.
        """
        *path, field = key.field.split(".")
        current, current_table = entity, table
        conditions: list[Any] = []
        many = False
        for depth, name in enumerate(path):
            rel = current.relation(name)
            assert rel is not None
            target = self.schema.entities[rel.target]
            alias = self._alias(target, rel)
            conditions.append(self._link(current, current_table, rel, alias, through=True))
            scope = key.scopes[depth] if depth < len(key.scopes) else None
            if scope is not None:
                conditions.append(self._where(target, alias, scope, transforms))
            many = many or rel.kind == "many"
            current, current_table = target, alias
        value = current_table.c[field]
        stmt = sa.select(value).where(*conditions)
        if many:
            ordered = value.desc().nulls_last() if key.descending else value.asc().nulls_last()
            stmt = stmt.order_by(ordered).limit(1)
        return stmt.scalar_subquery()

    # -- statements ---------------------------------------------------------------------------

    def select(
        self,
        entity: Entity,
        columns: tuple[str, ...],
        where: Node | None,
        sort: Sequence[SortKey] = (),
        *,
        limit: bool = False,
        offset: bool = False,
        with_total: bool = False,
        for_update: bool = False,
    ) -> tuple[Statement, list[Any]]:
        """``SELECT columns FROM entity WHERE … ORDER BY … LIMIT :limit OFFSET :offset``.

        With ``with_total`` the last column is the total match count (a window function, so the
        page and its total come back in one round trip). Returns the statement and its values.
        """
        key = (
            "select",
            entity.name,
            columns,
            where.shape() if where is not None else None,
            tuple(k.shape() for k in sort),
            limit,
            offset,
            with_total,
            for_update,
        )

        def build() -> tuple[Any, list[Transform]]:
            table = self.tables.table(entity)
            transforms: list[Transform] = []
            cols: list[Any] = [table.c[c] for c in columns]
            if with_total:
                cols.append(sa.func.count().over().label("__total"))
            stmt = sa.select(*cols)
            if where is not None:
                stmt = stmt.where(self._where(entity, table, where, transforms))
            if sort or limit or offset:
                stmt = stmt.order_by(*self._order_by(entity, table, sort, transforms))
            if limit:
                stmt = stmt.limit(sa.bindparam("limit"))
            if offset:
                stmt = stmt.offset(sa.bindparam("offset"))
            if for_update and self.dialect_name == "postgresql":
                stmt = stmt.with_for_update()
            return stmt, transforms

        # Values in the order their placeholders were made: the WHERE clause's, then the sort's.
        values = values_of(where)
        for k in sort:
            for scope in k.scopes:
                values = [*values, *values_of(scope)]
        return self._cached(key, build), values

    def count(self, entity: Entity, where: Node | None) -> tuple[Statement, list[Any]]:
        """``SELECT count(*)`` for the same conditions as a list."""
        key = ("count", entity.name, where.shape() if where is not None else None)

        def build() -> tuple[Any, list[Transform]]:
            table = self.tables.table(entity)
            transforms: list[Transform] = []
            stmt = sa.select(sa.func.count()).select_from(table)
            if where is not None:
                stmt = stmt.where(self._where(entity, table, where, transforms))
            return stmt, transforms

        return self._cached(key, build), values_of(where)

    def select_related(
        self, rel: Relation, columns: tuple[str, ...], where: Node | None, via: Through | None = None
    ) -> tuple[Statement, list[Any]]:
        """Rows of ``rel.target`` whose ``rel.remote_field`` is in the extra value ``ids``.

        Through a link table (``via``), rows linked to those keys instead, each with the key it is
        linked to as an extra last column (``THROUGH_KEY``; a row linked to two keys comes twice).
        PostgreSQL takes the keys as one array parameter and SQLite as one JSON array, so the
        statement has a single shape whatever the page size.
        """
        target = self.schema.entities[rel.target]
        key = ("related", rel.target, rel.remote_field, columns, where.shape() if where is not None else None, via)

        def build() -> tuple[Any, list[Transform]]:
            table = self.tables.table(target)
            transforms: list[Transform] = []
            selected: list[Any] = [table.c[c] for c in columns]
            source: Any = table
            key_col = table.c[rel.remote_field]
            if via is not None:
                link = self.tables.metadata.tables[via.table]
                key_col = link.c[via.near]
                selected.append(key_col.label(THROUGH_KEY))
                source = table.join(link, link.c[via.far] == table.c.id)
            if self.dialect_name == "postgresql":
                match = key_col == sa.any_(sa.bindparam("ids"))
            else:
                match = key_col.in_(sa.select(sa.column("value")).select_from(sa.func.json_each(sa.bindparam("ids"))))
            stmt = sa.select(*selected).select_from(source).where(match)
            if where is not None:
                stmt = stmt.where(self._where(target, table, where, transforms))
            stmt = stmt.order_by(*self._order_by(target, table, self.default_sort(target), transforms))
            return stmt, transforms

        return self._cached(key, build), values_of(where)

    def link_insert(self, via: Through) -> Statement:
        """``INSERT INTO <join table> (near, far) VALUES (:near, :far)``: one many-to-many link."""
        link = self.tables.metadata.tables[via.table]
        values: dict[str, Any] = {via.near: sa.bindparam("near"), via.far: sa.bindparam("far")}
        return self.prepared(("link-insert", via), lambda: sa.insert(link).values(values))

    def link_delete(self, via: Through) -> Statement:
        """``DELETE FROM <join table> WHERE near = :near``: every link of one row."""
        link = self.tables.metadata.tables[via.table]
        stmt = sa.delete(link).where(link.c[via.near] == sa.bindparam("near"))
        return self.prepared(("link-delete", via), lambda: stmt)

    def id_value(self, entity: Entity, value: Any) -> Any:
        """An id of ``entity`` as the driver takes it (the join tables' columns hold ids)."""
        return id_to_db(entity.id_type, self.dialect_name, value)

    def key_list(self, entity: Entity, column: str, keys: Sequence[Any]) -> Any:
        """The ``ids`` value of ``select_related``: an array for PostgreSQL, JSON text for SQLite."""
        convert = self._to_db(entity, column)
        converted = [convert(k) for k in keys]
        return converted if self.dialect_name == "postgresql" else orjson.dumps(converted).decode()

    def insert(self, entity: Entity, columns: tuple[str, ...], returning: tuple[str, ...]) -> Statement:
        """``INSERT INTO entity (columns) VALUES (…) RETURNING returning``; values in column order."""
        key = ("insert", entity.name, columns, returning)

        def build() -> tuple[Any, list[Transform]]:
            table = self.tables.table(entity)
            transforms: list[Transform] = []
            values = {c: self._bind(transforms, self._to_db(entity, c)) for c in columns}
            stmt = sa.insert(table).values(values).returning(*(table.c[c] for c in returning))
            return stmt, transforms

        return self._cached(key, build)

    def update(
        self, entity: Entity, columns: tuple[str, ...], where: Node, returning: tuple[str, ...]
    ) -> tuple[Statement, int]:
        """``UPDATE entity SET columns … WHERE … RETURNING``. Values: the columns', then the condition's.

        Returns the statement and how many leading values are column values.
        """
        key = ("update", entity.name, columns, where.shape(), returning)

        def build() -> tuple[Any, list[Transform]]:
            table = self.tables.table(entity)
            transforms: list[Transform] = []
            values = {c: self._bind(transforms, self._to_db(entity, c)) for c in columns}
            stmt = (
                sa.update(table)
                .where(self._where(entity, table, where, transforms))
                .values(values)
                .returning(*(table.c[c] for c in returning))
            )
            return stmt, transforms

        return self._cached(key, build), len(columns)

    def delete(self, entity: Entity, where: Node) -> tuple[Statement, list[Any]]:
        """``DELETE FROM entity WHERE … RETURNING id``."""
        key = ("delete", entity.name, where.shape())

        def build() -> tuple[Any, list[Transform]]:
            table = self.tables.table(entity)
            transforms: list[Transform] = []
            stmt = sa.delete(table).where(self._where(entity, table, where, transforms)).returning(table.c.id)
            return stmt, transforms

        return self._cached(key, build), values_of(where)

    def exists(self, entity: Entity, where: Node) -> tuple[Statement, list[Any]]:
        """``SELECT 1 … LIMIT 1`` for a condition (used to explain constraint errors)."""
        key = ("exists", entity.name, where.shape())

        def build() -> tuple[Any, list[Transform]]:
            table = self.tables.table(entity)
            transforms: list[Transform] = []
            stmt = sa.select(sa.literal(1)).select_from(table).where(self._where(entity, table, where, transforms))
            return stmt.limit(1), transforms

        return self._cached(key, build), values_of(where)

    @staticmethod
    def default_sort(entity: Entity) -> tuple[SortKey, ...]:
        """Oldest first by creation time when the entity records it, so pages are stable and intuitive."""
        created = entity.created_at_field
        return (SortKey(created),) if created else ()
