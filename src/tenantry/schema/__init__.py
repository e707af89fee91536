"""Schema files -> the frozen application model (``Schema``, ``Entity``, ``Field``)."""

from __future__ import annotations

from pathlib import Path

from tenantry.schema.errors import Problem, SchemaError
from tenantry.schema.model import (
    Action,
    AppDisplay,
    Display,
    Entity,
    Field,
    FieldType,
    Index,
    Link,
    Location,
    ManyToMany,
    MenuGroup,
    Permissions,
    Relation,
    Schema,
)
from tenantry.schema.yaml_dialect import load_yaml_schema

__all__ = [
    "Action",
    "AppDisplay",
    "Display",
    "Entity",
    "Field",
    "FieldType",
    "Index",
    "Link",
    "Location",
    "ManyToMany",
    "MenuGroup",
    "Permissions",
    "Problem",
    "Relation",
    "Schema",
    "SchemaError",
    "load_schema",
    "load_schema_text",
]


def load_schema_text(text: str, filename: str = "<schema>") -> Schema:
    """Load schema text; the dialect is chosen from the file name and content (``.apsorc``/JSON or YAML)."""
    stripped = text.lstrip()
    if filename.endswith((".apsorc", ".json")) or stripped.startswith("{"):
        from tenantry.schema.apsorc import load_apsorc_schema

        return load_apsorc_schema(text, filename)
    return load_yaml_schema(text, filename)


def load_schema(path: str | Path) -> Schema:
    """Load a schema file; raises ``SchemaError`` (every problem as ``FILE:LINE: message``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaError([Problem(f"{p}: schema file not found")]) from None
    except UnicodeDecodeError as exc:
        raise SchemaError([Problem(f"{p}: not UTF-8 text ({exc.reason})")]) from None
    return load_schema_text(text, str(path))
