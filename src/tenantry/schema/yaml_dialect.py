"""Load the seed's schema dialect, and its extended form, from YAML-like text.

The seed writes fields as ``role: enum(admin, member, viewer) (default: member)``. That is not
valid YAML (a plain scalar may not contain ``": "``), so field lines are quoted before parsing,
keeping every line where it was so that errors point at the user's own line numbers. Parsing
stops at the node tree (``yaml.compose``) because nodes carry their line and keep duplicate keys
visible, which ``yaml.safe_load`` would silently drop.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tenantry.schema.appearance import check_menu_entities, entity_menu_options, read_app_display
from tenantry.schema.build import AUTO, DraftEntity, DraftManyToMany, build_schema
from tenantry.schema.crud import read_crud, read_views
from tenantry.schema.errors import ProblemList
from tenantry.schema.fieldspec import SpecError, parse_field_spec
from tenantry.schema.model import Action, AppDisplay, Display, Field, FieldType, Index, Location, Permissions, Schema
from tenantry.schema.naming import humanize, singularize, snake_case
from tenantry.schema.types import DEFAULT_PRECISION, DEFAULT_SCALE, MAX_PRECISION, DefaultValueError, parse_default

# Top-level keys of the seed's block that describe the service rather than an entity.
_META_KEYS = {"service name", "environment", "schema definition", "service", "version"}
_SETTINGS_KEYS = {"settings", "tenantry"}
_FIELD_LINE = re.compile(r"^(?P<head>\s*(?:-\s+)?[A-Za-z_][\w]*\s*:\s+)(?P<spec>[A-Za-z_][\w-]*\s*\(.*)$")
_ENTITY_OPTIONS = {
    "fields",
    "table",
    "route",
    "id",
    "tenant",
    "owner",
    "permissions",
    "indexes",
    "unique",
    "soft_delete",
    "paginate",
    "limit",
    "display",
    "label",
    "title_field",
    "crud",
    "views",
    "many_to_many",
    "unknown_fields",
}
_MANY_TO_MANY_KEYS = {"to", "inverse", "table", "column", "target_column"}


_DISPLAY_KEYS = {"plural", "singular", "name", "title", "title_field", "icon", "group", "menu"}

# LibYAML's parser (in PyYAML's wheels) when present: the same nodes and line marks, a fraction of
# the pure-Python parser's time. A schema is read by every start of a server (and its check).
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml_schema(text: str, filename: str = "<schema>") -> Schema:
    """Parse schema text in the seed dialect (or its extended form); raises ``SchemaError``."""
    problems = ProblemList(filename)
    try:
        root = yaml.compose(_quote_field_lines(text), Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problems.fail(f"not valid YAML: {exc.problem or exc.context}", mark.line + 1 if mark else None)
    if root is None:
        problems.fail("the schema is empty: declare at least one entity", 1)
    reader = _Reader(problems)
    return reader.read(root)


def _quote_field_lines(text: str) -> str:
    out = []
    for line in text.splitlines():
        m = _FIELD_LINE.match(line)
        if m and not m.group("spec").lstrip().startswith(("'", '"', "[", "{")):
            spec = _strip_comment(m.group("spec")).rstrip()
            line = m.group("head") + "'" + spec.replace("'", "''") + "'"
        out.append(line)
    return "\n".join(out) + "\n"


def _strip_comment(spec: str) -> str:
    """Drop a trailing ``# comment`` that sits outside parentheses and quotes."""
    depth, quote = 0, ""
    for i, ch in enumerate(spec):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "#" and depth == 0 and (i == 0 or spec[i - 1].isspace()):
            return spec[:i]
    return spec


def _line(node: Node) -> int:
    return node.start_mark.line + 1


