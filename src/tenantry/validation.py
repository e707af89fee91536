"""Request-body models generated from the schema (Pydantic v2), and their errors as field errors.

One create model and one update model per entity. The create model requires what the schema
marks ``required`` (unless it has a default); the update model makes everything optional. Server-
managed fields (``auto``) are not accepted at all; the pipeline drops them before validation so a
client may send back a row it just read (an ``immutable`` one only unchanged, as any immutable field).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from functools import partial
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    JsonValue,
    StringConstraints,
    ValidationError,
    create_model,
)
from pydantic import Field as PydField

from tenantry.db.geojson import check_geometry
from tenantry.db.tables import string_length
from tenantry.errors import ApiError, FieldError, validation_failed
from tenantry.schema import Entity, Field, FieldType
from tenantry.schema.types import INT32, INT64

TEXT_MAX = 1_000_000
ARRAY_MAX = 10_000  # elements in one array value


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store U+0000 in text or jsonb; refuse it here instead of failing in the DB.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


def _json_no_nul(value: Any) -> Any:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            _no_nul(item)
        elif isinstance(item, dict):
            for k, v in item.items():
                _no_nul(k)
                stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)
    return value


def python_type(f: Field) -> Any:
    """The Pydantic annotation for a field's non-null values."""
    t = f.type
    if t is FieldType.STRING:
        if f.email:
            return Annotated[EmailStr, StringConstraints(max_length=string_length(f)), AfterValidator(_no_nul)]
        return Annotated[
            str,
            StringConstraints(max_length=string_length(f), min_length=1 if f.required else 0),
            AfterValidator(_no_nul),
        ]
    if t is FieldType.TEXT:
        return Annotated[str, StringConstraints(max_length=TEXT_MAX), AfterValidator(_no_nul)]
    if t is FieldType.UUID:
        return uuid.UUID
    if t is FieldType.INTEGER:
        return Annotated[int, PydField(ge=INT32[0], le=INT32[1])]
    if t is FieldType.BIGINT:
        return Annotated[int, PydField(ge=INT64[0], le=INT64[1])]
    if t is FieldType.DECIMAL:
        return Annotated[Decimal, PydField(max_digits=f.precision, decimal_places=f.scale, allow_inf_nan=False)]
    if t is FieldType.FLOAT:
        return Annotated[float, PydField(allow_inf_nan=False)]
    if t is FieldType.BOOLEAN:
        return bool
    if t is FieldType.TIMESTAMP:
        return Annotated[dt.datetime, AfterValidator(_sane_datetime)]
    if t is FieldType.DATE:
        return dt.date
    if t is FieldType.JSON and f.spatial is not None:
        return Annotated[dict[str, JsonValue], AfterValidator(partial(check_geometry, f.spatial))]
    if t is FieldType.JSON and f.element is not None:
        return Annotated[list[python_type(Field(f.name, f.element))], PydField(max_length=ARRAY_MAX)]  # type: ignore[misc]
    if t is FieldType.JSON:
        return Annotated[JsonValue, AfterValidator(_json_no_nul)]
    if t is FieldType.ENUM:
        return Literal[f.enum_values]
    raise AssertionError(t)


