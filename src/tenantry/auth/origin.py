"""Origin checks against cross-site request forgery, exactly as Better Auth's §3 rules.

1. A state-changing request that carries a Cookie header must come from a trusted origin (its
   ``Origin``, or else its ``Referer``).
2. Sign-in and sign-up without cookies are checked too when the browser says anything about the
   request's origin (``Sec-Fetch-*``, ``Origin``, ``Referer``): a cross-site navigation is refused.
3. URLs the client asks to be sent to (``callbackURL`` …) must be paths on this site or of trusted
   origins, as a browser would parse them (``tenantry.auth.redirects``); refused with Better Auth's
   403 codes (``INVALID_CALLBACK_URL`` …), and handed on as they were checked.

The web pages' forms answer to rule 1 whether or not they carry a cookie (``check_form``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request

from tenantry.auth.errors import AuthError, auth_error
from tenantry.auth.redirects import RedirectRule

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_CSRF_PATHS = frozenset({"/sign-in/email", "/sign-up/email", "/sign-in/magic-link"})
URL_PARAMS = {
    "callbackURL": "INVALID_CALLBACK_URL",
    "redirectTo": "INVALID_REDIRECT_URL",
    "errorCallbackURL": "INVALID_ERROR_CALLBACK_URL",
    "newUserCallbackURL": "INVALID_NEW_USER_CALLBACK_URL",
}


def origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[::1" and the like: no origin, so never trusted
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class OriginPolicy:
    """The trusted origins of one app: its base URL plus configured ones (``*`` wildcards allowed)."""

    def __init__(self, base_url: str, trusted: list[str]) -> None:
        base = origin_of(base_url)
        self.exact = {o for o in [base, *(origin_of(t) or t.lower() for t in trusted if "*" not in t)] if o}
        self.patterns = [t.lower().rstrip("/") for t in trusted if "*" in t]
        self.redirects = RedirectRule(self.is_trusted)

    def is_trusted(self, url: str | None) -> bool:
        if not url:
            return False
        origin = origin_of(url)
        if origin is None:
            return False
        return origin in self.exact or any(fnmatch.fnmatchcase(origin, p) for p in self.patterns)

    def check_request(self, request: Request, path: str, has_cookie: bool) -> None:
        """Raise 403 when a state-changing request fails the origin rules."""
        if request.method in SAFE_METHODS:
            return
        origin = request.headers.get("origin")
        referer = request.headers.get("referer")
        if has_cookie:
            self._require_trusted(origin, referer)
            return
        if path in FORM_CSRF_PATHS:
            site = request.headers.get("sec-fetch-site")
            mode = request.headers.get("sec-fetch-mode")
            if site == "cross-site" and mode == "navigate":
                raise auth_error(403, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED")
            fetch_headers = any(h.startswith("sec-fetch-") for h in request.headers)
            said_where = fetch_headers or origin or referer
            if said_where and not self.is_trusted(origin if origin and origin != "null" else referer):
                raise auth_error(403, "INVALID_ORIGIN")

    def check_form(self, request: Request) -> None:
        """Raise 403 unless a page's form POST comes from a trusted origin: rule 1 with or without
        a cookie (the sign-in form has none yet; browsers always send ``Origin`` on form POSTs)."""
        if request.method in SAFE_METHODS:
            return
        self._require_trusted(request.headers.get("origin"), request.headers.get("referer"))

    def _require_trusted(self, origin: str | None, referer: str | None) -> None:
        if origin == "null" or (not origin and not referer):
            raise auth_error(403, "MISSING_OR_NULL_ORIGIN")
        if not self.is_trusted(origin or referer):
            raise auth_error(403, "INVALID_ORIGIN")

    def check_urls(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` (a body or a query) with each ``callbackURL``/``redirectTo``/… as it was
        checked; 403 with Better Auth's code for the first one that is not allowed."""
        checked = dict(values)
        for key, code in URL_PARAMS.items():
            value = values.get(key)
            if isinstance(value, str) and value:
                target = self.redirects.resolve(value)
                if target is None:
                    raise AuthError(403, code)
                checked[key] = target
        return checked
