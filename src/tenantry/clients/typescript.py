"""The TypeScript client: one dependency-free module (``index.ts``) and its ``package.json``.

The module is the runtime (``templates/runtime.ts``, the same for every schema) followed by the
schema's types: per entity a row interface (what reads return), create and update bodies, the
columns filters and sorts may name with their operator family, the relations a read may join, and
``createClient`` wiring a ``Resource`` per entity.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tenantry.clients.model import CLIENT_ERROR_CODES, ERROR_CODES, BodyField, Column, EntityInfo, describe
from tenantry.schema import FieldType, Schema

RUNTIME = Path(__file__).parent / "templates" / "runtime.ts"
MODULE = "index.ts"
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def _key(name: str) -> str:
    """A property name, quoted when it is not an identifier (``"organization.name"``)."""
    return name if _IDENTIFIER.match(name) else json.dumps(name)


def _union(values: tuple[str, ...] | list[str]) -> str:
    return " | ".join(json.dumps(v) for v in values) if values else "never"


def _enum(c: Column) -> str:
    return _union(c.enum_values)


def read_type(c: Column) -> str:
    """A column's value as the API returns it: decimals and bigints as strings, instants as ISO text."""
    t = c.type
    if t is FieldType.ENUM:
        base = _enum(c)
    elif t in (FieldType.INTEGER, FieldType.FLOAT):
        base = "number"
    elif t is FieldType.BOOLEAN:
        base = "boolean"
    elif t is FieldType.JSON and c.element is not None:
        base = f"{read_type(Column(c.name, c.element, False))}[]"
    elif t is FieldType.JSON:
        return "JsonValue"  # null is a JSON value already
    else:
        base = "string"
    return f"{base} | null" if c.nullable else base


def write_type(c: Column) -> str:
    """A column's value as a body or a filter may give it (what the server's validation accepts)."""
    t = c.type
    if t is FieldType.BIGINT:
        base = "number | `${bigint}`"
    elif t is FieldType.DECIMAL:
        base = "number | `${number}`"
    elif t is FieldType.TIMESTAMP:
        base = "string | Date"
    else:
        return read_type(c)
    return f"{base} | null" if c.nullable else base


def _filter_type(c: Column) -> str:
    if c.element is not None:
        return f"ArrayColumn<{write_type(Column(c.name, c.element, False))}>"
    value = write_type(Column(c.name, c.type, False, c.enum_values))
    if c.kind == "text":
        return f"TextColumn<{value}>"
    if c.kind == "ordered":
        return f"OrderedColumn<{value}>"
    return "BoolColumn" if c.kind == "bool" else "JsonColumn"


def _doc(text: str | None, indent: str = "  ") -> str:
    return f"{indent}/** {text.replace('*/', '* /')} */\n" if text else ""


def _body(name: str, fields: tuple[BodyField, ...]) -> str:
    lines = [f"export interface {name} {{"]
    for f in fields:
        lines.append(_doc(f.note or f.column.label) + f"  {_key(f.column.name)}{'?' if f.optional else ''}: ")
        lines[-1] += write_type(f.column) + ";"
    lines.append("}")
    return "\n".join(lines)


