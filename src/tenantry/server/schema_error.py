"""What ``tenantry dev`` serves while the schema (or ``hooks.py``) has mistakes: the mistakes, until fixed.

After a schema edit the development server builds the app again; when the schema cannot be loaded
there is no app to serve, and a browser would wait on a server that never answers. This app
answers every request instead, with 503 and the same ``FILE:LINE: message`` lines the terminal
shows: browsers get a page that reloads itself once the server answers with the app again,
API clients a JSON error with the code ``SCHEMA_INVALID``.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

CODE = "SCHEMA_INVALID"
HOOKS_CODE = "HOOKS_INVALID"
HEADER = "x-tenantry-schema-error"  # on every answer of this app: the page's poll reloads once it is gone
POLL_MS = 1000

# Checks the page's own address every second; anything but this app's answer means the schema
# loads again (or the server is back with the app), so the page reloads.
_SCRIPT = """
(function () {
  async function poll() {
    try {
      const r = await fetch(location.href, {cache: "no-store", headers: {accept: "text/html"}});
      if (!r.headers.has("HEADER")) { location.reload(); return; }
    } catch (e) { /* the server is restarting */ }
    setTimeout(poll, POLL_MS);
  }
  setTimeout(poll, POLL_MS);
})();
""".replace("HEADER", HEADER).replace("POLL_MS", str(POLL_MS))

_STYLE = """
:root{color-scheme:light dark}
body{margin:0;font:15px/1.5 system-ui,sans-serif;background:#1b1116;color:#f4e9ec}
main{max-width:60rem;margin:3rem auto;padding:0 1.25rem}
h1{font-size:1.3rem;color:#ff8fa3;margin:0 0 .25rem}
p{color:#c9b7bd;margin:.25rem 0 1rem}
pre{background:#2a1820;border:1px solid #5c2a3a;border-left:4px solid #ff5c7a;border-radius:8px;
padding:1rem 1.2rem;overflow-x:auto;white-space:pre-wrap;word-break:break-word;
font:14px/1.6 ui-monospace,SFMono-Regular,Menlo,monospace;color:#ffd6de}
.wait{font-size:.9rem}
"""


def problem_lines(problems: Sequence[str]) -> list[str]:
    """The terminal's text: one ``FILE:LINE: message`` line per problem, then their count."""
    count = len(problems)
    return [*problems, f"{count} problem{'s' if count != 1 else ''} in the schema; fix them and save."]


def schema_error_app(problems: Sequence[str]) -> Starlette:
    """An app answering every HTTP request with 503 and ``problems`` (strings, ``FILE:LINE: message``)."""
    return _error_app(problem_lines(problems), problems, CODE, "The schema has mistakes", "the file")


def hooks_error_app(path: str, lines: Sequence[str]) -> Starlette:
    """The same for a project's ``hooks.py`` that cannot be imported: ``lines`` are its traceback's end."""
    return _error_app(lines, lines, HOOKS_CODE, f"{path} cannot be loaded", "it")


def _error_app(lines: Sequence[str], problems: Sequence[str], code: str, heading: str, what: str) -> Starlette:

    async def answer(request: Request) -> Response:
        headers = {HEADER: "1", "retry-after": "1", "cache-control": "no-store"}
        if _wants_html(request):
            nonce = secrets.token_urlsafe(16)
            headers["content-security-policy"] = (
                f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
                "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
            )
            return HTMLResponse(_page(lines, nonce, heading, what), 503, headers=headers)
        body = {
            "statusCode": 503,
            "message": f"{heading}; the development server serves the app again once {what} is fixed.",
            "error": "Service Unavailable",
            "code": code,
            "problems": list(problems),
        }
        return JSONResponse(body, 503, headers=headers)

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", answer, methods=methods)])


def _wants_html(request: Request) -> bool:
    """A browser's navigation (or the page's own poll): HTML accepted and not an API call."""
    if request.url.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "")


def _page(lines: Sequence[str], nonce: str, heading: str, what: str) -> str:
    text = html.escape("\n".join(lines))
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        "<title>Schema error · Tenantry</title>"
        f"<style nonce={nonce}>{_STYLE}</style></head><body><main>"
        f"<h1>{html.escape(heading)}</h1>"
        f"<p>The development server cannot build the app. Fix {what} and save: "
        "this page reloads by itself.</p>"
        f"<pre id=schema-problems role=alert>{text}</pre><p class=wait aria-live=polite>Waiting for a fix…</p>"
        f"<script nonce={nonce}>{_SCRIPT}</script></main></body></html>"
    )