class _Reader:
    def __init__(self, problems: ProblemList) -> None:
        self.problems = problems
        self.title = "Tenantry"
        self.roles: tuple[str, ...] = ("admin", "member", "viewer")
        self.options: dict[str, Any] = {}
        self.app = AppDisplay()
        self.app_location: Location | None = None
        self.many_to_many: list[DraftManyToMany] = []

    def loc(self, node: Node) -> Location:
        return Location(self.problems.file, _line(node))

    def read(self, root: Node) -> Schema:
        if not isinstance(root, MappingNode):
            self.problems.fail("the schema must be a mapping of entity names to their fields", _line(root))
        drafts: list[DraftEntity] = []
        for key_node, value in root.value:
            key = str(key_node.value)
            lowered = " ".join(key.lower().split())
            if lowered in _META_KEYS:
                if lowered == "service name" and isinstance(value, ScalarNode) and value.value:
                    self.title = str(value.value)
                if lowered == "schema definition" and isinstance(value, MappingNode):
                    drafts.extend(self.read_entities(value))
                continue
            if lowered in _SETTINGS_KEYS:
                self.read_settings(value)
                continue
            drafts.extend(self.read_entities_pair(key_node, value))
        if not drafts and not self.problems.problems:
            self.problems.add("the schema declares no entities", _line(root))
        check_menu_entities(self.app.menu, [d.name for d in drafts], self.app_location, self.problems)
        # Cross-entity checks run even when fields had problems, so every mistake shows at once.
        return build_schema(
            drafts,
            self.problems,
            title=self.title,
            roles=self.roles,
            options=self.options,
            many_to_many=self.many_to_many,
            app=self.app,
        )

    def read_entities(self, mapping: MappingNode) -> list[DraftEntity]:
        out: list[DraftEntity] = []
        for key_node, value in mapping.value:
            out.extend(self.read_entities_pair(key_node, value))
        return out

    def read_entities_pair(self, key_node: Node, value: Node) -> list[DraftEntity]:
        name = str(key_node.value)
        draft = DraftEntity(name=name, location=self.loc(key_node))
        if isinstance(value, SequenceNode):
            draft.fields = self.read_field_list(value)
        elif isinstance(value, MappingNode):
            self.read_extended(draft, value)
        else:
            self.problems.at(
                f"entity '{name}' needs a list of fields, e.g. '  - name: string (required)'", self.loc(key_node)
            )
            return []
        return [draft]

    # -- fields -----------------------------------------------------------------------------

    def read_field_list(self, seq: SequenceNode) -> list[Field]:
        fields: list[Field] = []
        for item in seq.value:
            if isinstance(item, MappingNode):
                for k, v in item.value:
                    f = self.read_field(k, v)
                    if f is not None:
                        fields.append(f)
            else:
                self.problems.at("expected 'name: type (modifiers)'", self.loc(item))
        return fields

    def read_field_map(self, mapping: MappingNode) -> list[Field]:
        fields = []
        for k, v in mapping.value:
            f = self.read_field(k, v)
            if f is not None:
                fields.append(f)
        return fields

    def read_field(self, key: Node, value: Node) -> Field | None:
        name = str(key.value)
        loc = self.loc(key)
        if not isinstance(value, ScalarNode) or value.value in (None, ""):
            self.problems.at(f"field '{name}' needs a type, e.g. '{name}: string'", loc)
            return None
        try:
            spec = parse_field_spec(str(value.value))
        except SpecError as exc:
            self.problems.at(f"field '{name}': {exc}", loc)
            return None
        return field_from_spec(name, spec, loc, self.problems)

    # -- extended form ---------------------------------------------------------------------

    def read_extended(self, draft: DraftEntity, mapping: MappingNode) -> None:
        keys = {str(k.value) for k, _ in mapping.value}
        if "fields" not in keys:
            self.problems.at(f"entity '{draft.name}' is written as a mapping but has no 'fields:' list", draft.location)
            return
        for key_node, value in mapping.value:
            key = str(key_node.value)
            loc = self.loc(key_node)
            if key not in _ENTITY_OPTIONS:
                self.problems.at(
                    f"unknown option '{key}' for entity '{draft.name}' (options: {', '.join(sorted(_ENTITY_OPTIONS))})",
                    loc,
                )
                continue
            if key == "fields":
                if isinstance(value, SequenceNode):
                    draft.fields = self.read_field_list(value)
                elif isinstance(value, MappingNode):
                    draft.fields = self.read_field_map(value)
                else:
                    self.problems.at("'fields' must be a list or a mapping of fields", loc)
            elif key in ("table", "route"):
                setattr(draft, key, self.scalar(value))
            elif key == "id":
                id_type = (self.scalar(value) or "").lower()
                if id_type in ("uuid", "text", "serial", "bigserial"):
                    draft.id_type = id_type  # type: ignore[assignment]
                else:
                    self.problems.at("'id' must be one of: uuid, text, serial, bigserial", loc)
            elif key in ("tenant", "owner"):
                raw = self.plain(value)
                setattr(
                    draft, key, None if raw in (None, False, "none") else AUTO if raw in ("auto", True) else str(raw)
                )
            elif key == "permissions":
                draft.permissions = self.read_permissions(value)
            elif key in ("indexes", "unique"):
                draft.indexes.extend(self.read_indexes(value, unique=key == "unique"))
            elif key == "soft_delete":
                draft.soft_delete = self.boolean(value)
            elif key == "paginate":
                raw = self.plain(value)
                if raw not in ("always", "auto", True, False):
                    self.problems.at("'paginate' must be 'always' or 'auto'", loc)
                draft.always_paginate = raw in ("always", True)
            elif key == "limit":
                draft.default_limit = self.positive_int(value)
            elif key in ("display", "label"):
                draft.display = self.read_display(draft, value)
            elif key == "title_field":
                draft.title_field = self.scalar(value)
            elif key == "many_to_many":
                self.read_many_to_many(draft, value)
            elif key == "crud":
                draft.crud = read_crud(self.plain(value), self.reporter(loc), loc)
            elif key == "views":
                draft.views = read_views(self.plain(value), draft.name, self.reporter(loc), loc)
            elif key == "unknown_fields":
                raw = self.scalar(value)
                if raw in ("reject", "drop"):
                    draft.unknown_keys = raw  # type: ignore[assignment]
                else:
                    self.problems.at("'unknown_fields' must be 'reject' (a 400, the default) or 'drop'", loc)

    def read_many_to_many(self, draft: DraftEntity, node: Node) -> None:
        """``many_to_many: {categories: categories}`` or ``{tags: {to: tags, inverse: posts, table: …}}``.

        The join table defaults to ``<entity>_<relation>`` with ``<singular entity>_id`` and
        ``<singular target>_id`` columns; the target sees the link under ``inverse`` (default: this
        entity's name; ``false``: one-way).
        """
        if not isinstance(node, MappingNode):
            self.problems.at("'many_to_many' maps relation names to entities", self.loc(node))
            return
        for key_node, value in node.value:
            name = str(key_node.value)
            loc = self.loc(key_node)
            options: dict[str, Any] = {}
            if isinstance(value, ScalarNode):
                options["to"] = str(value.value)
            elif isinstance(value, MappingNode):
                raw = self.plain(value)
                unknown = set(raw) - _MANY_TO_MANY_KEYS
                if unknown:
                    self.problems.at(
                        f"unknown key '{sorted(unknown)[0]}' in many-to-many '{name}' "
                        f"(keys: {', '.join(sorted(_MANY_TO_MANY_KEYS))})",
                        loc,
                    )
                    continue
                options = raw
            target = options.get("to")
            if not isinstance(target, str) or not target:
                self.problems.at(f"many-to-many '{name}' of '{draft.name}' needs 'to: <entity>'", loc)
                continue
            inverse = options.get("inverse", draft.name)
            owner_table = snake_case(draft.name)
            near = str(options.get("column") or f"{singularize(owner_table)}_id")
            far = str(options.get("target_column") or f"{singularize(snake_case(target))}_id")
            if near == far and "target_column" not in options:
                far = f"{singularize(snake_case(name))}_id"
            self.many_to_many.append(
                DraftManyToMany(
                    owner=draft.name,
                    target=target,
                    name=name,
                    inverse=str(inverse) if inverse not in (None, False, "") else None,
                    location=loc,
                    table=str(options.get("table") or f"{owner_table}_{snake_case(name)}"),
                    owner_column=near,
                    target_column=far,
                )
            )

    def reporter(self, loc: Location) -> Callable[[str], None]:
        """Report messages at ``loc`` (the option's line)."""

        def report(message: str) -> None:
            self.problems.at(message, loc)

        return report

    def read_permissions(self, node: Node) -> Permissions | None:
        if not isinstance(node, MappingNode):
            self.problems.at("'permissions' maps each role to its actions, e.g. 'viewer: [read]'", self.loc(node))
            return None
        grants: dict[str, frozenset[Action]] = {}
        own: set[tuple[str, Action]] = set()
        for role_node, actions_node in node.value:
            role = str(role_node.value)
            raw = self.plain(actions_node)
            items: list[str]
            if isinstance(raw, list):
                items = [str(x) for x in raw]
            elif raw is None or str(raw).lower() == "none":
                items = []
            elif str(raw).lower() == "all":
                items = [a.value for a in Action]
            else:
                items = [s.strip() for s in str(raw).split(",")]
            acts: set[Action] = set()
            for item in items:
                word, _, scope = item.replace(" ", ":").partition(":")
                try:
                    action = Action(word.strip().lower())
                except ValueError:
                    self.problems.at(
                        f"unknown action '{word}' for role '{role}' (actions: read, create, update, delete; "
                        "add ':own' to limit update/delete to rows the user created)",
                        self.loc(role_node),
                    )
                    continue
                acts.add(action)
                if scope.strip().lower() == "own":
                    own.add((role, action))
                elif scope.strip():
                    self.problems.at(f"unknown scope '{scope}' in '{item}' (only ':own')", self.loc(role_node))
            grants[role] = frozenset(acts)
        return Permissions(grants=grants, own=frozenset(own), location=self.loc(node))

    def read_indexes(self, node: Node, *, unique: bool) -> list[Index]:
        if not isinstance(node, SequenceNode):
            self.problems.at("indexes are a list, e.g. '- [org_id, created_at desc]'", self.loc(node))
            return []
        out = []
        for item in node.value:
            raw = self.plain(item)
            is_unique, name = unique, None
            if isinstance(raw, dict):
                cols = raw.get("fields") or raw.get("columns")
                is_unique = bool(raw.get("unique", unique))
                name = raw.get("name")
            else:
                cols = raw
            if isinstance(cols, str):
                cols = [c.strip() for c in cols.split(",")]
            if not isinstance(cols, list) or not cols:
                self.problems.at("an index needs a list of fields", self.loc(item))
                continue
            names, desc = [], set()
            for col in cols:
                parts = str(col).split()
                names.append(parts[0])
                if len(parts) > 1 and parts[1].lower() == "desc":
                    desc.add(parts[0])
            out.append(
                Index(tuple(names), unique=is_unique, name=name, descending=frozenset(desc), location=self.loc(item))
            )
        return out

    def read_display(self, draft: DraftEntity, node: Node) -> Display | None:
        raw = self.plain(node)
        if isinstance(raw, str):
            return Display(plural=raw, singular=singularize(raw))
        if isinstance(raw, dict):
            for key in raw:
                if key not in _DISPLAY_KEYS:
                    self.problems.at(
                        f"unknown display option {key!r} for entity '{draft.name}' "
                        f"(options: {', '.join(sorted(_DISPLAY_KEYS))})",
                        self.loc(node),
                    )
            plural = str(raw.get("plural") or raw.get("name") or humanize(draft.name))
            return Display(
                plural=plural,
                singular=str(raw.get("singular") or singularize(plural)),
                title_field=raw.get("title") or raw.get("title_field") or draft.title_field,
                **entity_menu_options(raw, draft.name, self.loc(node), self.problems),
            )
        self.problems.at(
            "'display' is a name or a mapping with plural, singular, title, icon, group, menu", self.loc(node)
        )
        return None

    def read_settings(self, node: Node) -> None:
        raw = self.plain(node)
        if not isinstance(raw, dict):
            self.problems.at("'settings' must be a mapping", self.loc(node))
            return
        # Where each nested setting was written (``billing.plans.pro.limits``), so capabilities that
        # read their own settings (billing) can report mistakes as FILE:LINE.
        self.options["_file"] = self.problems.file
        self.options["_lines"] = _key_lines(node)
        for key, value in raw.items():
            if key == "title":
                self.title = str(value)
            elif key == "display":
                lines = self.options["_lines"]
                where = lines.get("display.menu", lines.get("display", _line(node)))
                self.app_location = Location(self.problems.file, where)

                def line_of(sub: str, lines: dict[str, int] = lines) -> Location:
                    path = f"display.{sub}" if sub else "display"
                    return Location(self.problems.file, lines.get(path, lines.get("display", _line(node))))

                self.app = read_app_display(value, self.problems.file, line_of, self.problems)
            elif key == "roles":
                if not isinstance(value, list) or not value or not all(isinstance(r, str) for r in value):
                    self.problems.at("'roles' must be a list of role names", self.loc(node))
                else:
                    self.roles = tuple(value)
            elif key in ("max_limit", "default_limit"):
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    self.problems.at(f"'{key}' must be a positive integer", self.loc(node))
                else:
                    self.options[key] = value
            else:
                self.options[key] = value

    # -- scalar helpers ---------------------------------------------------------------------

    def plain(self, node: Node) -> Any:
        return SafeConstructor().construct_document(node) if node is not None else None

    def scalar(self, node: Node) -> str | None:
        if isinstance(node, ScalarNode):
            return str(node.value)
        self.problems.at("expected a single value", self.loc(node))
        return None

    def boolean(self, node: Node) -> bool:
        raw = self.plain(node)
        if isinstance(raw, bool):
            return raw
        self.problems.at("expected true or false", self.loc(node))
        return False

    def positive_int(self, node: Node) -> int | None:
        raw = self.plain(node)
        if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
            return raw
        self.problems.at("expected a positive integer", self.loc(node))
        return None


