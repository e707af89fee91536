"""``GET /api/audit_logs/export?format=csv|jsonl``: the audit log as a file, for admins.

The same query language as the list (``filter``, ``or``, ``s``, ``sort``, ``fields``/``select``,
plain ``?field=value``; ``limit`` caps the number of rows) and the same path through the pipeline:
the policy and the scope of every read apply (``AuditPolicy``/``AuditScope``): the top role of the
active organization exports that organization's log and nothing else; the development principal
and the system export everything.

The file is streamed page by page with keyset pagination (the last row's sort values, then its
id), so memory stays flat and each page is an index range scan, however long the log. CSV cells
that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` …) are prefixed with ``'``:
user agents and attempted e-mail addresses are attacker-controlled text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tenantry.context import RequestContext
from tenantry.db.codecs import utc_now
from tenantry.db.query import And, Condition, ListQuery, Node, Or, SortKey, conjunction
from tenantry.errors import bad_request
from tenantry.querystring import QueryParser
from tenantry.schema import Action, Entity, FieldType

if TYPE_CHECKING:
    from tenantry.core import App

log = logging.getLogger("tenantry.audit")

FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "jsonl": ("application/x-ndjson", "jsonl"),
}
_NOT_PAGED = ("offset", "page")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class AuditExport:
    """The export endpoint of one app's audit log (``entity``)."""

    def __init__(self, runtime: App, entity: Entity) -> None:
        self.runtime = runtime
        self.pipeline = runtime.pipeline
        self.entity = entity
        self.parser = QueryParser(runtime.schema, runtime.settings.max_limit)

    def routes(self, prefix: str = "/api") -> list[Route]:
        # Registered before the CRUD routes, where ``export`` would be taken for a row id.
        return [Route(f"{prefix}/{self.entity.route}/export", self.endpoint, methods=["GET", "HEAD"])]

    async def endpoint(self, request: Request) -> Response:
        ctx = await self.runtime.context(request)
        # Checked before answering (the rows are read page by page later, through the same policy).
        self.pipeline.policy.authorize(ctx, self.entity, Action.READ)
        params = request.query_params.multi_items()
        fmt = request.query_params.get("format", "csv").lower()
        if fmt not in FORMATS:
            raise bad_request("INVALID_FORMAT", f"Unknown export format '{fmt[:20]}'; use csv or jsonl")
        query = self.parser.parse_list(self.entity, params)
        if query.offset is not None or query.page is not None:
            raise bad_request(
                "INVALID_QUERY", "An export streams every matching row: use filter and limit, not offset or page"
            )
        sort = self._sort(query.sort)
        columns = ("id", *(f for f in query.fields if f != "id")) if query.fields else self.entity.columns
        rows = self._rows(ctx, query.where, sort, query.limit)
        # The first page is read before answering, so a query the database refuses is still a 4xx.
        first = await anext(rows, None)
        media_type, extension = FORMATS[fmt]
        encode = _csv_encoder(columns) if fmt == "csv" else _jsonl_encoder(columns)

        async def body() -> AsyncIterator[bytes]:
            if fmt == "csv":
                yield _csv_line(columns)
            if first is None:
                return
            yield encode(first)
            try:
                async for page in rows:
                    yield encode(page)
            except Exception:
                # Headers are gone: all that is left is to cut the download short, and say why here.
                log.exception("audit log export failed part-way")
                raise

        stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
        headers = {
            "content-disposition": f'attachment; filename="{self.entity.route}-{stamp}.{extension}"',
            "cache-control": "no-store",
        }
        return StreamingResponse(body(), media_type=media_type, headers=headers)

    def _sort(self, requested: tuple[SortKey, ...]) -> tuple[SortKey, ...]:
        """The order of the file; keyset paging needs the entity's own, comparable columns."""
        sort = requested or self.pipeline.sql.default_sort(self.entity)
        for key in sort:
            f = self.entity.field(key.field)
            if "." in key.field or (f is not None and f.type is FieldType.JSON):
                raise bad_request("INVALID_SORT", f"An export cannot be sorted by '{key.field}'")
        if not any(k.field == "id" for k in sort):
            sort = (*sort, SortKey("id"))  # the tie-break the list adds too, made explicit for paging
        return tuple(sort)

    async def _rows(
        self, ctx: RequestContext, where: Node | None, sort: tuple[SortKey, ...], limit: int | None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of matching rows through the pipeline (policy and scope included), in ``sort`` order."""
        page_size = self.pipeline.max_limit
        remaining = limit or None  # as in lists, limit=0 means no limit
        after: Node | None = None
        while remaining is None or remaining > 0:
            take = page_size if remaining is None else min(page_size, remaining)
            query = ListQuery(where=conjunction(where, after), sort=sort, limit=take)
            page = (await self.pipeline.list_rows(ctx, self.entity, query)).data
            if page:
                yield page
            if len(page) < take:
                return
            if remaining is not None:
                remaining -= len(page)
            after = self._after(page[-1], sort)

    def _after(self, row: dict[str, Any], sort: tuple[SortKey, ...]) -> Node:
        """Rows after ``row`` in ``sort`` order (whose last key is the unique id).

        ``(k1, k2, id) > (v1, v2, w)`` spelled out as ``k1 > v1 OR (k1 = v1 AND k2 > v2) OR …``,
        with NULLs where the list puts them (last ascending, first descending), plus a plain range
        on the first key where no NULL can follow, so the database starts its index scan there.
        """
        branches: list[Node] = []
        equal: list[Node] = []
        for key in sort:
            value = self._typed(key.field, row.get(key.field))
            later, same = _step(key, value)
            if later is not None:
                branches.append(conjunction(*equal, later) or later)
            if same is None:
                break
            equal.append(same)
        node: Node = branches[0] if len(branches) == 1 else Or(tuple(branches))
        first = sort[0]
        start = self._typed(first.field, row.get(first.field))
        declared = self.entity.field(first.field)
        # Ascending, NULLs come last: a range on a nullable first key would cut them off.
        nulls_after = declared is not None and declared.nullable and not first.descending
        if start is not None and len(branches) > 1 and not nulls_after:
            node = And((Condition(first.field, "lte" if first.descending else "gte", start), node))
        return node

    def _typed(self, name: str, value: Any) -> Any:
        """A value as the API shows it, back to what the column compares with."""
        f = self.entity.field(name)
        if value is None or f is None or not isinstance(value, str):
            return value
        if f.type is FieldType.TIMESTAMP:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if f.type is FieldType.DATE:
            return dt.date.fromisoformat(value)
        if f.type is FieldType.DECIMAL:
            return Decimal(value)
        if f.type is FieldType.BIGINT:
            return int(value)
        return value


def _step(key: SortKey, value: Any) -> tuple[Node | None, Node | None]:
    """For one sort key and the last row's value: the condition "later", and "same" (None: impossible)."""
    name = key.field
    if value is None:
        # NULLs come last ascending (nothing later) and first descending (every value is later).
        later = Condition(name, "notnull") if key.descending else None
        return later, Condition(name, "isnull")
    beyond = Condition(name, "lt" if key.descending else "gt", value)
    if not key.descending:
        beyond_or_null: Node = Or((beyond, Condition(name, "isnull")))
        return beyond_or_null, Condition(name, "eq", value)
    return beyond, Condition(name, "eq", value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = orjson.dumps(value, default=str).decode() if isinstance(value, dict | list) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_line(values: Any) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue().encode()


def _csv_encoder(columns: tuple[str, ...]) -> Callable[[list[dict[str, Any]]], bytes]:
    def encode(page: list[dict[str, Any]]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerows([_cell(row.get(c)) for c in columns] for row in page)
        return out.getvalue().encode()

    return encode


def _jsonl_encoder(columns: tuple[str, ...]) -> Callable[[list[dict[str, Any]]], bytes]:
    def encode(page: list[dict[str, Any]]) -> bytes:
        return b"".join(orjson.dumps({c: row.get(c) for c in columns}, default=str) + b"\n" for row in page)

    return encode
