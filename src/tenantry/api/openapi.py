"""OpenAPI 3.1 for the generated API, computed from the schema model.

Row schemas describe what the API returns (decimals and bigints as strings, timestamps as
date-times with milliseconds); request-body schemas come from the same Pydantic models that
validate requests, so documentation and behaviour cannot drift apart.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from tenantry.core.openapi import (
    REF,
    OpenApiPart,
    error_response,
    error_responses,
    field_schema,
    id_schema,
    json_response,
    obj,
)
from tenantry.db.query import ALL_OPS
from tenantry.idempotency import idempotency_parameter
from tenantry.querystring import RESERVED
from tenantry.schema import Entity, FieldType, Schema
from tenantry.schema.crud import CrudOptions, Guard
from tenantry.validation import EntityModels

# How every route may be called: the session cookie (browsers) or its token as a bearer (other clients).
SESSION_SECURITY: dict[str, Any] = {
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "better-auth.session_token",
        "description": "The session cookie set by sign-in (`__Secure-` prefixed on HTTPS sites).",
    },
    "bearerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The session token (the `set-auth-token` header of sign-in) as `Authorization: Bearer`.",
    },
}


def row_schema(schema: Schema, entity: Entity) -> dict[str, Any]:
    props: dict[str, Any] = {"id": id_schema(entity)}
    for f in entity.fields:
        props[f.name] = field_schema(f)
    if entity.soft_delete:
        props["deleted_at"] = {"type": ["string", "null"], "format": "date-time", "readOnly": True}
    for rel in entity.relations:
        target = schema.entities[rel.target]
        ref = {"$ref": REF.format(model=target.class_name)}
        props[rel.name] = (
            {"anyOf": [ref, {"type": "null"}], "description": f"Present with ?join={rel.name}"}
            if rel.kind == "one"
            else {"type": "array", "items": ref, "description": f"Present with ?join={rel.name}"}
        )
    return {
        "type": "object",
        "title": entity.class_name,
        "description": "Every field is present unless `?fields=` chose some (`id` always is).",
        "properties": props,
        "required": ["id"],
    }


# What every write may answer beyond its own: sign-in, role, plan limits, body size and type, outage.
_WRITE_ERRORS: dict[str, Any] = error_responses(401, 402, 403, 413, 415, 429, 503)


def _own_paths(prefix: str) -> dict[str, Any]:
    """``/api/health``, the document itself, its docs page and the page's files."""
    public: list[dict[str, Any]] = []
    tag = ["documentation"]
    return {
        f"{prefix}/health": {
            "get": {
                "tags": ["operations"],
                "operationId": "apiHealth",
                "summary": "Liveness with a database round trip",
                "security": public,
                "responses": {
                    "200": json_response(obj(("status",), status={"const": "ok"}), "Alive, database answers"),
                    "503": error_response("The database is unavailable (DATABASE_UNAVAILABLE)"),
                },
            }
        },
        f"{prefix}/openapi.json": {
            "get": {
                "tags": tag,
                "operationId": "openapiDocument",
                "summary": "This document",
                "security": public,
                "responses": {"200": json_response({"type": "object"}, "OpenAPI 3.1")},
            }
        },
        f"{prefix}/docs": {
            "get": {
                "tags": tag,
                "operationId": "apiDocs",
                "summary": "Interactive documentation of this API (Swagger UI)",
                "security": public,
                "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}},
            }
        },
        prefix + "/_static/{path}": {
            "get": {
                "tags": tag,
                "operationId": "apiDocsAsset",
                "summary": "A file of the documentation page",
                "security": public,
                "parameters": [{"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "The file", "content": {"*/*": {"schema": {"type": "string"}}}},
                    "404": {"description": "No such file", "content": {"text/plain": {"schema": {"type": "string"}}}},
                },
            }
        },
    }


def _error_schemas() -> dict[str, Any]:
    return {
        "Error": {
            "type": "object",
            "required": ["statusCode", "message", "error", "code"],
            "properties": {
                "statusCode": {"type": "integer"},
                "message": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                "error": {"type": "string"},
                "code": {"type": "string", "description": "Stable machine-readable error code"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": "string"},
                            "message": {"type": "string"},
                            "code": {"type": "string"},
                        },
                    },
                },
                "fields": {"type": "array", "items": {"type": "string"}},
            },
        }
    }


def _list_parameters(entity: Entity, joins: list[str] | None = None) -> list[dict[str, Any]]:
    ops = ", ".join(f"${op}" for op in sorted(ALL_OPS))
    fields = ", ".join(entity.columns)
    rels = ", ".join(joins if joins is not None else [r.name for r in entity.relations]) or "(none)"
    array_of_strings = {"type": "array", "items": {"type": "string"}}
    params: list[dict[str, Any]] = [
        {
            "name": "fields",
            "in": "query",
            "schema": {"type": "string"},
            "description": f"Comma-separated fields to return (id is always included). Fields: {fields}",
        },
        {
            "name": "filter",
            "in": "query",
            "style": "form",
            "explode": True,
            "schema": array_of_strings,
            "description": f"`field||$op||value`, repeatable, AND-ed. Operators: {ops}. "
            "`relation.field` filters on a related row.",
        },
        {
            "name": "or",
            "in": "query",
            "style": "form",
            "explode": True,
            "schema": array_of_strings,
            "description": "`field||$op||value`, repeatable; combined with `filter` as nestjsx/crud does.",
        },
        {
            "name": "s",
            "in": "query",
            "schema": {"type": "string"},
            "description": 'JSON search, e.g. `{"name":{"$contL":"acme"},"$or":[{"status":"active"}]}`; '
            "when present, filter and or are ignored.",
        },
        {
            "name": "join",
            "in": "query",
            "style": "form",
            "explode": True,
            "schema": array_of_strings,
            "description": f"Relation to include: `rel`, `rel||f1,f2` or `rel.nested`. Relations: {rels}",
        },
        {
            "name": "sort",
            "in": "query",
            "style": "form",
            "explode": True,
            "schema": array_of_strings,
            "description": "`field,ASC` or `field,DESC`, repeatable.",
        },
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0},
            "description": "Page size (capped).",
        },
        {
            "name": "per_page",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0},
            "description": "Alias of limit.",
        },
        {
            "name": "offset",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0},
            "description": "Rows to skip; returns the paginated envelope.",
        },
        {
            "name": "page",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1},
            "description": "Page number; returns the paginated envelope.",
        },
        {"name": "cache", "in": "query", "schema": {"type": "integer"}, "description": "Accepted for compatibility."},
    ]
    if entity.soft_delete:
        params.append(
            {
                "name": "include_deleted",
                "in": "query",
                "schema": {"type": "boolean"},
                "description": "Include soft-deleted rows.",
            }
        )
    for f in entity.fields:
        if f.type is FieldType.JSON or f.name in RESERVED:
            continue  # a field called e.g. `s` or `page` cannot be filtered by `?s=`: that name is taken
        s = field_schema(f)
        s.pop("readOnly", None)
        params.append({"name": f.name, "in": "query", "schema": s, "description": f"Equality filter on {f.name}."})
    return params


def _a(noun: str) -> str:
    """``a Project``, ``an Organization``, ``a User`` (a "you" sound takes "a")."""
    lowered = noun.lower()
    vowel_sound = lowered[:1] in "aeio" or (lowered[:1] == "u" and not lowered.startswith(("us", "uni", "uti", "ure")))
    return ("an " if vowel_sound else "a ") + noun


def _allows_null(s: dict[str, Any]) -> bool:
    if "type" not in s and "anyOf" not in s and "oneOf" not in s:
        return True  # any JSON value
    types = s.get("type")
    if types == "null" or (isinstance(types, list) and "null" in types):
        return True
    return any(_allows_null(option) for option in s.get("anyOf", []) + s.get("oneOf", []))


def _drop_invalid_null_defaults(models: dict[str, Any]) -> None:
    """Optional fields that may not be null carry Pydantic's "not sent" marker as ``default: null``.

    That default is not a value of the field's own schema (so the document would be invalid OpenAPI),
    and it is not what the server does either: a field left out is not set to null.
    """
    for model in models.values():
        for prop in model.get("properties", {}).values():
            if "default" in prop and prop["default"] is None and not _allows_null(prop):
                del prop["default"]


def _link_properties(schema: Schema, components: dict[str, Any]) -> None:
    """Many-to-many relations in create and update bodies: the ids to link (``[{"id": 3}]``)."""
    for entity in schema.entities.values():
        for rel in entity.relations:
            if rel.link is None:
                continue
            target = schema.entities[rel.target]
            key = {k: v for k, v in id_schema(target).items() if k != "readOnly"}
            prop = {
                "type": "array",
                "maxItems": 1000,
                "items": {"anyOf": [{"type": "object", "properties": {"id": key}, "required": ["id"]}, key]},
                "description": f"The {target.class_name} rows to link (an update replaces the set); "
                "each must be one the caller may read, else 400 REFERENCE_NOT_FOUND.",
            }
            for model in (f"{entity.class_name}Create", f"{entity.class_name}Update"):
                if model in components:
                    components[model].setdefault("properties", {})[rel.name] = prop


@dataclass(frozen=True)
class _Route:
    """One CRUD route to describe: an entity's own or a view's."""

    route: str
    name: str
    entity: Entity
    options: CrudOptions
    guard: Guard
    is_view: bool


def _routes(schema: Schema) -> list[_Route]:
    own = [_Route(e.route, e.class_name, e, e.crud, Guard(), False) for e in schema.entities.values()]
    views = [_Route(v.route, v.class_name, schema.entities[v.entity], v.crud, v.guard, True) for v in schema.views]
    return own + views


def _shown_row(schema: Schema, r: _Route, components: dict[str, Any]) -> str:
    """The component a route's rows are described by: the entity's, or the route's own when its options
    hide fields or relations (``{View}`` for a view, ``{Entity}Response`` for the entity's route)."""
    entity, options = r.entity, r.options
    visible = set(options.allow) if options.allow is not None else set(entity.columns)
    hidden = {c for c in entity.columns if c != "id" and (c not in visible or c in options.exclude)}
    joinable = None
    if options.joins is not None:
        heads = (entity.relation(path.split(".")[0]) for path, join in options.joins if join.select)
        joinable = {rel.name for rel in heads if rel is not None}
    if not hidden and joinable is None and not r.is_view:
        return entity.class_name
    name = r.name if r.is_view else f"{entity.class_name}Response"
    row = copy.deepcopy(components[entity.class_name])
    for column in hidden:
        row["properties"].pop(column, None)
    for rel in entity.relations:
        if joinable is not None and rel.name not in joinable:
            row["properties"].pop(rel.name, None)
    row["title"] = name
    components[name] = row
    return name


def _bodies(r: _Route, components: dict[str, Any]) -> tuple[str, str]:
    """The create and update body components of a route: fixed values (``params``/``persist``) are
    the server's, so a body need not send them (what it sends is overridden)."""
    written = r.options.written
    create, update = f"{r.entity.class_name}Create", f"{r.entity.class_name}Update"
    if not written:
        return create, update
    out = []
    for base in (create, update):
        name = f"{r.name}{base.removeprefix(r.entity.class_name)}" if r.is_view else base
        model = copy.deepcopy(components[base])
        if "required" in model:
            model["required"] = [f for f in model["required"] if f not in written]
        for field_name, value in written.items():
            if field_name in model.get("properties", {}):
                model["properties"][field_name]["description"] = f"Always {value!r} on this route."
        model["title"] = name
        components[name] = model
        out.append(name)
    return out[0], out[1]


def _route_paths(
    schema: Schema,
    r: _Route,
    prefix: str,
    keyed: list[dict[str, Any]],
    key_errors: dict[str, Any],
    components: dict[str, Any],
) -> dict[str, Any]:
    """The path items of one route, with only the operations its options serve."""
    entity, options = r.entity, r.options
    name = r.name
    shown = _shown_row(schema, r, components)
    create_model, update_model = _bodies(r, components)
    components[f"{name}Page"] = {
        "type": "object",
        "required": ["data", "count", "total", "page", "pageCount"],
        "properties": {
            "data": {"type": "array", "items": {"$ref": REF.format(model=shown)}},
            "count": {"type": "integer"},
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "pageCount": {"type": "integer"},
        },
    }
    row_ref = {"$ref": REF.format(model=shown)}
    tag = r.route
    base = f"{prefix}/{r.route}"
    guard_params = [
        {"name": header, "in": "header", "required": True, "schema": {"type": "string", "const": value}}
        for header, value in r.guard.headers
    ]
    keyed = guard_params + keyed
    always_paginate = entity.always_paginate if options.always_paginate is None else options.always_paginate
    joins = None if options.joins is None else [path for path, j in options.joins]
    paths: dict[str, Any] = {}
    id_param = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {k: v for k, v in id_schema(entity).items() if k != "readOnly"},
    }
    read_params = [
        *guard_params,
        {"name": "fields", "in": "query", "schema": {"type": "string"}, "description": "Fields to return."},
        {
            "name": "join",
            "in": "query",
            "style": "form",
            "explode": True,
            "schema": {"type": "array", "items": {"type": "string"}},
            "description": "Relations to include" + (f": {', '.join(joins)}" if joins is not None else "."),
        },
    ]
    list_desc = (
        "Always the paginated envelope."
        if always_paginate
        else "A JSON array; the paginated envelope when `page` or `offset` is given."
    )
    paths[base] = {
        "get": {
            "tags": [tag],
            "operationId": f"list{name}",
            "summary": f"List {r.route}",
            "description": list_desc,
            "parameters": guard_params + _list_parameters(entity, joins),
            "responses": {
                "200": json_response(
                    {"oneOf": [{"type": "array", "items": row_ref}, {"$ref": REF.format(model=f"{name}Page")}]},
                    "Matching rows",
                ),
                "400": error_response("Invalid query"),
                **error_responses(401, 403, 429, 503),
            },
        },
        "post": {
            "tags": [tag],
            "operationId": f"create{name}",
            "summary": f"Create {_a(name)}",
            "parameters": keyed,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": REF.format(model=create_model)}}},
            },
            "responses": {
                "201": json_response(row_ref, "Created"),
                "400": error_response("Invalid body"),
                **_WRITE_ERRORS,
                "409": error_response("A unique field is already taken"),
                **key_errors,
            },
        },
    }
    paths[f"{base}/bulk"] = {
        "post": {
            "tags": [tag],
            "operationId": f"createMany{name}",
            "summary": f"Create several {r.route} at once (all or none)",
            "parameters": keyed,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["bulk"],
                            "properties": {
                                "bulk": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {"$ref": REF.format(model=create_model)},
                                }
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": json_response({"type": "array", "items": row_ref}, "Created"),
                "400": error_response("Invalid body"),
                **_WRITE_ERRORS,
                "409": error_response("Unique conflict"),
                **key_errors,
            },
        }
    }
    update_body = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=update_model)}}},
    }
    paths[f"{base}/{{id}}"] = {
        "parameters": [id_param],
        "get": {
            "tags": [tag],
            "operationId": f"get{name}",
            "summary": f"Get {_a(name)}",
            "parameters": read_params,
            "responses": {
                "200": json_response(row_ref, "The row"),
                "400": error_response("Invalid id or query"),
                **error_responses(401, 403, 429, 503),
                "404": error_response(f"{name} not found"),
            },
        },
        "put": {
            "tags": [tag],
            "operationId": f"replace{name}",
            "summary": f"Update {_a(name)} (fields present are changed)",
            "parameters": keyed,
            "requestBody": update_body,
            "responses": {
                "200": json_response(row_ref, "Updated"),
                "400": error_response("Invalid body"),
                **_WRITE_ERRORS,
                "404": error_response(f"{name} not found"),
                "409": error_response("Unique conflict"),
                **key_errors,
            },
        },
        "patch": {
            "tags": [tag],
            "operationId": f"update{name}",
            "summary": f"Update some fields of {_a(name)}",
            "parameters": keyed,
            "requestBody": update_body,
            "responses": {
                "200": json_response(row_ref, "Updated"),
                "400": error_response("Invalid body"),
                **_WRITE_ERRORS,
                "404": error_response(f"{name} not found"),
                "409": error_response("Unique conflict"),
                **key_errors,
            },
        },
        "delete": {
            "tags": [tag],
            "operationId": f"delete{name}",
            "summary": f"Delete {_a(name)}",
            "parameters": keyed,
            "responses": {
                "200": {"description": "Deleted (empty body)"},
                "400": error_response("Invalid id"),
                **error_responses(401, 402, 403, 429, 503),
                "404": error_response(f"{name} not found"),
                "409": error_response("Still referenced by other rows"),
                **key_errors,
            },
        },
    }
    if entity.soft_delete:
        paths[f"{base}/{{id}}/recover"] = {
            "parameters": [id_param],
            "patch": {
                "tags": [tag],
                "operationId": f"recover{name}",
                "summary": f"Restore a deleted {name}",
                "parameters": guard_params,
                "responses": {
                    "200": json_response(row_ref, "Restored"),
                    "400": error_response("Invalid id"),
                    **error_responses(401, 402, 403, 429, 503),
                    "404": error_response(f"{name} not found"),
                    "409": error_response("A unique field of the row is taken again"),
                },
            },
        }
    return _served(paths, base, options)


# nestjsx's route name of each documented operation, by path suffix and method.
_OPERATION_ROUTES = {
    ("", "get"): "getManyBase",
    ("", "post"): "createOneBase",
    ("/bulk", "post"): "createManyBase",
    ("/{id}", "get"): "getOneBase",
    ("/{id}", "put"): "replaceOneBase",
    ("/{id}", "patch"): "updateOneBase",
    ("/{id}", "delete"): "deleteOneBase",
    ("/{id}/recover", "patch"): "recoverOneBase",
}


def _served(paths: dict[str, Any], base: str, options: CrudOptions) -> dict[str, Any]:
    """Only the operations a route's ``routes`` option serves; a path left with none is left out."""
    out: dict[str, Any] = {}
    for path, item in paths.items():
        suffix = path.removeprefix(base)
        kept = {
            key: value
            for key, value in item.items()
            if key == "parameters" or options.serves(_OPERATION_ROUTES[(suffix, key)])
        }
        if set(kept) - {"parameters"}:
            out[path] = kept
    return out


def build_openapi(
    schema: Schema,
    *,
    prefix: str = "/api",
    version: str = "0.1.0",
    parts: Sequence[OpenApiPart] = (),
    idempotency: bool = True,
) -> dict[str, Any]:
    """The complete OpenAPI 3.1 document for the generated CRUD API, plus other capabilities' ``parts``.

    ``idempotency``: the writes take an ``Idempotency-Key`` (the app has ``tenantry.idempotency``)."""
    keyed = [idempotency_parameter()] if idempotency else []
    key_errors = (
        {"422": error_response("IDEMPOTENCY_KEY_REUSED: the Idempotency-Key was sent with another request")}
        if idempotency
        else {}
    )
    models = [EntityModels(e) for e in schema.entities.values()]
    pairs = [(m.create, "validation") for m in models] + [(m.update, "validation") for m in models]
    _, defs = models_json_schema(pairs, ref_template=REF)  # type: ignore[arg-type]
    components: dict[str, Any] = dict(defs.get("$defs", {}))
    _drop_invalid_null_defaults(components)
    components.update(_error_schemas())
    _link_properties(schema, components)
    paths: dict[str, Any] = {}
    for entity in schema.entities.values():
        components[entity.class_name] = row_schema(schema, entity)
    for r in _routes(schema):
        paths.update(_route_paths(schema, r, prefix, keyed, key_errors, components))
    tags = [
        {"name": e.route, "description": (e.display.plural if e.display else e.name)} for e in schema.entities.values()
    ]
    tags.extend({"name": v.route, "description": f"A view of {v.entity}"} for v in schema.views)
    paths.update(_own_paths(prefix))
    tags.append({"name": "operations", "description": "Health, readiness and metrics"})
    tags.append({"name": "documentation", "description": "This document and its interactive page"})
    for part in parts:
        taken = (set(part.paths) & set(paths)) | (set(part.schemas) & set(components))
        if taken:
            # An entity whose route is a capability's (say `billing`): a schema mistake, not something to paper over.
            raise ValueError(f"OpenAPI names used twice: {', '.join(sorted(taken))}")
        paths.update(part.paths)
        components.update(part.schemas)
        tags.extend(dict(t) for t in part.tags if t["name"] not in {existing["name"] for existing in tags})
    for part in parts:
        # Once every part is in: a part may change another's schema, whatever their order.
        for name, properties in part.properties.items():
            if name in components:
                components[name]["properties"].update(properties)
        for name, fields in part.optional.items():
            if name in components and "required" in components[name]:
                components[name]["required"] = [f for f in components[name]["required"] if f not in fields]
    security_schemes = {**SESSION_SECURITY, **{k: v for part in parts for k, v in part.security_schemes.items()}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": schema.title,
            "version": version,
            "description": f"Generated by Tenantry from {Path(schema.source).name}.",
        },
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": security_schemes},
        # Any one of them will do; routes that need no sign-in say so themselves.
        "security": [{name: []} for name in security_schemes],
        "tags": tags,
    }