def _key_lines(node: Node, prefix: str = "") -> dict[str, int]:
    """The line of every mapping key under ``node``, by dotted path."""
    lines: dict[str, int] = {}
    if isinstance(node, MappingNode):
        for key_node, value in node.value:
            path = f"{prefix}{key_node.value}"
            lines[path] = _line(key_node)
            lines.update(_key_lines(value, path + "."))
    return lines


def field_from_spec(name: str, spec: Any, loc: Location, problems: ProblemList) -> Field | None:
    """Build a ``Field`` from a parsed spec, checking modifier combinations and the default."""
    flags: set[str] = spec.flags
    mods: dict[str, Any] = spec.modifiers
    ftype: FieldType = spec.type
    required = "required" in flags
    nullable_flag = "nullable" in flags
    if required and nullable_flag:
        problems.at(f"field '{name}' cannot be both required and nullable", loc)
    length = precision = scale = None
    enum_values: tuple[str, ...] = ()
    if ftype is FieldType.ENUM:
        enum_values = tuple(v for v in spec.args if v)
        if not enum_values:
            problems.at(f"enum field '{name}' has no values", loc)
        dupes = {v for v in enum_values if enum_values.count(v) > 1}
        if dupes:
            problems.at(f"enum field '{name}' repeats {', '.join(sorted(dupes))}", loc)
    elif spec.args:
        if ftype is FieldType.STRING and len(spec.args) == 1:
            length = int(spec.args[0])
        elif ftype is FieldType.DECIMAL and len(spec.args) in (1, 2):
            precision = int(spec.args[0])
            scale = int(spec.args[1]) if len(spec.args) == 2 else 0
        else:
            problems.at(f"type {spec.type_name} takes no arguments", loc)
    for key in ("max", "length"):
        if key in mods:
            if ftype is not FieldType.STRING or not str(mods[key]).isdigit() or int(mods[key]) < 1:
                problems.at(f"'{key}' applies to string fields and must be a positive integer", loc)
            else:
                length = int(mods[key])
    for key in ("precision", "scale"):
        if key in mods:
            if ftype is not FieldType.DECIMAL or not str(mods[key]).isdigit():
                problems.at(f"'{key}' applies to decimal fields and must be a whole number", loc)
            elif key == "precision":
                precision = int(mods[key])
            else:
                scale = int(mods[key])
    if ftype is FieldType.DECIMAL:
        precision = precision or DEFAULT_PRECISION
        scale = DEFAULT_SCALE if scale is None else scale
        if not 1 <= precision <= MAX_PRECISION or scale > precision:
            problems.at(f"decimal '{name}' needs 1 <= precision <= {MAX_PRECISION} and scale <= precision", loc)
    if length is not None and not 1 <= length <= 10_485_760:
        problems.at(f"string length of '{name}' must be between 1 and 10485760", loc)
    default: Any = None
    has_default = "default" in mods
    if has_default:
        raw = mods["default"]
        if str(raw).lower() == "null":
            default = None
        else:
            try:
                default = parse_default(ftype, raw, enum_values)
            except DefaultValueError as exc:
                problems.at(f"field '{name}': {exc}", loc)
    on_delete = "restrict"
    if "on delete" in mods:
        on_delete = str(mods["on delete"]).lower().strip()
        if on_delete not in ("restrict", "cascade", "set null"):
            problems.at(f"'on delete' must be restrict, cascade or set null, not '{on_delete}'", loc)
            on_delete = "restrict"
    if "cascade" in flags:
        on_delete = "cascade"
    if ("on delete" in mods or "cascade" in flags) and "references" not in mods:
        problems.at(f"'on delete' needs 'references' on field '{name}'", loc)
    auto = None
    if "auto" in flags:
        lowered = name.lower()
        auto = "update" if ("updated" in lowered or "modified" in lowered) else "create"
    nullable = not required and (nullable_flag or not (has_default and default is not None)) and "not null" not in flags
    if auto:
        nullable = False
    return Field(
        name=name,
        type=ftype,
        required=required,
        nullable=nullable,
        unique="unique" in flags,
        index="index" in flags,
        default=default,
        has_default=has_default and default is not None,
        references=mods.get("references"),
        on_delete=on_delete,  # type: ignore[arg-type]
        auto=auto,  # type: ignore[arg-type]
        immutable="immutable" in flags,
        enum_values=enum_values,
        length=length,
        precision=precision,
        scale=scale,
        email="email" in flags,
        label=mods.get("label"),
        location=loc,
    )
