"""The security headers every HTTP response carries, whichever route answered it.

A route that sets one of these headers itself keeps its own (the pages' content security policy,
which capabilities widen; the development mail viewer, framed by its own page); every other
response gets the defaults below:

- ``X-Content-Type-Options: nosniff``: a JSON body or an uploaded-looking file is never run as a
  script or a page;
- ``Content-Security-Policy``: HTML without a policy of its own may load only this site's files
  (inline styles allowed, inline scripts never); anything else (JSON, scripts, styles, images)
  may load nothing, so a response opened directly as a document runs nothing. Both refuse to be
  framed (``frame-ancestors 'none'``);
- ``X-Frame-Options``: what the response's ``frame-ancestors`` says, for browsers that only read the
  older header (``DENY``, or ``SAMEORIGIN`` for a response that only this site may frame);
- ``Referrer-Policy: same-origin``: URLs, which may carry tokens, never leave in a ``Referer``
  (the origin checks still read the site's own);
- ``Strict-Transport-Security``, in production when the site's URL is ``https`` (``TENANTRY_BASE_URL``),
  for ``TENANTRY_HSTS_MAX_AGE`` seconds (0: none).

Written as plain ASGI rather than taken from a library: the headers are a handful of constants,
and what matters (keeping a route's own policy, deriving ``X-Frame-Options`` from it) is this
app's decision, which a headers library would leave to code like this anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# HTML without a policy of its own: the site's own files, inline styles (style attributes are
# everywhere in server-rendered HTML), no inline script, no plugin, not framed.
HTML_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# Everything else: opened as a document, it may load and run nothing.
OTHER_POLICY = "default-src 'none'; frame-ancestors 'none'"
_HTML_POLICY = HTML_POLICY.encode("latin-1")
_OTHER_POLICY = OTHER_POLICY.encode("latin-1")
COMMON = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def hsts_value(env: str, base_url: str, max_age: int, include_subdomains: bool) -> str | None:
    """The ``Strict-Transport-Security`` value of a site, or None when it must not be sent: outside
    production (a developer's http://127.0.0.1 must never be pinned to https) or when the site is
    not served over https."""
    if env != "production" or max_age <= 0 or urlsplit(base_url).scheme.lower() != "https":
        return None
    return f"max-age={max_age}" + ("; includeSubDomains" if include_subdomains else "")


def frame_options(policy: str) -> str | None:
    """The ``X-Frame-Options`` saying what ``policy``'s ``frame-ancestors`` says, when it can."""
    for directive in policy.split(";"):
        name, _, sources = directive.strip().partition(" ")
        if name.lower() != "frame-ancestors":
            continue
        value = sources.strip().lower()
        if value == "'none'":
            return "DENY"
        if value == "'self'":
            return "SAMEORIGIN"
        return None  # other origins may frame it: the old header cannot say so
    return "DENY"  # the policy says nothing of framing: nobody may


# The names ``SecurityHeaders`` looks for in a response's own headers (ASGI gives them lower-case).
_CSP = b"content-security-policy"
_FRAME = b"x-frame-options"
_TYPE = b"content-type"
# Distinct policies whose framing header is remembered (a handful in practice: the defaults and the
# pages' own); beyond that it is worked out again each time.
_FRAMINGS_KEPT = 64


class SecurityHeaders:
    """ASGI middleware adding the module's headers to every HTTP response that lacks them.

    It works on the raw header list of the answer's start (one pass over it, the headers it adds
    encoded once): it runs on every response."""

    def __init__(self, app: ASGIApp, *, hsts: str | None = None) -> None:
        self.app = app
        self.fixed: Mapping[str, str] = {**COMMON, **({"strict-transport-security": hsts} if hsts else {})}
        self._fixed_raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.fixed.items()]
        self._watched = frozenset({_CSP, _FRAME, _TYPE, *(k for k, _ in self._fixed_raw)})
        self._framings: dict[bytes, bytes | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self.completed(message.get("headers", ()))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def completed(self, raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """A response's raw headers with every security header it does not set itself added."""
        headers = list(raw)
        watched = self._watched
        present: dict[bytes, bytes] = {}
        for name, value in headers:
            key = name.lower()
            if key in watched and key not in present:
                present[key] = value
        for name, value in self._fixed_raw:
            if name not in present:
                headers.append((name, value))
        policy = present.get(_CSP)
        if policy is None:
            is_html = present.get(_TYPE, b"").lower().startswith(b"text/html")
            policy = _HTML_POLICY if is_html else _OTHER_POLICY
            headers.append((_CSP, policy))
        if _FRAME not in present:
            framing = self._framing(policy)
            if framing is not None:
                headers.append((_FRAME, framing))
        return headers

    def _framing(self, policy: bytes) -> bytes | None:
        try:
            return self._framings[policy]
        except KeyError:
            pass
        found = frame_options(policy.decode("latin-1"))
        framing = found.encode("latin-1") if found is not None else None
        if len(self._framings) < _FRAMINGS_KEPT:
            self._framings[policy] = framing
        return framing

    def add(self, headers: MutableHeaders) -> None:
        """Complete ``headers`` (a response's) with every security header it does not set itself."""
        headers.raw[:] = self.completed(headers.raw)
