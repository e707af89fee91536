"""List filters by field type: a choice for enums, booleans and references, a date range for
timestamps and dates, a range for numbers. They become conditions of the API's search language (``s``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tenantry.schema import Entity, Field, FieldType

Choices = Callable[[Field], Awaitable[list[tuple[str, str]]]]
DATED = (FieldType.TIMESTAMP, FieldType.DATE)
NUMERIC = (FieldType.INTEGER, FieldType.BIGINT, FieldType.DECIMAL, FieldType.FLOAT)


@dataclass
class Control:
    """One filter control of a list page."""

    name: str  # the query parameter
    label: str
    kind: str  # select, date or number
    value: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)


def filterable(entity: Entity) -> list[Field]:
    """Fields a list can be filtered by (the tenant column is implied by the organization)."""
    return [
        f
        for f in entity.fields
        if f.name != entity.tenant_field
        and (f.references or f.type in (FieldType.ENUM, FieldType.BOOLEAN, *DATED, *NUMERIC))
    ]


def _day(raw: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return None


def _number(f: Field, raw: str) -> int | float | str | None:
    """A bound typed in a number box, as the search language takes it; None when it is not one."""
    try:
        if f.type in (FieldType.INTEGER, FieldType.BIGINT):
            return int(raw)
        number = float(raw)
    except ValueError:
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return raw.strip() if f.type is FieldType.DECIMAL else number  # decimals keep their digits


def _bound(f: Field, day: dt.date) -> str:
    return day.isoformat() if f.type is FieldType.DATE else f"{day.isoformat()}T00:00:00.000Z"


def conditions(entity: Entity, query: Mapping[str, str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Search conditions for the filters set in ``query``, and the values to show in the controls."""
    out: list[dict[str, Any]] = []
    values: dict[str, str] = {}
    for f in filterable(entity):
        if f.type in DATED:
            start, end = _day(query.get(f"f_{f.name}_from", "")), _day(query.get(f"f_{f.name}_to", ""))
            if start is not None:
                values[f"f_{f.name}_from"] = start.isoformat()
                out.append({f.name: {"$gte": _bound(f, start)}})
            if end is not None:
                values[f"f_{f.name}_to"] = end.isoformat()
                # Up to the end of that day: before the next one begins.
                out.append({f.name: {"$lt": _bound(f, end + dt.timedelta(days=1))}})
            continue
        if f.type in NUMERIC and not f.references:
            for suffix, op in (("min", "$gte"), ("max", "$lte")):
                raw_bound = query.get(f"f_{f.name}_{suffix}", "")
                bound = _number(f, raw_bound) if raw_bound else None
                if bound is not None:
                    values[f"f_{f.name}_{suffix}"] = raw_bound
                    out.append({f.name: {op: bound}})
            continue
        raw = query.get(f"f_{f.name}", "")
        if raw == "":
            continue
        values[f"f_{f.name}"] = raw
        out.append({f.name: {"$eq": raw == "true" if f.type is FieldType.BOOLEAN else raw}})
    return out, values


async def controls(
    entity: Entity, values: dict[str, str], label: Callable[[Field], str], choices: Choices
) -> list[Control]:
    """The filter controls of ``entity``'s list, showing ``values``."""
    out: list[Control] = []
    for f in filterable(entity):
        name = f"f_{f.name}"
        if f.type in DATED:
            out.append(Control(f"{name}_from", f"{label(f)} from", "date", values.get(f"{name}_from", "")))
            out.append(Control(f"{name}_to", f"{label(f)} to", "date", values.get(f"{name}_to", "")))
            continue
        if f.type in NUMERIC and not f.references:
            out.append(Control(f"{name}_min", f"{label(f)} at least", "number", values.get(f"{name}_min", "")))
            out.append(Control(f"{name}_max", f"{label(f)} at most", "number", values.get(f"{name}_max", "")))
            continue
        if f.references:
            options = await choices(f)
        elif f.type is FieldType.BOOLEAN:
            options = [("true", "Yes"), ("false", "No")]
        else:
            options = [(v, v) for v in f.enum_values]
        out.append(Control(name, label(f), "select", values.get(name, ""), [("", "Any"), *options]))
    return out