def _entity_types(info: EntityInfo, infos: dict[str, EntityInfo]) -> str:
    cls = info.class_name
    out: list[str] = [f"// -- {info.name} (/{info.route}) " + "-" * max(0, 80 - len(info.name) - len(info.route))]
    out.append(f"/** {cls} as reads return it. */")
    out.append(f"export interface {cls} {{")
    out.extend(_doc(c.label) + f"  {_key(c.name)}: {read_type(c)};" for c in info.columns)
    out.append("}")
    out.append(f"/** The body of a create; optional fields may be left out. */\n{_body(cls + 'Create', info.create)}")
    out.append(f"/** The body of an update: the fields given are changed. */\n{_body(cls + 'Update', info.update)}")
    out.append(
        "/** What each name `filter` and `or` take is, and so which operators apply. */\n"
        f"export interface {cls}Filter {{"
    )
    out.extend(f"  {_key(name)}: {_filter_type(c)};" for name, c in info.filters)
    out.append("}")
    out.append(f"export interface {cls}Equality {{")
    out.extend(f"  {_key(c.name)}: {write_type(Column(c.name, c.type, False, c.enum_values))};" for c in info.equality)
    out.append("}")
    out.append(f"export interface {cls}Relations {{")
    for rel in info.relations:
        target = infos[rel.target].class_name
        out.append(f"  {_key(rel.name)}: {target + '[]' if rel.many else target + ' | null'};")
    out.append("}")
    out.append(f"export interface {cls}Types {{")
    out.append(f"  row: {cls};")
    out.append(f"  create: {cls}Create;")
    out.append(f"  update: {cls}Update;")
    out.append(f"  filter: {cls}Filter;")
    out.append(f"  equality: {cls}Equality;")
    out.append(f"  sort: {_union(list(info.sorts))};")
    out.append(f"  field: {_union([c.name for c in info.columns])};")
    out.append(f"  relations: {cls}Relations;")
    out.append("  joins: {" + " ".join(f"{_key(path)}: {json.dumps(key)};" for path, key in info.joins) + "};")
    out.append(f"  id: {'number' if info.entity.id_type == 'serial' else 'string'};")
    out.append(f"  paged: {'true' if info.paginated else 'false'};")
    out.append(f"  tenant: {'true' if info.tenant_field else 'false'};")
    out.append(f"  softDelete: {'true' if info.soft_delete else 'false'};")
    out.append("}")
    return "\n".join(out)


def render_module(schema: Schema) -> str:
    """``index.ts`` for ``schema``."""
    infos = {i.name: i for i in describe(schema)}
    parts = [
        f"// The typed client of {schema.title}, generated by Tenantry from {Path(schema.source).name}.",
        "// Do not edit: run `tenantry client typescript` again after changing the schema.",
        "/* eslint-disable */",
        "",
        "/** Every stable code an error of the API carries, and the client's own. */",
        f"export type ErrorCode = {_union([*ERROR_CODES, *CLIENT_ERROR_CODES])};",
        "",
        RUNTIME.read_text(encoding="utf-8").rstrip("\n"),
        "",
        "// ---------------------------------------------------------------------------------------------",
        "// The schema's entities",
        "// ---------------------------------------------------------------------------------------------",
    ]
    for info in infos.values():
        parts += ["", _entity_types(info, infos)]
    parts += ["", "/** The client: one property per entity. */", "export interface Client {"]
    parts += [f"  {_key(i.name)}: Resource<{i.class_name}Types>;" for i in infos.values()]
    parts += [
        "}",
        "",
        "/** A client of the API at `options.baseUrl`, signed in by token, API key or the session cookie. */",
        "export function createClient(options: ClientOptions = {}): Client {",
        "  const http = new Http(options);",
        "  return {",
    ]
    for i in infos.values():
        tenant = json.dumps(i.tenant_field) if i.tenant_field else "null"
        parts.append(f"    {_key(i.name)}: new Resource<{i.class_name}Types>(http, {json.dumps(i.route)}, {tenant}),")
    parts += ["  };", "}", ""]
    return "\n".join(parts)


def package_name(schema: Schema) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", schema.title.lower()).strip("-") or "api"
    return f"{slug}-client"


def render(schema: Schema) -> dict[str, str]:
    """The files of the TypeScript package, by path relative to its directory."""
    package = {
        "name": package_name(schema),
        "version": "0.0.0",
        "private": True,
        "description": f"Typed client of {schema.title}, generated by Tenantry.",
        "type": "module",
        "main": MODULE,
        "types": MODULE,
        "exports": {".": "./" + MODULE},
        "sideEffects": False,
    }
    return {MODULE: render_module(schema), "package.json": json.dumps(package, indent=2) + "\n"}