def _sane_datetime(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    try:
        value.astimezone(dt.UTC)
    except OverflowError as exc:
        raise ValueError("is out of range") from exc
    return value


def _id_type(entity: Entity) -> Any:
    if entity.id_type == "uuid":
        return uuid.UUID
    return Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


class EntityModels:
    """The validation models of one entity."""

    def __init__(self, entity: Entity) -> None:
        self.entity = entity
        # Unknown body keys: a 400 naming them, or (Apso services, as nestjsx's whitelisting pipe)
        # dropped before anything is written. Either way a known field with a bad value is a 400.
        extra: Literal["forbid", "ignore"] = "ignore" if entity.unknown_keys == "drop" else "forbid"
        config = ConfigDict(extra=extra, title=entity.class_name, ser_json_inf_nan="null")
        create_fields: dict[str, Any] = {}
        filled_fields: dict[str, Any] = {}
        update_fields: dict[str, Any] = {}
        if not entity.serial_id:
            create_fields["id"] = filled_fields["id"] = (_id_type(entity) | None, None)
        for f in entity.fields:
            if f.server_managed:
                continue
            base = python_type(f)
            annotation = base | None if f.nullable else base
            optional = (annotation, PydField(default=None, description=f.label))
            if f.required and not f.has_default:
                create_fields[f.name] = (annotation, PydField(description=f.label))
                # A signed-in caller may leave out the tenant and owner: the server fills them.
                server_filled = f.name == entity.owner_field or (f.name == entity.tenant_field and entity.inject_tenant)
                filled_fields[f.name] = optional if server_filled else create_fields[f.name]
            else:
                create_fields[f.name] = filled_fields[f.name] = optional
            if not f.immutable:
                update_fields[f.name] = optional
        self.create: type[BaseModel] = create_model(f"{entity.class_name}Create", __config__=config, **create_fields)
        self.create_filled: type[BaseModel] = create_model(
            f"{entity.class_name}CreateSignedIn", __config__=config, **filled_fields
        )
        self.update: type[BaseModel] = create_model(f"{entity.class_name}Update", __config__=config, **update_fields)
        self.immutable = frozenset(f.name for f in entity.fields if f.immutable)
        self.ignored = frozenset(
            [f.name for f in entity.fields if f.server_managed]
            + [r.name for r in entity.relations]
            + (["deleted_at"] if entity.soft_delete else [])
        )
        # An update may send server-managed values back, but an immutable one (``created_at:
        # timestamp (auto, immutable)``) only unchanged: it is checked, not dropped.
        self.ignored_on_update = self.ignored - self.immutable

    def validate_create(self, body: Any, *, server_fills: bool = False) -> dict[str, Any]:
        """Validated create values (only the keys the client sent); raises a 400 ``ApiError``.

        ``server_fills``: the caller is a signed-in user whose organization and identity the server
        writes into the tenant and owner columns, so those may be absent.
        """
        data = self._prepare(body)
        return _run(self.create_filled if server_fills else self.create, data)

    def validate_update(self, body: Any, current: dict[str, Any] | None = None) -> dict[str, Any]:
        """Validated update values. Immutable fields may be sent back unchanged, never changed."""
        data = self._prepare(body, self.ignored_on_update)
        data.pop("id", None)
        errors = []
        for name in self.immutable & data.keys():
            value = data.pop(name)
            if current is None or not same_value(self.entity.field(name), current.get(name), value):
                errors.append(FieldError(name, "is immutable and cannot be changed", "IMMUTABLE_FIELD"))
        try:
            values = _run(self.update, data)
        except ApiError as exc:
            if errors:
                exc.extra["errors"] = [e.to_dict() for e in errors] + exc.extra.get("errors", [])
                exc.message = [f"{e.field}: {e.message}" for e in errors] + list(exc.message)
            raise
        if errors:
            raise validation_failed(errors)
        return values

    def _prepare(self, body: Any, ignored: frozenset[str] | None = None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise validation_failed([FieldError("", "the request body must be a JSON object", "BODY_NOT_OBJECT")])
        skip = self.ignored if ignored is None else ignored
        return {k: v for k, v in body.items() if k not in skip}


def same_value(f: Field | None, current: Any, sent: Any) -> bool:
    """Whether a value sent back equals the stored one, comparing as the field's type.

    ``"2026-01-01T00:00:00+00:00"`` equals the stored ``"2026-01-01T00:00:00.000Z"``, and ``10.5``
    equals ``"10.50"``: clients may send back what they read in any equivalent spelling.
    """
    if current is None or sent is None or f is None:
        return current is None and sent is None if f is not None else current == sent
    try:
        if f.type is FieldType.TIMESTAMP:
            return _instant(current) == _instant(sent)
        if f.type is FieldType.DECIMAL:
            return Decimal(str(current)) == Decimal(str(sent))
        if f.type in (FieldType.INTEGER, FieldType.BIGINT):
            return int(current) == int(sent)
        if f.type is FieldType.UUID:
            return uuid.UUID(str(current)) == uuid.UUID(str(sent))
        if f.type is FieldType.DATE:
            return dt.date.fromisoformat(str(current)) == dt.date.fromisoformat(str(sent))
    except (ValueError, ArithmeticError, TypeError):
        return False
    return bool(current == sent)


def _instant(value: Any) -> dt.datetime:
    stamp = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    stamp = stamp.astimezone(dt.UTC)
    return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)


def _run(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    try:
        validated = model.model_validate(data)
    except ValidationError as exc:
        raise validation_failed(field_errors(exc)) from None
    return validated.model_dump(exclude_unset=True)


_CODES = {
    "missing": "REQUIRED",
    "extra_forbidden": "UNKNOWN_FIELD",
    "string_too_long": "TOO_LONG",
    "string_too_short": "REQUIRED",
    "literal_error": "INVALID_CHOICE",
    "value_error": "INVALID_VALUE",
    "not_nullable": "NOT_NULLABLE",
}


def field_errors(exc: ValidationError) -> list[FieldError]:
    """Pydantic's errors as one ``FieldError`` per field, with readable messages."""
    out: list[FieldError] = []
    seen: set[str] = set()
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        name = loc[0] if loc else ""
        kind = err["type"]
        if kind == "missing":
            message = "is required"
        elif kind == "extra_forbidden":
            message = "is not a field of this resource"
        elif kind == "string_too_short":
            message = "must not be empty"
        elif err.get("input", 0) is None:
            message, kind = "must not be null", "not_nullable"
        else:
            message = err["msg"]
            if message.startswith("Value error, "):
                message = message[len("Value error, ") :]
            message = message[:1].lower() + message[1:]
        key = f"{name}:{kind}"
        if key in seen:
            continue
        seen.add(key)
        out.append(FieldError(".".join(loc), message, _CODES.get(kind, "INVALID_" + kind.split("_")[0].upper())))
    return _collapse_union_noise(out)


def _collapse_union_noise(errors: list[FieldError]) -> list[FieldError]:
    # For ``T | None`` Pydantic reports one error per union member ("field.str", "field.none");
    # keep the first error per field so the client sees one clear message.
    by_field: dict[str, FieldError] = {}
    for e in errors:
        top = e.field.split(".")[0]
        if top not in by_field:
            by_field[top] = FieldError(top, e.message, e.code)
    return list(by_field.values())
