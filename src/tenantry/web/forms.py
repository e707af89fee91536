"""Form widgets chosen by field type, and form values turned into the API's request body."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tenantry.errors import ApiError
from tenantry.schema import Entity, Field, FieldType

NUMERIC = (FieldType.INTEGER, FieldType.BIGINT)
FRACTIONAL = (FieldType.DECIMAL, FieldType.FLOAT)


@dataclass
class Widget:
    """One form control: ``kind`` picks the template markup."""

    name: str
    label: str
    kind: str  # text, textarea, select, checkbox, datetime, date, number, json, multiselect
    value: Any = ""
    required: bool = False
    options: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    hint: str | None = None


def label_of(f: Field) -> str:
    if f.label:
        return f.label
    name = f.name[:-3] if f.name.endswith("_id") and f.references else f.name
    target = (f.references or "").removesuffix("s")
    if target and target != name and target.startswith(name):
        name = target  # an abbreviation of what it refers to: ``org_id`` is the Organization
    return name.replace("_", " ").capitalize()


def editable_fields(entity: Entity, *, creating: bool) -> list[Field]:
    """Fields a person fills in: not the id, automatic timestamps, the tenant or the owner (the server sets those)."""
    out = []
    for f in entity.fields:
        if f.auto or f.name in (entity.tenant_field, entity.owner_field):
            continue
        if f.immutable and not creating:
            continue
        out.append(f)
    return out


def kind_of(f: Field) -> str:
    if f.references:
        return "select"
    return {
        FieldType.ENUM: "select",
        FieldType.TEXT: "textarea",
        FieldType.BOOLEAN: "checkbox",
        FieldType.TIMESTAMP: "datetime",
        FieldType.DATE: "date",
        FieldType.JSON: "json",
        FieldType.INTEGER: "number",
        FieldType.BIGINT: "number",
        FieldType.DECIMAL: "number",
        FieldType.FLOAT: "number",
    }.get(f.type, "text")


def display_value(f: Field, value: Any) -> Any:
    """A stored value as its control shows it."""
    if value is None:
        return ""
    if f.type is FieldType.TIMESTAMP and isinstance(value, str):
        return value[:16]  # datetime-local: 2026-11-26T10:42
    if f.type is FieldType.JSON:
        return json.dumps(value, indent=2) if not isinstance(value, str) else value
    return value


def widget(f: Field, value: Any, options: list[tuple[str, str]] | None = None) -> Widget:
    kind = kind_of(f)
    choices = options or []
    if f.type is FieldType.ENUM:
        choices = [(v, v) for v in f.enum_values]
    w = Widget(
        name=f.name,
        label=label_of(f),
        kind=kind,
        value=display_value(f, value),
        required=f.required and not f.has_default and f.type is not FieldType.BOOLEAN,
        options=choices,
    )
    if kind == "datetime":
        w.hint = "UTC"
    return w


def links_widget(name: str, chosen: list[str], options: list[tuple[str, str]]) -> Widget:
    """A many-to-many relation as a multiple select of the rows it may link to; ``value`` holds the
    ids linked now."""
    hint = "Hold Ctrl (Cmd on a Mac) to choose several." if options else "Nothing to choose from yet."
    return Widget(
        name=name,
        label=name.replace("_", " ").capitalize(),
        kind="multiselect",
        value=chosen,
        options=options,
        hint=hint,
    )


def link_ids(value: Any) -> list[str]:
    """The ids of linked rows, from a row's joined relation (dicts) or a submitted form (ids)."""
    if not isinstance(value, list):
        return []
    return [str(v["id"]) if isinstance(v, dict) else str(v) for v in value]


def parse_form(fields: list[Field], form: dict[str, str], *, creating: bool) -> dict[str, Any]:
    """The request body for the pipeline. Values that do not parse are passed as typed, so the
    server's validation names the field (one source of truth for what is valid)."""
    body: dict[str, Any] = {}
    for f in fields:
        if f.type is FieldType.BOOLEAN:
            body[f.name] = f.name in form
            continue
        raw = form.get(f.name, "")
        if raw == "":
            # Cleared on edit: null, which the server refuses for required fields (with the field named).
            if not creating:
                body[f.name] = None
            continue
        body[f.name] = _typed(f, raw)
    return body


def _typed(f: Field, raw: str) -> Any:
    try:
        if f.type in NUMERIC:
            return int(raw)
        if f.type in FRACTIONAL:
            return float(raw) if f.type is FieldType.FLOAT else raw
        if f.type is FieldType.TIMESTAMP:
            return raw + ":00Z" if len(raw) == 16 else raw
        if f.type is FieldType.JSON:
            return json.loads(raw)
    except ValueError:
        return raw
    return raw


def field_errors(exc: ApiError) -> dict[str, str]:
    """Per-field messages of a 400 ``VALIDATION_FAILED`` (``name: message``)."""
    out: dict[str, str] = {}
    for item in exc.extra.get("errors") or []:
        if isinstance(item, dict) and item.get("field"):
            name = str(item["field"]).split(".")[-1]
            # A cleared required field reaches the API as null; on a form, that is "required".
            message = "is required" if item.get("code") == "NOT_NULLABLE" else str(item.get("message", "is not valid"))
            out.setdefault(name, message)
    return out
