"""Load Apso's ``.apsorc`` schema files into the shared model.

An ``.apsorc`` file is JSON (Apso reads it through the ``rc`` library, so JSONC comments and
trailing commas are tolerated too). Version 1 files declare relationships per entity as
``associations``; version 2 files use a top-level ``relationships`` array. Both end up as
foreign-key fields on ``DraftEntity`` objects that go through ``build_schema``, exactly like the
YAML dialect.

Errors point at the user's lines, so the file is read with the small JSON reader below: the
standard ``json`` module does not say where a value was written.

Where Apso's behaviour is a known bug, the loader does what the file plainly means instead
(a boolean default of ``"false"`` is false; ``scale: 0`` is zero). What Tenantry cannot serve
yet (exotic column types such as ``interval`` or ``tsvector``, custom primary keys, nested scope paths)
is reported as a problem rather than silently dropped.
"""

from __future__ import annotations

import bisect
import difflib
import re
from dataclasses import dataclass, replace
from typing import Any, TypeAlias

from tenantry.schema.build import DraftEntity, DraftManyToMany, build_schema
from tenantry.schema.crud import read_crud, read_views
from tenantry.schema.errors import ProblemList
from tenantry.schema.model import Action, Field, FieldType, IdType, Index, Location, Schema
from tenantry.schema.naming import camel_case, is_identifier, pascal_case, pluralize, singularize, snake_case
from tenantry.schema.types import (
    DEFAULT_PRECISION,
    DEFAULT_SCALE,
    MAX_PRECISION,
    TYPE_ALIASES,
    DefaultValueError,
    parse_default,
)

__all__ = [
    "JsonArray",
    "JsonMember",
    "JsonNode",
    "JsonObject",
    "JsonScalar",
    "JsonSyntaxError",
    "load_apsorc_schema",
    "read_json",
    "to_python",
]

# ---------------------------------------------------------------------------------------------
# A JSON reader that remembers lines
# ---------------------------------------------------------------------------------------------

Scalar: TypeAlias = str | int | float | bool | None


