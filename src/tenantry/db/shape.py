"""Turn database rows into the JSON-ready dicts the API returns (and the UI renders)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tenantry.db.codecs import Converter, field_output_converter, output_converter
from tenantry.schema import Entity, FieldType


class RowShaper:
    """Maps rows of fixed columns to dicts, converting values per column (decimals, timestamps …)."""

    __slots__ = ("columns", "plan")

    def __init__(self, entity: Entity, columns: Sequence[str], dialect: str) -> None:
        self.columns = tuple(columns)
        self.plan: tuple[tuple[str, int, Converter | None], ...] = tuple(
            (name, i, _converter(entity, name, dialect)) for i, name in enumerate(self.columns)
        )

    def __call__(self, row: Sequence[Any]) -> dict[str, Any]:
        return {name: (conv(row[i]) if conv is not None else row[i]) for name, i, conv in self.plan}

    def many(self, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        plan = self.plan
        return [{name: (conv(row[i]) if conv is not None else row[i]) for name, i, conv in plan} for row in rows]


def _converter(entity: Entity, name: str, dialect: str) -> Converter | None:
    if name == "id":
        return field_output_converter(None, dialect, entity.id_type)
    if name == "deleted_at":
        return output_converter(FieldType.TIMESTAMP, dialect)
    f = entity.field(name)
    return field_output_converter(f, dialect) if f is not None else None
