"""The development error pages: ``/dev/errors`` (list), ``/dev/errors/{id}`` (one), ``/dev/errors.json``.

Mounted in development only, when errors are kept locally (no ``SENTRY_DSN``): they show stack
traces and the routes and users errors happened to.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2
import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from tenantry.core.http import JSONResponse
from tenantry.sentry.local import ErrorLog

BASE_PATH = "/dev/errors"
TEMPLATE_DIR = Path(__file__).parent / "templates"

# No scripts; inline styles only.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@lru_cache(maxsize=1)
def _pages() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def error_routes(log: ErrorLog) -> list[BaseRoute]:
    """The dev error pages over ``log``; the caller mounts them only in development."""

    async def list_page(request: Request) -> Response:
        template = _pages().get_template("list.html")
        page = template.render(errors=log.list(), base=BASE_PATH, json_url=f"{BASE_PATH}.json")
        return HTMLResponse(page, headers=_HEADERS)

    async def detail_page(request: Request) -> Response:
        error = log.get(request.path_params["id"])
        if error is None:
            return HTMLResponse("<!doctype html><title>Not found</title><p>No such error.", 404, headers=_HEADERS)
        event_json = orjson.dumps(error.event, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS, default=str).decode()
        page = _pages().get_template("detail.html").render(e=error, base=BASE_PATH, event_json=event_json)
        return HTMLResponse(page, headers=_HEADERS)

    async def list_json(request: Request) -> Response:
        return JSONResponse([e.as_json() for e in log.list()], headers={"Cache-Control": "no-store"})

    return [
        Route(BASE_PATH, list_page, methods=["GET"], name="dev_errors"),
        Route(f"{BASE_PATH}.json", list_json, methods=["GET"], name="dev_errors_json"),
        Route(BASE_PATH + "/{id}", detail_page, methods=["GET"], name="dev_errors_error"),
    ]
