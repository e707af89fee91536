"""Conversions between Python values, database parameters and JSON-ready output, per dialect.

Rows are read with the drivers directly (asyncpg, sqlite3) rather than through SQLAlchemy's result
processing, which costs more than the query itself on the hot path. This module is the one place
that knows how each field type is stored, so the rest of the code never special-cases a dialect.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

from tenantry.schema import Field, FieldType

Converter = Callable[[Any], Any]
UTC = dt.UTC


def utc_now() -> dt.datetime:
    """The current time, UTC, truncated to milliseconds (the precision the API exposes)."""
    return truncate_ms(dt.datetime.now(UTC))


def truncate_ms(value: dt.datetime) -> dt.datetime:
    """Aware UTC datetime with microseconds cut to milliseconds; naive input is taken as UTC."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def format_timestamp(value: dt.datetime, _iso: Callable[..., str] = dt.datetime.isoformat) -> str:
    """``2026-11-26T10:42:01.801Z``: UTC, milliseconds, as Better Auth and nestjsx clients expect.

    This runs for every timestamp of every row. orjson cannot write it (its datetimes carry all
    six digits of microseconds, or none): isoformat is C code, twice as fast as strftime, and an
    aware UTC value (what asyncpg returns) is written with no copy, cutting its ``+00:00``.
    """
    tz = value.tzinfo
    if tz is UTC:
        return _iso(value, "T", "milliseconds")[:-6] + "Z"
    if tz is not None and value.utcoffset():
        value = value.astimezone(UTC)
    return _iso(value.replace(tzinfo=None), "T", "milliseconds") + "Z"


def timestamp_from_db(value: Any) -> dt.datetime:
    """A stored timestamp as an aware UTC datetime: asyncpg returns datetimes, SQLite the ISO text ``to_db`` wrote."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _decimal_out(scale: int) -> Converter:
    fmt = f".{scale}f"

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            # SQLite stores decimals as REAL: go through repr so 0.1 stays 0.1, then fix the scale.
            value = Decimal(repr(value))
        return format(value, fmt)

    return convert


def _str_or_none(value: Any) -> Any:
    return None if value is None else str(value)


def _timestamp_out(value: Any, _iso: Callable[..., str] = dt.datetime.isoformat) -> Any:
    # ``format_timestamp`` inlined for the common case: the function call is a third of its cost.
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is UTC:
        return _iso(value, "T", "milliseconds")[:-6] + "Z"
    return format_timestamp(value)


def _date_out(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()


def _bool_out(value: Any) -> Any:
    return None if value is None else bool(value)


def _json_out(value: Any) -> Any:
    # Parsed (not embedded as raw text) so hooks and listeners see plain dicts and lists.
    if isinstance(value, (bytes, str)):
        return orjson.loads(value)
    return value


def output_converter(ftype: FieldType, dialect: str, scale: int | None = None) -> Converter | None:
    """How a stored value of ``ftype`` becomes its JSON form; ``None`` means unchanged."""
    if ftype is FieldType.DECIMAL:
        return _decimal_out(scale or 0)
    if ftype is FieldType.BIGINT:
        return _str_or_none
    if ftype is FieldType.JSON:
        return _json_out
    if dialect == "postgresql":
        if ftype is FieldType.UUID:
            return _str_or_none
        if ftype is FieldType.TIMESTAMP:
            return _timestamp_out
        if ftype is FieldType.DATE:
            return _date_out
        return None
    if ftype is FieldType.BOOLEAN:
        return _bool_out
    return None


def field_output_converter(f: Field | None, dialect: str, id_type: str = "uuid") -> Converter | None:
    """The output converter for a declared field, or for the implicit ``id`` when ``f`` is None."""
    if f is None:
        if id_type == "bigserial":
            return _str_or_none  # a bigint, so a string on the wire like every bigint (and TypeORM's)
        return _str_or_none if (id_type == "uuid" and dialect == "postgresql") else None
    return output_converter(f.type, dialect, f.scale)


def to_db(ftype: FieldType, dialect: str, value: Any) -> Any:
    """A validated Python value as the driver expects it for a column of ``ftype``."""
    if value is None:
        return None
    if ftype is FieldType.JSON:
        return orjson.dumps(value).decode()
    if dialect == "postgresql":
        if ftype is FieldType.TIMESTAMP and isinstance(value, dt.datetime):
            return truncate_ms(value)
        if ftype is FieldType.UUID and isinstance(value, str):
            return uuid.UUID(value)
        if ftype in (FieldType.BIGINT, FieldType.INTEGER) and isinstance(value, str):
            # A serial organization's id is text in sessions (``org_id``): its tenant column is int4.
            return int(value)
        return value
    if ftype is FieldType.UUID:
        return str(value)
    if ftype is FieldType.TIMESTAMP:
        return format_timestamp(truncate_ms(value)) if isinstance(value, dt.datetime) else value
    if ftype is FieldType.DATE:
        return value.isoformat() if isinstance(value, dt.date) else value
    if ftype is FieldType.DECIMAL:
        return str(value)
    if ftype is FieldType.BOOLEAN:
        return int(value)
    if ftype is FieldType.BIGINT:
        return int(value)
    return value


def field_to_db(f: Field, dialect: str, value: Any) -> Any:
    """A validated value of the declared field ``f`` as the driver expects it (arrays differ by dialect)."""
    if f.element is not None and dialect == "postgresql":
        return None if value is None else list(value)  # a real array: asyncpg takes the list
    return to_db(f.type, dialect, value)


def id_to_db(id_type: str, dialect: str, value: Any) -> Any:
    """An entity id as the driver expects it."""
    if id_type == "uuid":
        if dialect == "postgresql":
            return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        return str(value)
    if id_type in ("serial", "bigserial"):
        return int(value)
    return str(value)
