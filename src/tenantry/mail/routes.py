"""The development outbox: ``/dev/mail`` (list), ``/dev/mail/{id}`` (one message), ``/dev/mail.json``.

Mount these in development only: they show every queued message, sign-in links included.
"""

from __future__ import annotations

from functools import lru_cache

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tenantry.db.codecs import format_timestamp
from tenantry.db.database import Database
from tenantry.db.tables import TableSet
from tenantry.mail.outbox import OutboxRecord
from tenantry.mail.service import get_outbox_message, list_outbox
from tenantry.mail.settings import MailSettings
from tenantry.mail.templates import TEMPLATE_DIR

BASE_PATH = "/dev/mail"
MAX_LIMIT = 500

# No scripts at all; inline styles and images for the rendered mail (an iframe srcdoc inherits this policy).
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src http: https: data:; "
        "form-action 'none'; frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@lru_cache(maxsize=1)
def _pages() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR / "dev"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["timestamp"] = format_timestamp
    return env


def message_json(m: OutboxRecord) -> dict[str, object]:
    """A message as ``/dev/mail.json`` shows it."""
    return {
        "id": m.id,
        "to": m.to,
        "from": m.sender,
        "subject": m.subject,
        "text": m.text,
        "html": m.html,
        "url": m.url,
        "template": m.template,
        "status": m.status,
        "attempts": m.attempts,
        "created_at": format_timestamp(m.created_at),
        "sent_at": format_timestamp(m.sent_at) if m.sent_at else None,
        "last_error": m.last_error,
    }


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "100")
    return min(max(int(raw), 1), MAX_LIMIT) if raw.isdigit() else 100


def mail_routes(db: Database, tables: TableSet, settings: MailSettings) -> list[BaseRoute]:
    """The dev outbox routes; the caller mounts them only in development."""

    async def list_page(request: Request) -> Response:
        messages = await list_outbox(db, tables, to=request.query_params.get("to") or None, limit=_limit(request))
        page = (
            _pages()
            .get_template("list.html")
            .render(messages=messages, base=BASE_PATH, json_url=f"{BASE_PATH}.json", app_name=settings.app_name)
        )
        return HTMLResponse(page, headers=_HEADERS)

    async def detail_page(request: Request) -> Response:
        message = await get_outbox_message(db, tables, request.path_params["id"])
        if message is None:
            return HTMLResponse("<!doctype html><title>Not found</title><p>No such message.", 404, headers=_HEADERS)
        page = (
            _pages()
            .get_template("detail.html")
            .render(
                m=message,
                base=BASE_PATH,
                # Links in the preview open in a new tab instead of trying (and failing) to navigate the frame.
                srcdoc='<base target="_blank">' + message.html,
            )
        )
        return HTMLResponse(page, headers=_HEADERS)

    async def list_json(request: Request) -> Response:
        messages = await list_outbox(db, tables, to=request.query_params.get("to") or None, limit=_limit(request))
        return JSONResponse([message_json(m) for m in messages], headers={"Cache-Control": "no-store"})

    return [
        Route(BASE_PATH, list_page, methods=["GET"], name="dev_mail"),
        Route(f"{BASE_PATH}.json", list_json, methods=["GET"], name="dev_mail_json"),
        Route(BASE_PATH + "/{id}", detail_page, methods=["GET"], name="dev_mail_message"),
    ]