class JsonSyntaxError(ValueError):
    """Text that is not JSON (nor JSONC); ``line`` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.message = message
        self.line = line


@dataclass(frozen=True)
class JsonScalar:
    """A string, number, ``true``/``false`` or ``null``.

    ``lexeme`` keeps a number exactly as written, so a decimal default keeps every digit that a
    float would round away.
    """

    value: Scalar
    line: int
    lexeme: str = ""


@dataclass(frozen=True)
class JsonArray:
    """A JSON array; ``line`` is where its ``[`` is."""

    items: tuple[JsonNode, ...]
    line: int


@dataclass(frozen=True)
class JsonMember:
    """One ``"key": value`` pair of an object; ``line`` is where the key is."""

    key: str
    line: int
    value: JsonNode


@dataclass(frozen=True)
class JsonObject:
    """A JSON object. Members keep their order and duplicates, so the loader can report them."""

    members: tuple[JsonMember, ...]
    line: int


JsonNode: TypeAlias = JsonScalar | JsonArray | JsonObject

_MAX_DEPTH = 200  # far deeper than any schema; stops a hostile file from exhausting the stack
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_STRING_RUN = re.compile(r'[^"\\\x00-\x1f]*')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_WORDS: tuple[tuple[str, Scalar], ...] = (("true", True), ("false", False), ("null", None))


def read_json(text: str) -> JsonNode:
    """Parse JSON (plus ``//`` and ``/* */`` comments and trailing commas) into line-tagged nodes.

    Raises ``JsonSyntaxError`` with the line of the first mistake.
    """
    return _JsonReader(text).document()


def to_python(node: JsonNode) -> Any:
    """The plain Python value of a node; a repeated key keeps its last value, as in ``JSON.parse``."""
    if isinstance(node, JsonScalar):
        return node.value
    if isinstance(node, JsonArray):
        return [to_python(item) for item in node.items]
    return {m.key: to_python(m.value) for m in node.members}


class _JsonReader:
    def __init__(self, text: str) -> None:
        self.text = text.removeprefix("\ufeff")  # editors on Windows like to add a BOM
        self.pos = 0
        self.newlines = [i for i, ch in enumerate(self.text) if ch == "\n"]

    def line(self, pos: int | None = None) -> int:
        return bisect.bisect_left(self.newlines, self.pos if pos is None else pos) + 1

    def error(self, message: str, pos: int | None = None) -> JsonSyntaxError:
        return JsonSyntaxError(message, self.line(pos))

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def found(self) -> str:
        ch = self.peek()
        if not ch:
            return "the end of the file"
        if ch == "'":
            return '"\'" (JSON strings use double quotes)'
        return repr(ch)

    def document(self) -> JsonNode:
        self.skip()
        if self.pos >= len(self.text):
            raise self.error("the file is empty")
        node = self.value(0)
        self.skip()
        if self.pos < len(self.text):
            raise self.error(f"unexpected {self.found()} after the end of the JSON document")
        return node

    def skip(self) -> None:
        """Skip whitespace and comments."""
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in " \t\r\n":
                self.pos += 1
            elif text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.error("unterminated /* comment")
                self.pos = end + 2
            else:
                return

    def value(self, depth: int) -> JsonNode:
        if depth > _MAX_DEPTH:
            raise self.error(f"values are nested more than {_MAX_DEPTH} levels deep")
        ch = self.peek()
        line = self.line()
        if ch == "{":
            return self.object(depth)
        if ch == "[":
            return self.array(depth)
        if ch == '"':
            return JsonScalar(self.string(), line)
        if ch == "-" or ch.isdigit():
            return self.number()
        for word, value in _WORDS:
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return JsonScalar(value, line)
        raise self.error(f"expected a value, found {self.found()}")

    def object(self, depth: int) -> JsonObject:
        line = self.line()
        self.pos += 1
        members: list[JsonMember] = []
        while True:
            self.skip()
            if self.peek() == "}":
                self.pos += 1
                return JsonObject(tuple(members), line)
            if not self.peek():
                raise JsonSyntaxError("this '{' is never closed", line)
            if self.peek() != '"':
                raise self.error(f"expected a key in double quotes or '}}', found {self.found()}")
            key_line = self.line()
            key = self.string()
            self.skip()
            if self.peek() != ":":
                raise self.error(f"expected ':' after the key \"{key}\", found {self.found()}")
            self.pos += 1
            self.skip()
            members.append(JsonMember(key, key_line, self.value(depth + 1)))
            end = self.pos
            self.skip()
            if self.peek() == ",":
                self.pos += 1
            elif not self.peek():
                raise JsonSyntaxError("this '{' is never closed", line)
            elif self.peek() != "}":
                # Report where the value ended: a missing comma belongs to that line, not the next key's.
                raise self.error(f"expected ',' or '}}' after the value of \"{key}\", found {self.found()}", end)

    def array(self, depth: int) -> JsonArray:
        line = self.line()
        self.pos += 1
        items: list[JsonNode] = []
        while True:
            self.skip()
            if self.peek() == "]":
                self.pos += 1
                return JsonArray(tuple(items), line)
            if not self.peek():
                raise JsonSyntaxError("this '[' is never closed", line)
            items.append(self.value(depth + 1))
            end = self.pos
            self.skip()
            if self.peek() == ",":
                self.pos += 1
            elif not self.peek():
                raise JsonSyntaxError("this '[' is never closed", line)
            elif self.peek() != "]":
                raise self.error(f"expected ',' or ']' after an array item, found {self.found()}", end)

    def string(self) -> str:
        start = self.pos
        self.pos += 1
        text = self.text
        parts: list[str] = []
        while True:
            run = _STRING_RUN.match(text, self.pos)
            assert run is not None  # the pattern matches the empty string
            parts.append(run.group())
            self.pos = run.end()
            ch = self.peek()
            if ch == '"':
                self.pos += 1
                return "".join(parts)
            if not ch or ch == "\n":
                raise self.error("string is not closed (missing '\"')", start)
            if ch != "\\":
                raise self.error("control character inside a string (write it as an escape such as \\t)")
            escape = text[self.pos + 1 : self.pos + 2]
            if escape == "u":
                parts.append(self.unicode_escape())
            elif escape in _ESCAPES:
                parts.append(_ESCAPES[escape])
                self.pos += 2
            else:
                raise self.error(f"invalid escape '\\{escape}' in a string")

    def unicode_escape(self) -> str:
        code = self.hex4(self.pos + 2)
        self.pos += 6
        # A character outside the Basic Multilingual Plane is written as a surrogate pair.
        if 0xD800 <= code < 0xDC00 and self.text.startswith("\\u", self.pos):
            low = self.hex4(self.pos + 2)
            if 0xDC00 <= low < 0xE000:
                self.pos += 6
                return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
        return chr(code)

    def hex4(self, at: int) -> int:
        digits = self.text[at : at + 4]
        if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise self.error("'\\u' must be followed by four hex digits", at)
        return int(digits, 16)

    def number(self) -> JsonScalar:
        line = self.line()
        m = _NUMBER.match(self.text, self.pos)
        following = self.text[m.end() : m.end() + 1] if m else ""
        if m is None or (following and (following.isalnum() or following in "._")):
            end = self.pos + 1
            while end < len(self.text) and (self.text[end].isalnum() or self.text[end] in ".+-_"):
                end += 1
            raise self.error(f"invalid number '{self.text[self.pos : end]}'")
        lexeme = m.group()
        self.pos = m.end()
        is_int = not any(c in lexeme for c in ".eE")
        return JsonScalar(int(lexeme) if is_int else float(lexeme), line, lexeme)


# ---------------------------------------------------------------------------------------------
# The .apsorc dialect
# ---------------------------------------------------------------------------------------------

_ENTITY_KEYS = frozenset(
    {
        "name", "table", "created_at", "updated_at", "primaryKeyType", "fields", "indexes", "uniques",
        "scopeBy", "scopeOptions", "emitEvents", "http", "associations", "crud", "views",
    }
)  # fmt: skip
# `elementType` only accompanies `array`, which is reported as unsupported on its own.
_FIELD_KEYS = frozenset(
    {
        "name", "type", "nullable", "unique", "index", "primary", "default", "length", "precision", "scale",
        "values", "is_email", "elementType",
    }
)  # fmt: skip
_RELATIONSHIP_KEYS = frozenset(
    {
        "from", "to", "type", "to_name", "nullable", "bi_directional", "cascadeDelete", "index",
        "joinTableName", "joinColumnName", "inverseJoinColumnName",
    }
)  # fmt: skip
_ASSOCIATION_KEYS = frozenset({"name", "type", "reference_name", "nullable", "index", "join_table", "nested"})
_INDEX_KEYS = frozenset({"fields", "unique"})
_SCOPE_OPTION_KEYS = frozenset({"injectOnCreate", "enforceOn", "bypassRoles"})
_SCOPE_OPERATIONS = ("find", "get", "create", "update", "delete")
# What each ``enforceOn`` operation is in Tenantry's permissions (find and get are both reading).
_SCOPE_ACTIONS = {"find": Action.READ, "create": Action.CREATE, "update": Action.UPDATE, "delete": Action.DELETE}
_ROLE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_UNIQUE_KEYS = frozenset({"name", "fields"})
_RELATIONSHIP_TYPES = ("OneToMany", "ManyToOne", "OneToOne", "ManyToMany")
_INVERSE_TYPE = {"OneToMany": "ManyToOne", "ManyToOne": "OneToMany", "OneToOne": "OneToOne", "ManyToMany": "ManyToMany"}
APSO_PAGE_SIZE = 5
_ID_TYPES: dict[str, IdType] = {"serial": "serial", "uuid": "uuid", "text": "text"}

# Types in Apso's canonical map (`fieldTypeToColumnType`) that have no Tenantry column type yet.
# Everything else in that map is in TYPE_ALIASES.
_UNSUPPORTED_TYPES = frozenset(
    {
        "serial", "bigserial", "smallserial", "time", "timetz", "bytea", "xml", "inet", "interval",
        "tsvector", "int4range",
    }
)  # fmt: skip
# PostGIS types (Apso's JSON Schema list): served on PostgreSQL with the extension, refused where the
# app's database cannot hold them (``tenantry.db.features``).
SPATIAL_TYPES = frozenset(
    {
        "geometry", "geography", "point", "linestring", "polygon", "multipoint", "multilinestring",
        "multipolygon", "geometrycollection",
    }
)  # fmt: skip
# What an array column's elements may be (Apso's `elementType`, or `text[]`-style type names).
_ELEMENT_TYPES = (FieldType.TEXT, FieldType.STRING, FieldType.INTEGER, FieldType.FLOAT, FieldType.BOOLEAN)
_TEXT_TYPES = (FieldType.STRING, FieldType.TEXT)
_MAX_LENGTH = 10_485_760  # Postgres' limit for varchar(n)
# Apso's own limits for decimal/numeric (`validateDecimalField`), which are Postgres' limits.
_APSO_MAX_PRECISION = 131_072
_APSO_MAX_SCALE = 16_383
# Postgres `money` is a 64-bit count of cents: 19 digits, 2 of them after the point.
_MONEY_PRECISION = 19


def load_apsorc_schema(text: str, filename: str) -> Schema:
    """Load an Apso ``.apsorc`` file (version 1 or 2); raises ``SchemaError`` listing every problem."""
    problems = ProblemList(filename)
    try:
        root = read_json(text)
    except JsonSyntaxError as exc:
        problems.add(f"not valid JSON: {exc.message}", exc.line)
        problems.raise_if_any()
        raise AssertionError("unreachable") from exc
    return _Loader(problems).load(root)


@dataclass(frozen=True)
class _Relationship:
    """One relationship as Apso's v2 format states it (v1 associations are converted to this)."""

    source: str
    target: str
    kind: str
    to_name: str | None
    nullable: bool
    bi_directional: bool | None  # None: not stated, the type's own default applies
    cascade: bool
    index: bool
    location: Location
    # ManyToMany only: the @JoinTable options Apso passes through (None: TypeORM's default names).
    join_table: str | None = None
    join_column: str | None = None
    inverse_join_column: str | None = None


@dataclass(frozen=True)
class _Association:
    """One v1 entry of an entity's ``associations``."""

    entity: str
    name: str
    kind: str
    reference_name: str | None
    nullable: bool
    index: bool
    location: Location
    join_table: bool = False  # ManyToMany: this side holds the join table


@dataclass(frozen=True)
class _ForeignKey:
    """The column a relationship adds, and the names of the links it makes navigable."""

    holder: str
    field: Field
    relationship: _Relationship


@dataclass
class _EntityRead:
    draft: DraftEntity
    timestamps: list[Field]
    declared: list[Field]
    associations: list[_Association]
    associations_line: int | None


def _anchor(obj: JsonObject, key: str) -> int:
    """The line that names an object: its ``key`` member, else its first member, else its brace."""
    for m in obj.members:
        if m.key == key:
            return m.line
    return obj.members[0].line if obj.members else obj.line


def _already_plural(word: str) -> bool:
    # inflect pluralizes a plural again ("members" -> "memberss"); Apso's `pluralize` leaves it.
    single = singularize(word)
    return single != word and pluralize(single) == word


def _collection_name(word: str) -> str:
    """Apso's name for a to-many property: camelCase of the plural (``WorkspaceUser`` -> ``workspaceUsers``)."""
    return camel_case(word if _already_plural(word) else pluralize(word))


class _Loader:
    def __init__(self, problems: ProblemList) -> None:
        self.problems = problems
        self.many_to_many: list[DraftManyToMany] = []

    def loc(self, line: int) -> Location:
        return Location(self.problems.file, line)

    def report(self, message: str, line: int) -> None:
        self.problems.at(message, self.loc(line))

    # -- the file -------------------------------------------------------------------------

    def load(self, root: JsonNode) -> Schema:
        if not isinstance(root, JsonObject):
            self.report("an .apsorc file is a JSON object with 'version' and 'entities'", root.line)
            self.problems.raise_if_any()
        assert isinstance(root, JsonObject)
        # Apso's JSON Schema lags its code, so unknown top-level keys are tolerated, not reported.
        top = self.members(root, "the file", None)
        version = 1  # Apso's default when the key is absent
        if "version" in top:
            raw = top["version"].value
            if isinstance(raw, JsonScalar) and type(raw.value) is int and raw.value in (1, 2):
                version = raw.value
            else:
                self.report("'version' must be 1 or 2", top["version"].line)
        title = "Apso service"
        for key in ("service", "name"):
            node = top[key].value if key in top else None
            # Not Apso keys, so other tools may use them differently: only a plain string is a title.
            if isinstance(node, JsonScalar) and isinstance(node.value, str) and node.value.strip():
                title = node.value
                break

        reads = self.read_entities(top.get("entities"), root)
        relationships = self.read_relationships(top, reads, version)
        drafts = self.link(reads, relationships)
        # build_schema adds its own checks to the same list and raises once with all of them.
        return build_schema(drafts, self.problems, title=title, many_to_many=self.many_to_many)

    def read_entities(self, member: JsonMember | None, root: JsonObject) -> list[_EntityRead]:
        if member is None:
            self.report("the file declares no entities: add an 'entities' list", root.line)
            return []
        items = self.array(member, "'entities'")
        if items is not None and not items:
            self.report("the file declares no entities", member.line)
        reads = [self.read_entity(item) for item in items or ()]
        return [r for r in reads if r is not None]

    def read_relationships(
        self, top: dict[str, JsonMember], reads: list[_EntityRead], version: int
    ) -> list[_Relationship]:
        if version == 1:
            member = top.get("relationships")
            if member is not None and not (isinstance(member.value, JsonArray) and not member.value.items):
                self.report(
                    "top-level 'relationships' are only read in version 2 files: set \"version\": 2 "
                    "or declare 'associations' on the entities",
                    member.line,
                )
            return self.associations_to_relationships([a for r in reads for a in r.associations])
        for r in reads:
            if r.associations_line is not None:
                self.report(
                    "'associations' are only read in version 1 files: declare top-level 'relationships' instead",
                    r.associations_line,
                )
        member = top.get("relationships")
        if member is None:
            return []
        out = []
        for item in self.array(member, "'relationships'") or ():
            rel = self.read_relationship(item)
            if rel is not None:
                out.append(rel)
        return out

    # -- entities -------------------------------------------------------------------------

    def read_entity(self, node: JsonNode) -> _EntityRead | None:
        if not isinstance(node, JsonObject):
            self.report("each entity is an object with 'name' and 'fields'", node.line)
            return None
        line = _anchor(node, "name")
        name_member = next((m for m in node.members if m.key == "name"), None)
        name = self.text(name_member, "an entity's 'name'") if name_member else None
        if name_member is None:
            self.report("an entity needs a 'name'", line)
        what = f"entity '{name}'" if name else "an entity"
        keys = self.members(node, what, _ENTITY_KEYS)
        label = name or "?"
        draft = DraftEntity(name=label, location=self.loc(line), class_name=label, route=pluralize(label))
        # Apso's generated controllers use nestjsx's `alwaysPaginate: true, limit: 5`; its clients
        # expect the {data, count, total, page, pageCount} envelope on every list.
        draft.always_paginate = True
        draft.default_limit = APSO_PAGE_SIZE
        # nestjsx's ValidationPipe (`whitelist: true`) strips body keys its DTO does not declare.
        draft.unknown_keys = "drop"

        table = self.text(keys["table"], f"'table' of {what}") if "table" in keys else None
        if table is not None and not is_identifier(table):
            self.report(f"'table' of {what} must be letters, digits and '_' (max 63)", keys["table"].line)
        draft.table = table or snake_case(label)

        draft.id_type = "serial"  # Apso's default when absent: an auto-incrementing integer
        if "primaryKeyType" in keys:
            raw = self.text(keys["primaryKeyType"], f"'primaryKeyType' of {what}")
            if raw is not None and raw.lower() in _ID_TYPES:
                draft.id_type = _ID_TYPES[raw.lower()]
            elif raw is not None:
                self.report(f"'primaryKeyType' of {what} must be serial, uuid or text", keys["primaryKeyType"].line)

        timestamps = []
        if "created_at" in keys and self.flag(keys["created_at"], what):
            timestamps.append(
                Field(
                    name="created_at",
                    type=FieldType.TIMESTAMP,
                    nullable=False,
                    auto="create",
                    immutable=True,
                    location=self.loc(keys["created_at"].line),
                )
            )
        if "updated_at" in keys and self.flag(keys["updated_at"], what):
            timestamps.append(
                Field(
                    name="updated_at",
                    type=FieldType.TIMESTAMP,
                    nullable=False,
                    auto="update",
                    location=self.loc(keys["updated_at"].line),
                )
            )

        declared: list[Field] = []
        if "fields" in keys:
            for item in self.array(keys["fields"], f"'fields' of {what}") or ():
                f = self.read_field(item, label)
                # Apso renders `created_at: true` and a declared `created_at` column once; the flag wins.
                if f is not None and not any(t.name == f.name for t in timestamps):
                    declared.append(f)

        if "indexes" in keys:
            draft.indexes.extend(self.read_indexes(keys["indexes"], what, unique_list=False))
        if "uniques" in keys:
            draft.indexes.extend(self.read_indexes(keys["uniques"], what, unique_list=True))
        if "scopeBy" in keys:
            scope = self.read_scope(keys["scopeBy"], label)
            if scope is not None and "." in scope:
                # Scoped through a parent (`task.organizationId`): no tenant column of its own.
                relation, _, parent_field = scope.partition(".")
                draft.tenant, draft.tenant_via = None, (relation, parent_field)
            else:
                draft.tenant = scope
        if "scopeOptions" in keys and "scopeBy" in keys:
            self.read_scope_options(keys["scopeOptions"], label, draft)
        # emitEvents and http change Apso's generated code, not the data model (nor does
        # scopeOptions without a scopeBy: Apso's scope guard never reads it then).
        # `crud` and `views` are Tenantry's: Apso's controllers have fixed @Crud() options.
        for key in ("crud", "views"):
            if key in keys:
                at = self.loc(keys[key].line)
                raw = to_python(keys[key].value)

                def report(message: str, at: Location = at) -> None:
                    self.problems.at(message, at)

                if key == "crud":
                    draft.crud = read_crud(raw, report, at)
                else:
                    draft.views = read_views(raw, label, report, at)

        associations: list[_Association] = []
        associations_line = None
        if "associations" in keys:
            associations_line = keys["associations"].line
            for item in self.array(keys["associations"], f"'associations' of {what}") or ():
                assoc = self.read_association(item, label)
                if assoc is not None:
                    associations.append(assoc)
        if name is None:
            return None
        return _EntityRead(draft, timestamps, declared, associations, associations_line)

    def read_scope(self, member: JsonMember, entity: str) -> str | None:
        node = member.value
        paths: list[str] = []
        if isinstance(node, JsonScalar) and isinstance(node.value, str) and node.value:
            paths = [node.value]
        elif isinstance(node, JsonArray) and node.items:
            for item in node.items:
                if isinstance(item, JsonScalar) and isinstance(item.value, str) and item.value:
                    paths.append(item.value)
                else:
                    self.report(f"'scopeBy' of '{entity}' lists field names", item.line)
        else:
            self.report(f"'scopeBy' of '{entity}' must be a field name or a list of field names", member.line)
        if not paths:
            return None
        if len(paths) > 1:
            # Dropping a scope would widen what a tenant can see, so this is an error, not a warning.
            self.report(
                f"'scopeBy' of '{entity}' lists {len(paths)} fields; "
                "scoping by more than one field is not supported yet",
                member.line,
            )
        scope = paths[0]
        parts = scope.split(".")
        if len(parts) > 2 or not all(parts):
            self.report(
                f"scope path '{scope}' of '{entity}': scope by a field of its own ('organizationId') "
                "or of a parent it belongs to ('task.organizationId')",
                member.line,
            )
            return None
        return scope

    def read_scope_options(self, member: JsonMember, entity: str, draft: DraftEntity) -> None:
        """Apso's ``scopeOptions`` onto ``draft``: ``injectOnCreate`` (default true) and ``bypassRoles``.

        ``enforceOn`` (default: every operation) never unscopes anything: Tenantry scopes every
        operation, so leaving one out never opens other organizations' rows. It says which
        operations ``bypassRoles`` lifts the boundary of: users whose platform role is listed
        (the admin plugin's ``user.role``, never a role in an organization) read and write every
        organization's rows of this entity for those operations. Reading is one permission in
        Tenantry, so ``find`` and ``get`` are listed together or not at all when roles bypass.
        """
        what = f"'scopeOptions' of '{entity}'"
        if not isinstance(member.value, JsonObject):
            self.report(f"{what} must be an object", member.line)
            return
        keys = self.members(member.value, what, _SCOPE_OPTION_KEYS)
        draft.inject_tenant = self.flag(keys["injectOnCreate"], what) if "injectOnCreate" in keys else True
        enforced: set[str] | None = set(_SCOPE_OPERATIONS)
        if "enforceOn" in keys:
            ops = self.names(keys["enforceOn"], f"'enforceOn' of {what}", keys["enforceOn"].line)
            enforced = set(ops) if ops is not None else None
            for op in ops or ():
                if op not in _SCOPE_OPERATIONS:
                    self.report(
                        f"'enforceOn' of {what}: unknown operation '{op}' (one of: {', '.join(_SCOPE_OPERATIONS)})",
                        keys["enforceOn"].line,
                    )
        if "bypassRoles" not in keys:
            return
        line = keys["bypassRoles"].line
        roles = self.names(keys["bypassRoles"], f"'bypassRoles' of {what}", line)
        if roles is None or enforced is None:
            return
        bad = [r for r in roles if not _ROLE_NAME.fullmatch(r)]
        if bad:
            # The names go into row-level security policies: letters, digits, '_' and '-' only.
            self.report(
                f"'bypassRoles' of {what}: {', '.join(repr(r) for r in bad)} is not a role name "
                "(letters, digits, '_' and '-')",
                line,
            )
            return
        if len(enforced & {"find", "get"}) == 1:
            self.report(
                f"'enforceOn' of {what}: with 'bypassRoles', list 'find' and 'get' together or neither "
                "(Tenantry grants reading rows as one permission)",
                keys["enforceOn"].line,
            )
            return
        draft.bypass_roles = tuple(dict.fromkeys(roles))
        draft.bypass_actions = frozenset(action for op, action in _SCOPE_ACTIONS.items() if op in enforced)

    def read_indexes(self, member: JsonMember, what: str, *, unique_list: bool) -> list[Index]:
        key = "uniques" if unique_list else "indexes"
        out: list[Index] = []
        for item in self.array(member, f"'{key}' of {what}") or ():
            if not isinstance(item, JsonObject):
                self.report(f"each entry of '{key}' is an object with 'fields'", item.line)
                continue
            keys = self.members(item, f"an entry of '{key}'", _UNIQUE_KEYS if unique_list else _INDEX_KEYS)
            line = _anchor(item, "fields")
            fields = self.names(keys.get("fields"), f"'fields' of an entry of '{key}'", line)
            unique = True if unique_list else ("unique" in keys and self.flag(keys["unique"], what))
            name = self.text(keys["name"], "a unique constraint's 'name'") if "name" in keys else None
            if fields:
                out.append(Index(tuple(fields), unique=unique, name=name, location=self.loc(line)))
        return out

    # -- fields ---------------------------------------------------------------------------

    def read_field(self, node: JsonNode, entity: str) -> Field | None:
        if not isinstance(node, JsonObject):
            self.report(f"each field of '{entity}' is an object with 'name' and 'type'", node.line)
            return None
        line = _anchor(node, "name")
        loc = self.loc(line)
        name_member = next((m for m in node.members if m.key == "name"), None)
        name = self.text(name_member, f"a field name of '{entity}'") if name_member else None
        if name_member is None:
            self.report(f"a field of '{entity}' needs a 'name'", line)
        what = f"field '{name}'" if name else f"a field of '{entity}'"
        keys = self.members(node, what, _FIELD_KEYS)
        shape = self.array_or_spatial(keys, what)
        element, spatial = shape or (None, None)
        if shape is None:
            ftype = None  # an array of an unsupported element type, already reported
        else:
            ftype = FieldType.JSON if element or spatial else self.field_type(keys.get("type"), what, line)
        if "elementType" in keys and element is None and shape is not None:
            self.report(f"'elementType' applies to array fields, not to {what}", keys["elementType"].line)
        if name is None or ftype is None:
            return None
        type_name = str(to_python(keys["type"].value)).lower()

        keep = True
        if "primary" in keys and self.flag(keys["primary"], what):
            self.report(
                f"{what}: custom primary keys are not supported; every entity has an implicit 'id' "
                "(choose its type with the entity's 'primaryKeyType')",
                keys["primary"].line,
            )
            keep = False
        nullable = "nullable" in keys and self.flag(keys["nullable"], what, text_ok=True)
        unique = "unique" in keys and self.flag(keys["unique"], what)
        index = "index" in keys and self.flag(keys["index"], what)
        email = "is_email" in keys and self.flag(keys["is_email"], what)
        if email and ftype not in _TEXT_TYPES:
            self.report(f"'is_email' applies to text fields, not to {what} ({type_name})", keys["is_email"].line)

        enum_values: tuple[str, ...] = ()
        if ftype is FieldType.ENUM:
            enum_values = self.enum_values(keys.get("values"), what, line)
        elif "values" in keys:
            self.report(f"'values' applies to enum fields, not to {what} ({type_name})", keys["values"].line)

        length = self.length(keys.get("length"), ftype, what)
        precision, scale = self.precision_scale(keys, ftype, type_name, what)

        default: Any = None
        has_default = False
        if "default" in keys and (ftype is not FieldType.ENUM or enum_values):
            default, has_default = self.default(keys["default"], ftype, enum_values, name)
        if not has_default and ftype is FieldType.ENUM and enum_values and "default" not in keys:
            # Apso: an enum without a default defaults to its first value.
            default, has_default = enum_values[0], True
        if not has_default and ftype is FieldType.BOOLEAN:
            # Apso: a boolean column always has a default, false unless stated.
            default, has_default = False, True

        if not keep:
            return None
        return Field(
            name=name,
            type=ftype,
            # Apso columns are NOT NULL unless `nullable`; one with a default may still be omitted on create.
            required=not nullable and not has_default,
            nullable=nullable,
            unique=unique,
            index=index,
            default=default,
            has_default=has_default,
            enum_values=enum_values,
            length=length,
            precision=precision,
            scale=scale,
            email=email,
            element=element,
            spatial=spatial,
            location=loc,
        )

    def array_or_spatial(self, keys: dict[str, JsonMember], what: str) -> tuple[FieldType | None, str | None] | None:
        """The element type of an array field (``array`` + ``elementType``, or ``text[]``) or the
        PostGIS type of a spatial one; ``(None, None)`` for any other field, ``None`` for an array
        whose element type was reported as unsupported."""
        member = keys.get("type")
        raw = to_python(member.value) if member is not None else None
        if not isinstance(raw, str):
            return None, None
        lowered = raw.strip().lower()
        if lowered in SPATIAL_TYPES:
            return None, lowered
        if lowered == "array":
            elem_member = keys.get("elementType")
            elem_raw = self.text(elem_member, f"'elementType' of {what}") if elem_member else "text"
            line = elem_member.line if elem_member else member.line  # type: ignore[union-attr]
        elif lowered.endswith("[]"):
            elem_raw, line = lowered[:-2].strip(), member.line  # type: ignore[union-attr]
        else:
            return None, None
        element = TYPE_ALIASES.get((elem_raw or "").lower())
        if element not in _ELEMENT_TYPES:
            allowed = "text, varchar, integer, float, boolean"
            self.report(f"{what}: arrays of '{elem_raw}' are not supported (element types: {allowed})", line)
            return None
        # A string element's length is not kept: array elements are text.
        return (FieldType.TEXT if element is FieldType.STRING else element), None

    def field_type(self, member: JsonMember | None, what: str, line: int) -> FieldType | None:
        if member is None:
            self.report(f"{what} needs a 'type'", line)
            return None
        raw = self.text(member, f"'type' of {what}")
        if raw is None:
            return None
        lowered = raw.lower()
        if lowered in TYPE_ALIASES:
            return TYPE_ALIASES[lowered]
        if lowered in _UNSUPPORTED_TYPES:
            self.report(f"{what}: type '{raw}' is not supported yet", member.line)
            return None
        known = sorted(set(TYPE_ALIASES) | _UNSUPPORTED_TYPES | SPATIAL_TYPES | {"array"})
        close = difflib.get_close_matches(lowered, known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        self.report(f"{what}: unknown type '{raw}'{hint}", member.line)
        return None

    def enum_values(self, member: JsonMember | None, what: str, line: int) -> tuple[str, ...]:
        if member is None:
            self.report(f'enum {what} needs \'values\', e.g. "values": ["Active", "Inactive"]', line)
            return ()
        values = self.names(member, f"'values' of {what}", member.line)
        if values is not None and not values:
            self.report(f"enum {what} has an empty 'values' list", member.line)
        values = values or []
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            self.report(f"enum {what} repeats {', '.join(dupes)}", member.line)
        return tuple(dict.fromkeys(values))

    def length(self, member: JsonMember | None, ftype: FieldType, what: str) -> int | None:
        if member is None:
            return None
        raw = to_python(member.value)
        # Apso's JSON Schema allows the length as a number or as a string of digits.
        value = int(raw) if isinstance(raw, str) and raw.isascii() and raw.isdigit() else raw
        if ftype not in _TEXT_TYPES:
            self.report(f"'length' applies to text and string fields, not to {what}", member.line)
            return None
        if type(value) is not int or not 1 <= value <= _MAX_LENGTH:
            self.report(f"'length' of {what} must be a whole number between 1 and {_MAX_LENGTH}", member.line)
            return None
        # Apso ignores `length` on `text` columns; Tenantry keeps it as the maximum length to validate.
        return value

    def precision_scale(
        self, keys: dict[str, JsonMember], ftype: FieldType, type_name: str, what: str
    ) -> tuple[int | None, int | None]:
        if ftype is not FieldType.DECIMAL:
            for key in ("precision", "scale"):
                if key in keys:
                    self.report(f"'{key}' applies to decimal and numeric fields, not to {what}", keys[key].line)
            return None, None
        default_precision = _MONEY_PRECISION if type_name == "money" else DEFAULT_PRECISION
        precision = self.whole(keys.get("precision"), what) if "precision" in keys else default_precision
        scale = self.whole(keys.get("scale"), what) if "scale" in keys else DEFAULT_SCALE
        ok = True
        if precision is not None and not 1 <= precision <= _APSO_MAX_PRECISION:
            self.report(f"'precision' of {what} must be between 1 and {_APSO_MAX_PRECISION}", keys["precision"].line)
            ok = False
        elif precision is not None and precision > MAX_PRECISION:
            self.report(
                f"'precision' of {what} is {precision}; Tenantry supports at most {MAX_PRECISION}",
                keys["precision"].line,
            )
            ok = False
        if scale is not None and not 0 <= scale <= _APSO_MAX_SCALE:
            self.report(f"'scale' of {what} must be between 0 and {_APSO_MAX_SCALE}", keys["scale"].line)
            ok = False
        elif ok and precision is not None and scale is not None and scale > precision:
            where = keys["scale"].line if "scale" in keys else keys["precision"].line
            note = "" if "scale" in keys else f" (scale defaults to {DEFAULT_SCALE})"
            self.report(f"'scale' ({scale}) of {what} cannot be greater than its precision ({precision}){note}", where)
        return precision, scale

    def default(
        self, member: JsonMember, ftype: FieldType, enum_values: tuple[str, ...], name: str
    ) -> tuple[Any, bool]:
        node = member.value
        raw: Any
        if isinstance(node, JsonScalar):
            raw = node.value
            if raw is None:
                return None, False
            if isinstance(raw, bool) and ftype in (*_TEXT_TYPES, FieldType.ENUM):
                raw = "true" if raw else "false"  # JSON's spelling, as Apso would write it
            elif ftype is FieldType.DECIMAL and node.lexeme:
                raw = node.lexeme
        elif ftype is FieldType.JSON:
            raw = to_python(node)
        else:
            self.report(f"the default of field '{name}' must be a single value", member.line)
            return None, False
        try:
            # parse_default reads the string "false" as False: Apso's `Boolean("false")` is a bug not to copy.
            return parse_default(ftype, raw, enum_values), True
        except DefaultValueError as exc:
            self.report(f"field '{name}': {exc}", member.line)
            return None, False

    # -- relationships --------------------------------------------------------------------

    def read_relationship(self, node: JsonNode) -> _Relationship | None:
        if not isinstance(node, JsonObject):
            self.report("each relationship is an object with 'from', 'to' and 'type'", node.line)
            return None
        line = _anchor(node, "from")
        keys = self.members(node, "a relationship", _RELATIONSHIP_KEYS)
        ends: list[str | None] = []
        for key in ("from", "to"):
            if key in keys:
                ends.append(self.text(keys[key], f"'{key}' of a relationship"))
            else:
                self.report(f"a relationship needs '{key}'", line)
                ends.append(None)
        kind = self.relationship_type(keys.get("type"), line)
        to_name = self.text(keys["to_name"], "'to_name'") if "to_name" in keys else None
        nullable = "nullable" in keys and self.flag(keys["nullable"], "a relationship", text_ok=True)
        bi = self.flag(keys["bi_directional"], "a relationship") if "bi_directional" in keys else None
        cascade = "cascadeDelete" in keys and self.flag(keys["cascadeDelete"], "a relationship")
        index = "index" in keys and self.flag(keys["index"], "a relationship")
        join = [
            self.text(keys[k], f"'{k}'") if k in keys else None
            for k in ("joinTableName", "joinColumnName", "inverseJoinColumnName")
        ]
        source, target = ends
        if source is None or target is None or kind is None:
            return None
        if kind != "ManyToMany" and any(join):
            self.report("'joinTableName', 'joinColumnName' and 'inverseJoinColumnName' apply to ManyToMany only", line)
        return _Relationship(source, target, kind, to_name, nullable, bi, cascade, index, self.loc(line), *join)

    def read_association(self, node: JsonNode, entity: str) -> _Association | None:
        if not isinstance(node, JsonObject):
            self.report(f"each association of '{entity}' is an object with 'name' and 'type'", node.line)
            return None
        line = _anchor(node, "name")
        keys = self.members(node, f"an association of '{entity}'", _ASSOCIATION_KEYS)
        name = self.text(keys["name"], "an association's 'name'") if "name" in keys else None
        if "name" not in keys:
            self.report(f"an association of '{entity}' needs a 'name' (the related entity)", line)
        kind = self.relationship_type(keys.get("type"), line)
        reference = self.text(keys["reference_name"], "'reference_name'") if "reference_name" in keys else None
        nullable = "nullable" in keys and self.flag(keys["nullable"], "an association", text_ok=True)
        index = "index" in keys and self.flag(keys["index"], "an association")
        owns = "join_table" in keys and self.flag(keys["join_table"], "an association")
        if name is None or kind is None:
            return None
        return _Association(entity, name, kind, reference, nullable, index, self.loc(line), owns)

    def relationship_type(self, member: JsonMember | None, line: int) -> str | None:
        if member is None:
            self.report(f"a relationship needs a 'type' ({', '.join(_RELATIONSHIP_TYPES)})", line)
            return None
        raw = self.text(member, "a relationship's 'type'")
        if raw is None or raw in _RELATIONSHIP_TYPES:
            return raw
        match = next((t for t in _RELATIONSHIP_TYPES if t.lower() == raw.lower()), None)
        close = [match] if match else difflib.get_close_matches(raw, _RELATIONSHIP_TYPES, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        self.report(f"unknown relationship type '{raw}'{hint}; expected {', '.join(_RELATIONSHIP_TYPES)}", member.line)
        return None

    def associations_to_relationships(self, associations: list[_Association]) -> list[_Relationship]:
        """Apso's ``parseV1Relationships``: pair each association with its inverse and keep one declaration."""
        out: list[_Relationship] = []
        for a in associations:
            inverse = None
            if a.entity != a.name:
                inverse = next(
                    (
                        b
                        for b in associations
                        if b.entity == a.name and b.name == a.entity and b.kind == _INVERSE_TYPE[a.kind]
                    ),
                    None,
                )
            if a.kind == "ManyToOne" and inverse is not None:
                continue  # the OneToMany side declares this link
            if a.kind == "ManyToMany" and inverse is not None:
                # One join table for both declarations: the side with `join_table` holds it, else the first.
                if inverse.join_table and not a.join_table:
                    continue
                if inverse.join_table == a.join_table and associations.index(inverse) < associations.index(a):
                    continue
            index = inverse.index if a.kind == "OneToMany" and inverse is not None else a.index
            # Apso makes every OneToMany navigable both ways, with or without an inverse declared.
            bi = None if a.kind == "OneToMany" else inverse is not None
            nullable = a.nullable or (inverse.nullable if inverse is not None else False)
            out.append(
                _Relationship(a.entity, a.name, a.kind, a.reference_name, nullable, bi, False, index, a.location)
            )
        return out

    def link(self, reads: list[_EntityRead], relationships: list[_Relationship]) -> list[DraftEntity]:
        """Turn relationships into foreign-key fields and return the drafts, fields in Apso's column order."""
        by_name: dict[str, _EntityRead] = {}
        for r in reads:
            by_name.setdefault(r.draft.name, r)
        valid: list[_Relationship] = []
        for rel in relationships:
            if rel.kind == "ManyToMany":
                self.many_to_many.append(_join_table(rel))
                continue
            known = True
            for role, name in (("from", rel.source), ("to", rel.target)):
                if name not in by_name:
                    self.problems.at(
                        f"relationship {role} unknown entity '{name}'{_did_you_mean(name, by_name)}", rel.location
                    )
                    known = False
            if known:
                valid.append(rel)

        fks: dict[str, dict[str, _ForeignKey]] = {name: {} for name in by_name}
        for fk in self.plan_foreign_keys(valid):
            holder = by_name[fk.holder]
            taken = {f.name: f for f in (*holder.timestamps, *holder.declared)}
            name = fk.field.name
            if name in taken:
                self.problems.at(
                    f"the relationship to '{fk.field.references}' adds the field '{name}' to '{fk.holder}', "
                    f"which already declares it (line {_line(taken[name].location)})",
                    fk.relationship.location,
                )
                continue
            existing = fks[fk.holder].get(name)
            if existing is None:
                fks[fk.holder][name] = fk
            elif _mirrored(existing.relationship, fk.relationship):
                merged = self.merge_mirrored(existing, fk)
                if merged is not None:
                    fks[fk.holder][name] = merged
            else:
                self.problems.at(
                    f"'{fk.holder}' gets the foreign key '{name}' twice (first from the relationship at line "
                    f"{_line(existing.relationship.location)}); give one of them a 'to_name'",
                    fk.relationship.location,
                )

        self.disambiguate_inverses(fks, by_name)
        drafts = []
        for r in reads:
            r.draft.fields = [*r.timestamps, *r.declared, *(fk.field for fk in fks.get(r.draft.name, {}).values())]
            drafts.append(r.draft)
        return drafts

    def plan_foreign_keys(self, relationships: list[_Relationship]) -> list[_ForeignKey]:
        out: list[_ForeignKey] = []
        consumed: set[int] = set()
        for i, rel in enumerate(relationships):
            if i in consumed:
                continue
            if rel.kind == "OneToOne" and rel.source != rel.target:
                # A bidirectional OneToOne declared from both sides is one link with one foreign key.
                j = next(
                    (
                        j
                        for j, other in enumerate(relationships)
                        if j > i and j not in consumed and other.kind == "OneToOne"
                        and (other.source, other.target) == (rel.target, rel.source)
                    ),
                    None,
                )  # fmt: skip
                if j is not None and (rel.bi_directional or relationships[j].bi_directional):
                    consumed.add(j)
                    owner, other = _one_to_one_owner(rel, relationships[j])
                    fk = _foreign_key(owner)
                    inverse = camel_case(other.to_name or owner.source)
                    out.append(replace(fk, field=replace(fk.field, inverse_name=inverse)))
                    continue
            out.append(_foreign_key(rel))
        return out

    def merge_mirrored(self, first: _ForeignKey, second: _ForeignKey) -> _ForeignKey | None:
        """``OneToMany A->B`` and ``ManyToOne B->A`` describe one foreign key; Apso keeps one, so do we."""
        for attr, key in (("nullable", "nullable"), ("on_delete", "cascadeDelete")):
            if getattr(first.field, attr) != getattr(second.field, attr):
                self.problems.at(
                    f"this relationship and the one at line {_line(first.relationship.location)} describe the same "
                    f"foreign key '{first.field.name}' but disagree on '{key}'",
                    second.relationship.location,
                )
                return None
        # The OneToMany side names the collection (its `to_name`), so its inverse name wins.
        one_to_many = first if first.relationship.kind == "OneToMany" else second
        inverse = one_to_many.field.inverse_name or first.field.inverse_name or second.field.inverse_name
        merged = replace(first.field, inverse_name=inverse, index=first.field.index or second.field.index)
        return replace(first, field=merged)

    def disambiguate_inverses(self, fks: dict[str, dict[str, _ForeignKey]], by_name: dict[str, _EntityRead]) -> None:
        """Give each to-many link on an entity its own name.

        Two links from ``ApplicationService`` to ``InfrastructureStack`` (``networkStack`` and
        ``databaseStack``) would both be called ``applicationServices`` there. Apso keeps only the
        first; here the first keeps the plain name and later ones add the link's name
        (``applicationServicesByDatabaseStack``), so every link stays navigable.
        """
        used: dict[str, set[str]] = {
            name: {f.name for f in (*r.timestamps, *r.declared)} | {f.relation_name or "" for f in _fields(fks[name])}
            for name, r in by_name.items()
        }
        for holder in fks:
            for key, fk in fks[holder].items():
                inverse, target = fk.field.inverse_name, fk.field.references
                if not inverse or target is None:
                    continue
                if inverse in used[target]:
                    inverse = f"{inverse}By{pascal_case(fk.field.relation_name or fk.field.name)}"
                used[target].add(inverse)
                fks[holder][key] = replace(fk, field=replace(fk.field, inverse_name=inverse))

    # -- value helpers --------------------------------------------------------------------

    def members(self, obj: JsonObject, what: str, known: frozenset[str] | None) -> dict[str, JsonMember]:
        """The object's members by key; reports repeated keys and, when ``known`` is given, unknown ones."""
        out: dict[str, JsonMember] = {}
        for m in obj.members:
            if m.key in out:
                self.report(f"duplicate key '{m.key}' in {what} (first at line {out[m.key].line})", m.line)
                continue
            if known is not None and m.key not in known:
                close = difflib.get_close_matches(m.key, sorted(known), n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(sorted(known))}"
                self.report(f"unknown key '{m.key}' in {what} ({hint})", m.line)
                continue
            out[m.key] = m
        return out

    def text(self, member: JsonMember, what: str) -> str | None:
        node = member.value
        if isinstance(node, JsonScalar) and isinstance(node.value, str) and node.value.strip():
            return node.value
        self.report(f"{what} must be a non-empty string", member.line)
        return None

    def flag(self, member: JsonMember, what: str, *, text_ok: bool = False) -> bool:
        node = member.value
        if isinstance(node, JsonScalar):
            if isinstance(node.value, bool):
                return node.value
            # Apso's JSON Schema lets `nullable` be the strings "true"/"false" as well.
            if text_ok and node.value in ("true", "false"):
                return node.value == "true"
        self.report(f"'{member.key}' of {what} must be true or false", member.line)
        return False

    def whole(self, member: JsonMember | None, what: str) -> int | None:
        if member is None:
            return None
        node = member.value
        if isinstance(node, JsonScalar) and type(node.value) is int:
            return node.value
        self.report(f"'{member.key}' of {what} must be a whole number", member.line)
        return None

    def array(self, member: JsonMember, what: str) -> tuple[JsonNode, ...] | None:
        if isinstance(member.value, JsonArray):
            return member.value.items
        self.report(f"{what} must be a list", member.line)
        return None

    def names(self, member: JsonMember | None, what: str, line: int) -> list[str] | None:
        """A list of non-empty strings (index fields, enum values); None after reporting a problem."""
        if member is None:
            self.report(f"{what} is missing", line)
            return None
        items = self.array(member, what)
        if items is None:
            return None
        out: list[str] = []
        for item in items:
            if isinstance(item, JsonScalar) and isinstance(item.value, str) and item.value:
                out.append(item.value)
            else:
                self.report(f"{what} must list non-empty strings", item.line)
                return None
        return out


def _foreign_key(rel: _Relationship) -> _ForeignKey:
    """The foreign key one relationship adds, named as Apso's generator names it.

    ``OneToMany A->B`` puts ``aId`` on B (``to_name`` names A's collection); ``ManyToOne A->B``
    and ``OneToOne A->B`` put ``<to_name or b>Id`` on A.
    """
    if rel.kind == "OneToMany":
        holder, target = rel.target, rel.source
        base = camel_case(rel.source)
        two_way = rel.bi_directional is not False
        inverse = _collection_name(rel.to_name or rel.target) if two_way else ""
    else:
        holder, target = rel.source, rel.target
        base = camel_case(rel.to_name or rel.target)
        if rel.kind == "ManyToOne":
            # Bidirectional unless switched off; a self-reference stays one-way, as in Apso.
            two_way = rel.bi_directional is not False and rel.source != rel.target
            inverse = _collection_name(rel.source) if two_way else ""
        else:  # OneToOne: one-way unless asked for
            two_way = bool(rel.bi_directional) and rel.source != rel.target
            inverse = camel_case(rel.source) if two_way else ""
    field = Field(
        name=f"{base}Id",
        # A placeholder: build_schema retypes every foreign key to the type of the id it points to.
        type=FieldType.UUID,
        required=not rel.nullable,
        nullable=rel.nullable,
        unique=rel.kind == "OneToOne",
        index=rel.index,
        references=target,
        on_delete="cascade" if rel.cascade else "restrict",
        relation_name=base,
        inverse_name=inverse,
        location=rel.location,
    )
    return _ForeignKey(holder, field, rel)


def _join_table(rel: _Relationship) -> DraftManyToMany:
    """A ManyToMany as Apso generates it: ``@ManyToMany() @JoinTable() <plural of to_name or target>``
    on ``from``; TypeORM names the table and columns unless the relationship does."""
    inverse = None if rel.bi_directional is False or rel.source == rel.target else _collection_name(rel.source)
    return DraftManyToMany(
        owner=rel.source,
        target=rel.target,
        name=_collection_name(rel.to_name or rel.target),
        inverse=inverse,
        location=rel.location,
        table=rel.join_table,
        owner_column=rel.join_column,
        target_column=rel.inverse_join_column,
    )


def _one_to_one_owner(a: _Relationship, b: _Relationship) -> tuple[_Relationship, _Relationship]:
    """Which of two mirrored OneToOne declarations holds the key: Apso's rule is the one without ``to_name``."""
    if b.to_name is None and a.to_name is not None:
        return b, a
    return a, b


def _mirrored(a: _Relationship, b: _Relationship) -> bool:
    return {a.kind, b.kind} == {"OneToMany", "ManyToOne"} and (a.source, a.target) == (b.target, b.source)


def _fields(fks: dict[str, _ForeignKey]) -> list[Field]:
    return [fk.field for fk in fks.values()]


def _did_you_mean(name: str, known: dict[str, _EntityRead]) -> str:
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1)
    return f" (did you mean '{lowered[close[0]]}'?)" if close else ""


def _line(loc: Location | None) -> str:
    return str(loc.line) if loc else "?"
