"""The landing page of a running app: what it serves and where, and the way into the web app."""

from __future__ import annotations

import html
from pathlib import Path

from starlette.responses import HTMLResponse

from tenantry.schema import Schema

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="/favicon.svg">
<style>
  :root {{ color-scheme: light dark; --fg: #0a0a0a; --muted: #737373; --border: #e5e5e5; --bg: #fff; }}
  @media (prefers-color-scheme: dark) {{
    :root {{ --fg: #fafafa; --muted: #a3a3a3; --border: #262626; --bg: #0a0a0a; }}
  }}
  body {{ font: 15px/1.5 system-ui, sans-serif; margin: 0; background: var(--bg); color: var(--fg); }}
  main {{ max-width: 44rem; margin: 3rem auto; padding: 0 1.25rem; }}
  h1 {{ font-size: 1.6rem; margin: 0 0 .25rem; }}
  p {{ color: var(--muted); margin: 0 0 1.5rem; }}
  a {{ color: inherit; }}
  .card {{ border: 1px solid var(--border); border-radius: .75rem; padding: 1rem 1.25rem; margin-bottom: 1rem; }}
  table {{ width: 100%; border-collapse: collapse; }}
  th, td {{ text-align: left; padding: .4rem .25rem; border-bottom: 1px solid var(--border); }}
  th {{ color: var(--muted); font-weight: 500; }}
  code {{ font-size: .9em; }}
</style>
</head>
<body>
<main>
  <h1>{title}</h1>
  <p>Served by Tenantry from <code>{source}</code>.</p>
  <div class="card">
    <a href="/dashboard"><strong>Open the app</strong></a> — <a href="/login">sign in</a> or
    <a href="/signup">create an account and an organization</a>.
  </div>
  <div class="card">
    <a href="/api/docs"><strong>API documentation</strong></a> — try every endpoint in the browser.
    &nbsp;·&nbsp; <a href="/api/openapi.json">OpenAPI 3.1</a>
  </div>
  <div class="card">
    <table>
      <thead><tr><th>Entity</th><th>Endpoint</th><th>Fields</th></tr></thead>
      <tbody>{rows}</tbody>
    </table>
  </div>
</main>
</body>
</html>
"""


def home_page(schema: Schema) -> HTMLResponse:
    """The landing page listing each entity with its endpoint."""
    rows = "".join(
        f"<tr><td>{html.escape(e.display.plural if e.display else e.name)}</td>"
        f'<td><a href="/api/{html.escape(e.route)}"><code>/api/{html.escape(e.route)}</code></a></td>'
        f"<td>{len(e.fields)}</td></tr>"
        for e in schema.entities.values()
    )
    source = html.escape(Path(schema.source).name)
    return HTMLResponse(_PAGE.format(title=html.escape(schema.app_name), source=source, rows=rows))
