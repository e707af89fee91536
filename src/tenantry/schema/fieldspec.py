"""Parse one field line of the seed dialect: ``TYPE[(ARGS)] [(MODIFIERS)]``.

Examples the seed uses::

    string (unique, required)
    uuid (references organizations, required)
    enum(admin, member, viewer) (default: member)
    timestamp (auto, immutable)

Extensions: ``string(100)``, ``decimal(12, 4)``, ``string (email, max: 80)``,
``uuid (references users, on delete: cascade)``, ``text (label: "Long description")``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from tenantry.schema.model import FieldType
from tenantry.schema.types import TYPE_ALIASES


class SpecError(ValueError):
    """A field line that cannot be understood; the message is shown to the user."""


@dataclass
class FieldSpec:
    """A field line, parsed but not yet checked against the rest of the schema."""

    type_name: str
    type: FieldType
    args: list[str] = field(default_factory=list)
    modifiers: dict[str, Any] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)


_FLAGS = {"required", "unique", "nullable", "auto", "immutable", "index", "email", "cascade", "not null"}
_KEYED = {"default", "references", "max", "length", "precision", "scale", "label", "on delete"}


def parse_field_spec(text: str) -> FieldSpec:
    """Parse a field line's right-hand side; raises ``SpecError`` with a helpful message."""
    text = text.strip()
    if not text:
        raise SpecError("missing type")
    i = 0
    while i < len(text) and (text[i].isalnum() or text[i] in "_-"):
        i += 1
    type_name = text[:i].lower()
    if not type_name:
        raise SpecError(f"expected a type name, got {text!r}")
    ftype = TYPE_ALIASES.get(type_name)
    if ftype is None:
        close = difflib.get_close_matches(type_name, TYPE_ALIASES.keys(), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise SpecError(f"unknown type '{type_name}'{hint}; expected one of: {', '.join(_PUBLIC_TYPES)}")
    groups, rest = _paren_groups(text[i:])
    if rest.strip():
        raise SpecError(f"unexpected text {rest.strip()!r} after the type")
    spec = FieldSpec(type_name=type_name, type=ftype)
    if ftype is FieldType.ENUM:
        if not groups:
            raise SpecError("enum needs its values, e.g. enum(active, archived)")
        spec.args = [v.strip().strip("'\"") for v in _split_commas(groups.pop(0))]
    elif groups and _all_ints(groups[0]):
        spec.args = [v.strip() for v in _split_commas(groups.pop(0))]
    if len(groups) > 1:
        raise SpecError("put all modifiers inside one pair of parentheses, e.g. (required, unique)")
    if groups:
        _parse_modifiers(groups[0], spec)
    return spec


_PUBLIC_TYPES = (
    "string",
    "text",
    "uuid",
    "integer",
    "bigint",
    "decimal",
    "float",
    "boolean",
    "timestamp",
    "date",
    "json",
    "jsonb",
    "enum(a, b, ...)",
)


def _parse_modifiers(body: str, spec: FieldSpec) -> None:
    for raw in _split_commas(body):
        item = raw.strip()
        if not item:
            continue
        lowered = item.lower()
        if lowered.startswith("references ") or lowered.startswith("references:"):
            target = item[len("references") :].lstrip(" :").strip()
            parts = target.split()
            if not parts:
                raise SpecError("'references' needs an entity name")
            spec.modifiers["references"] = parts[0]
            tail = " ".join(parts[1:]).lower()
            if tail:
                if tail.startswith("on delete "):
                    spec.modifiers["on delete"] = tail[len("on delete ") :]
                else:
                    raise SpecError(f"unexpected {tail!r} after 'references {parts[0]}'")
            continue
        if ":" in item:
            key, _, value = item.partition(":")
            key = " ".join(key.lower().split())
            if key not in _KEYED:
                raise SpecError(_unknown_modifier(key))
            spec.modifiers[key] = _unquote(value.strip())
            continue
        if lowered in _FLAGS:
            spec.flags.add(lowered)
            continue
        raise SpecError(_unknown_modifier(lowered))


def _unknown_modifier(name: str) -> str:
    known = sorted(_FLAGS | _KEYED | {"references"})
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown modifier '{name}'{hint}"


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _all_ints(body: str) -> bool:
    parts = [p.strip() for p in _split_commas(body)]
    return bool(parts) and all(p.isdigit() for p in parts)


def _paren_groups(text: str) -> tuple[list[str], str]:
    """Split ``" (a) (b, c)"`` into ``["a", "b, c"]``; what is left outside parentheses is returned too."""
    groups: list[str] = []
    rest: list[str] = []
    depth = 0
    quote = ""
    current: list[str] = []
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
            continue
        if depth and ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == "(":
            if depth:
                current.append(ch)
            depth += 1
        elif ch == ")":
            if not depth:
                raise SpecError("unbalanced ')'")
            depth -= 1
            if depth:
                current.append(ch)
            else:
                groups.append("".join(current))
                current = []
        elif depth:
            current.append(ch)
        else:
            rest.append(ch)
    if depth or quote:
        raise SpecError("unclosed '(' or quote")
    return groups, "".join(rest)


def _split_commas(body: str) -> list[str]:
    """Split on commas that are not inside quotes or nested parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    quote = ""
    for ch in body:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts
