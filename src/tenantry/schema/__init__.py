"""Schema files -> the frozen application model (``Schema``, ``Entity``, ``Field``)."""

from __future__ import annotations

import os
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
    "SCHEMA_CANDIDATES",
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
    "find_schema_file",
    "load_schema",
    "load_schema_text",
]


# Where a project's schema file is looked for when neither an option nor TENANTRY_SCHEMA names it.
SCHEMA_CANDIDATES = ("schema.yaml", "schema.yml", ".apsorc")


def find_schema_file(option: str | Path | None = None) -> Path | None:
    """The schema file named by ``option``, else by ``TENANTRY_SCHEMA``, else the first of
    ``SCHEMA_CANDIDATES`` in the current directory; None when there is none."""
    if option is not None:
        return Path(option)
    named = os.environ.get("TENANTRY_SCHEMA")
    if named:
        return Path(named)
    return next((Path(name) for name in SCHEMA_CANDIDATES if Path(name).exists()), None)


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
