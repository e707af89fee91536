"""``/dev/analytics``: the product events of a development app, as PostHog would receive them.

The events are kept locally where they already are, in the outbox: each product event there is
translated exactly as the subscriber translates it for PostHog, and shown with the state of its
delivery to PostHog (when a key is set; "kept locally" without one). Mounted in development only.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tenantry.analytics.captures import Capture, Translator
from tenantry.db.compiler import compile_statement
from tenantry.db.database import Database, driver_dialect
from tenantry.db.tables import TableSet
from tenantry.events import DomainEvent, outbox_tables
from tenantry.events.sql import EVENT_COLUMNS, OutboxSQL

BASE_PATH = "/dev/analytics"
MAX_LIMIT = 500
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class LocalEvents:
    """Reads the newest product events back from the outbox, with their delivery to ``subscriber``."""

    def __init__(self, db: Database, tables: TableSet, topics: Sequence[str], subscriber: str) -> None:
        self.db = db
        e, d = outbox_tables(tables)
        delivery = sa.and_(d.c.event_id == e.c.id, d.c.subscriber == subscriber)
        stmt = (
            sa.select(*(e.c[column] for column in EVENT_COLUMNS), d.c.status)
            .select_from(e.outerjoin(d, delivery))
            .where(sa.or_(*(e.c.topic == sa.bindparam(f"t{i}") for i in range(len(topics)))))
            .order_by(e.c.created_at.desc(), e.c.id.desc())
            .limit(sa.bindparam("limit"))
        )
        self.statement = compile_statement(stmt, driver_dialect(tables.dialect))
        self.extras: dict[str, Any] = {f"t{i}": t for i, t in enumerate(topics)}

    async def newest(self, limit: int) -> list[tuple[DomainEvent, str | None]]:
        """Up to ``limit`` events, newest first, each with its delivery's status (None: not sent to PostHog)."""
        rows = await self.db.fetch(self.statement.sql, self.statement.params(extras={**self.extras, "limit": limit}))
        width = len(EVENT_COLUMNS)
        return [(OutboxSQL.event(tuple(r)[:width]), r[width]) for r in rows]


def dev_routes(local: LocalEvents, translator: Translator, host: str | None) -> list[BaseRoute]:
    """``/dev/analytics`` (a page) and ``/dev/analytics.json``; the caller mounts them only in development."""

    async def listed(request: Request) -> list[tuple[Capture, str]]:
        raw = request.query_params.get("limit", "100")
        limit = min(max(int(raw), 1), MAX_LIMIT) if raw.isdigit() else 100
        out: list[tuple[Capture, str]] = []
        for event, status in await local.newest(limit):
            for capture in translator.captures(event):
                out.append((capture, status or "kept locally"))
        return out

    async def as_json(request: Request) -> Response:
        body = [{**c.as_json(), "delivery": status} for c, status in await listed(request)]
        return JSONResponse(body, headers=_HEADERS)

    async def page(request: Request) -> Response:
        rows = "".join(_row(c, status) for c, status in await listed(request))
        where = f"sent to {html.escape(host)}" if host else "kept locally (no POSTHOG_API_KEY)"
        body = (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Analytics · dev</title>"
            "<style>body{font:14px system-ui;margin:2rem}table{border-collapse:collapse;width:100%}"
            "td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}"
            "pre{margin:0;white-space:pre-wrap}</style></head><body>"
            f"<h1>Product events</h1><p>Events {where}; newest first.</p>"
            "<table><thead><tr><th>Time</th><th>Event</th><th>Distinct id</th><th>Group</th>"
            "<th>Properties</th><th>Delivery</th></tr></thead><tbody>"
            f"{rows or '<tr><td colspan=6>No events yet: sign up, create an organization…</td></tr>'}"
            "</tbody></table></body></html>"
        )
        return HTMLResponse(body, headers=_HEADERS)

    return [Route(BASE_PATH, page, methods=["GET"]), Route(f"{BASE_PATH}.json", as_json, methods=["GET"])]


def _row(c: Capture, status: str) -> str:
    group = ", ".join(f"{k}: {v}" for k, v in c.groups.items()) or (f"{c.group[0]}: {c.group[1]}" if c.group else "")
    properties = orjson.dumps(c.properties, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    cells = (c.timestamp.isoformat(timespec="seconds"), c.event, c.distinct_id, group)
    return (
        "<tr>"
        + "".join(f"<td>{html.escape(v)}</td>" for v in cells)
        + f"<td><pre>{html.escape(properties)}</pre></td><td>{html.escape(status)}</td></tr>"
    )
