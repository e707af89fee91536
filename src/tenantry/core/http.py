"""HTTP plumbing shared by every endpoint group: JSON responses, bodies, error responses."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import Scope

from tenantry.errors import ApiError

log = logging.getLogger("tenantry.http")

JSON_TYPES = ("application/json", "application/merge-patch+json")

# Where the ASGI scope carries the request's id, once the logging middleware has chosen it (taken
# from a trusted proxy's ``X-Request-ID`` or made up): the audit log records the id the logs show.
REQUEST_ID_SCOPE_KEY = "tenantry.request_id"
# The template of the endpoint a dispatcher behind a catch-all route chose (``/api/auth/sign-in/email``
# behind ``/api/auth/{path:path}``): what logs, traces and metrics name a request by, when set.
ROUTE_SCOPE_KEY = "tenantry.route"
# The log fields of the request being served: its id, then the user, organization and trace ids as
# they become known. The logging middleware sets it for the request's duration and every line logged
# meanwhile carries them; other capabilities add theirs (tracing its trace id, so a log line leads to
# its trace). One mutable dict in one variable: a field added is one dict write, seen by the tasks
# the request started too.
LOG_FIELDS: ContextVar[dict[str, Any] | None] = ContextVar("tenantry.log_fields", default=None)


def log_who(user_id: str | None, organization_id: str | None) -> None:
    """Name the user and organization on the rest of the request's log lines (and its access line),
    once known: by the app's principal, or by an authentication endpoint that read the session itself."""
    fields = LOG_FIELDS.get()
    if fields is not None and (user_id is not None or organization_id is not None):
        fields["user_id"] = user_id
        fields["organization_id"] = organization_id


class JSONResponse(Response):
    """JSON rendered by orjson (values are already JSON-ready; ``str`` is the fallback)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


def error_response(exc: ApiError) -> JSONResponse:
    headers = {"Allow": exc.extra.pop("allow")} if "allow" in exc.extra else {}
    if exc.status in (409, 429, 503) and "retryAfter" in exc.extra:
        # Also in the body; the header is what HTTP clients and proxies back off by.
        headers["Retry-After"] = str(exc.extra["retryAfter"])
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers or None)


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request body as JSON: 415 if not declared JSON, 413 if too large, 400 if malformed.

    Requiring a JSON content type also keeps cross-site HTML forms (which cannot send one without a
    CORS preflight) from writing through a user's cookies.
    """
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype not in JSON_TYPES and not ctype.endswith("+json"):
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Request body must be JSON (Content-Type: application/json)")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"Request body exceeds {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"Request body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise ApiError(400, "INVALID_JSON", "Request body is empty; a JSON object is expected")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "INVALID_JSON", f"Invalid JSON in request body: {exc.msg}") from None


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def route_template(scope: Scope) -> str | None:
    """The template of the endpoint a request reached (``/api/projects/{id}``, with its mount's prefix),
    once routed; None when nothing matched. What logs, traces and metrics name requests by: never the
    raw path, which holds ids and tokens. A dispatcher behind a catch-all route names its endpoint
    (``ROUTE_SCOPE_KEY``)."""
    named = scope.get(ROUTE_SCOPE_KEY)
    if isinstance(named, str):
        return named
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if not isinstance(template, str):
        return None
    root = str(scope.get("root_path", ""))
    if isinstance(route, Mount) and route.path and root.endswith(route.path):
        # A mount that answers itself (static files): its template already starts with its own
        # path, which routing also appended to ``root_path``.
        root = root.removesuffix(route.path)
    return f"{root}{template}"


def request_id(request: Request) -> str | None:
    """The request's id as the logging middleware chose it (``REQUEST_ID_SCOPE_KEY``), or None without it."""
    value = request.scope.get(REQUEST_ID_SCOPE_KEY)
    return value if isinstance(value, str) else None


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def data_rejected_handler(request: Request, exc: Exception) -> Response:
    """A value the request validation let through but the database refused: still the client's input."""
    log.warning("database rejected a value on %s %s: %s", request.method, request.url.path, exc)
    first_line = str(exc).splitlines()[0][:200] if str(exc) else "invalid value"
    return error_response(ApiError(400, "INVALID_VALUE", f"The database rejected a value: {first_line}"))
