"""Type names accepted in schema files and how their default values are read."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from tenantry.schema.model import FieldType

# Every spelling a schema may use, mapped onto the canonical type. The seed's names come first;
# the rest are Apso's canonical type map (its `fieldTypeToColumnType`), so `.apsorc` files load.
TYPE_ALIASES: dict[str, FieldType] = {
    "string": FieldType.STRING,
    "varchar": FieldType.STRING,
    "char": FieldType.STRING,
    "text": FieldType.TEXT,
    "uuid": FieldType.UUID,
    "integer": FieldType.INTEGER,
    "int": FieldType.INTEGER,
    "smallint": FieldType.INTEGER,
    "bigint": FieldType.BIGINT,
    "decimal": FieldType.DECIMAL,
    "numeric": FieldType.DECIMAL,
    "money": FieldType.DECIMAL,
    "float": FieldType.FLOAT,
    "real": FieldType.FLOAT,
    "double": FieldType.FLOAT,
    "boolean": FieldType.BOOLEAN,
    "bool": FieldType.BOOLEAN,
    "timestamp": FieldType.TIMESTAMP,
    "timestamptz": FieldType.TIMESTAMP,
    "datetime": FieldType.TIMESTAMP,
    "date": FieldType.DATE,
    "json": FieldType.JSON,
    "jsonb": FieldType.JSON,
    "json-plain": FieldType.JSON,
    "enum": FieldType.ENUM,
}

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
DEFAULT_STRING_LENGTH = 255
DEFAULT_PRECISION = 10
DEFAULT_SCALE = 2
MAX_PRECISION = 1000


class DefaultValueError(ValueError):
    """A default that does not fit its field's type."""


def parse_default(ftype: FieldType, raw: Any, enum_values: tuple[str, ...] = ()) -> Any:
    """Turn a default written in a schema file into a typed Python value, or raise ``DefaultValueError``.

    Timestamps and dates accept ``now``; the value is then the string ``"now"`` and the server
    fills the current time at insert.
    """
    if raw is None:
        return None
    text = str(raw).strip() if not isinstance(raw, (dict, list, bool, int, float)) else raw
    try:
        if ftype in (FieldType.STRING, FieldType.TEXT):
            return str(raw)
        if ftype is FieldType.ENUM:
            if str(raw) not in enum_values:
                raise DefaultValueError(f"default {raw!r} is not one of the enum values ({', '.join(enum_values)})")
            return str(raw)
        if ftype is FieldType.UUID:
            return str(uuid.UUID(str(text)))
        if ftype in (FieldType.INTEGER, FieldType.BIGINT):
            if isinstance(raw, bool):
                raise ValueError
            value = int(str(text))
            lo, hi = INT32 if ftype is FieldType.INTEGER else INT64
            if not lo <= value <= hi:
                raise DefaultValueError(f"default {value} is out of range for {ftype.value}")
            return value
        if ftype is FieldType.DECIMAL:
            if isinstance(raw, bool):
                raise ValueError
            value_d = decimal.Decimal(str(text))
            if not value_d.is_finite():
                raise ValueError
            return value_d
        if ftype is FieldType.FLOAT:
            if isinstance(raw, bool):
                raise ValueError
            return float(str(text))
        if ftype is FieldType.BOOLEAN:
            if isinstance(raw, bool):
                return raw
            lowered = str(text).lower()
            if lowered in ("true", "yes", "on", "1"):
                return True
            if lowered in ("false", "no", "off", "0"):
                return False
            raise ValueError
        if ftype is FieldType.TIMESTAMP:
            if str(text).lower() in ("now", "now()", "current_timestamp"):
                return "now"
            return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        if ftype is FieldType.DATE:
            if str(text).lower() in ("now", "today", "current_date"):
                return "now"
            return dt.date.fromisoformat(str(text))
        if ftype is FieldType.JSON:
            return raw
    except DefaultValueError:
        raise
    except (ValueError, decimal.InvalidOperation, ArithmeticError) as exc:
        raise DefaultValueError(f"default {raw!r} is not a valid {ftype.value}") from exc
    raise DefaultValueError(f"default {raw!r} is not a valid {ftype.value}")
