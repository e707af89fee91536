"""What leaves in an error report: nothing of a request but its method, path, route and harmless headers.

``scrub_event`` is the SDK's ``before_send``: the last word on every event, whatever the
integrations collected. It keeps an allowlist, not a denylist, where it can (headers), because a
new header that carries a credential must not leak by default:

- request bodies, cookies and the client's address are removed;
- headers are kept only when they are on ``KEPT_HEADERS`` (no ``Authorization``, ``Cookie``,
  ``X-API-Key``, no ``Referer`` whose query may hold a token);
- query strings keep their parameter names; values of parameters whose name suggests a secret
  (token, key, code, state, password, signature, session, email …) become ``[Filtered]``;
- path segments that look like a random token (a reset link's ``/reset-password/<token>``) become
  ``[Filtered]``, in the request's URL and in breadcrumbs' URLs;
- the user is reduced to its id.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

FILTERED = "[Filtered]"

KEPT_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "content-length",
        "content-type",
        "host",
        "origin",
        "user-agent",
        "x-forwarded-proto",
        "x-request-id",
    }
)

_SECRET_NAME = re.compile(
    r"token|key|secret|pass|pwd|code|state|sig|session|auth|otp|credential|email|cookie|nonce|ticket|hash",
    re.IGNORECASE,
)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
# Random tokens: long, URL-safe, with both letters and digits (ids are UUIDs, kept).
_TOKEN_SEGMENT = re.compile(r"^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9_\-.~]{20,}$")


def scrub_query(query: str) -> str:
    """``query`` with the values of secret-looking parameters replaced by ``[Filtered]``."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, FILTERED if _SECRET_NAME.search(k) else v) for k, v in pairs], safe="[]")


def scrub_path(path: str) -> str:
    """``path`` with token-like segments replaced by ``[Filtered]``."""
    return "/".join(
        FILTERED if _TOKEN_SEGMENT.match(part) and not _UUID.match(part) else part for part in path.split("/")
    )


def scrub_url(url: str) -> str:
    """``url`` with its path scrubbed, its query's secrets filtered and its fragment dropped."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, scrub_path(parts.path), scrub_query(parts.query), ""))


def _scrub_request(request: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    if isinstance(request.get("method"), str):
        kept["method"] = request["method"]
    if isinstance(request.get("url"), str):
        kept["url"] = scrub_url(request["url"])
    query = request.get("query_string")
    if isinstance(query, str) and query:
        kept["query_string"] = scrub_query(query)
    headers = request.get("headers")
    if isinstance(headers, dict):
        kept["headers"] = {k: v for k, v in headers.items() if k.lower() in KEPT_HEADERS and isinstance(v, str)}
    # data (the body), cookies and env (the client's address) are never kept.
    return kept


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """``event`` as it may leave the process (see the module's docstring); changed in place and returned."""
    request = event.get("request")
    if isinstance(request, dict):
        event["request"] = _scrub_request(request)
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user["id"]} if user.get("id") else {}
    breadcrumbs = event.get("breadcrumbs")
    values = breadcrumbs.get("values") if isinstance(breadcrumbs, dict) else breadcrumbs
    if isinstance(values, list):
        for crumb in values:
            data = crumb.get("data") if isinstance(crumb, dict) else None
            if isinstance(data, dict) and isinstance(data.get("url"), str):
                data["url"] = scrub_url(data["url"])
    return event
