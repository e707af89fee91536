"""The reference server for ``bench/run.py``: raw Starlette + asyncpg, no Tenantry code at all.

It serves the two endpoints the benchmark drives, with the exact SQL Tenantry compiles for them
(``run.py`` checks the strings against Tenantry's compiler before measuring) and the exact JSON
Tenantry returns (``run.py`` compares responses byte for byte), so the only difference left is
the framework: query-string parsing, the pipeline, statement lookup, row shaping.

- ``GET /api/projects?org_id=<uuid>&limit=<n>``: the organization's projects, oldest first.
- ``GET /api/projects/<uuid>``: one project, or 404.
- ``GET /dashboard`` (signed in only): Tenantry's dashboard page, the same bytes, rendered with
  Jinja2 from ``dashboard.html`` (this page's markup written once as a template: the frame with its
  organization switcher, the notification bell, the first-steps checklist, the counts and the
  organization's 60 oldest projects as cards, the "New project" dialog), from five queries.

With ``Authorization: Bearer <token>.<signature>`` (the signed session token Tenantry's sign-in
returns in ``set-auth-token``), both act for the session's user as Tenantry does in production: the
signature is checked (HMAC-SHA256 with ``BENCH_SECRET``), the session, its user and the user's
membership in the session's active organization are read in one query (``SESSION_SQL``), and the
list is that organization's (no ``org_id`` needed), the get answers 404 for another organization's
row. No session: 401.

With ``x-api-key: <key>`` instead, both act for the key's user in the key's organization, with the
work Tenantry does for a key: the key is hashed (SHA-256, base64url), then one statement
(``KEY_SQL``) finds it, checks it is enabled, unexpired, without a quota, within its rate limit
(a fixed window) and that its user is still a member of its organization, counts the use (the
window's count and the last use) and writes the use's audit row. A key it does not count: 401.

Run it like the benchmark does::

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tenantry_bench \\
        uvicorn --app-dir bench baseline:create_app --factory --workers 1 --loop uvloop --http httptools

``BENCH_DB_POOL_SIZE`` (default 10, Tenantry's default) sets the pool size and ``BENCH_MAX_LIMIT``
(default 100) caps ``limit`` as Tenantry does.

``BENCH_BASELINE_POOL`` says how it uses asyncpg's pool: ``default`` runs each statement through the
pool (``pool.fetchrow``) with the pool's defaults, as a plain app does, so every statement also
pays asyncpg's reset on release (``RESET ALL``, ``UNLISTEN *`` … : a round trip of its own);
``tuned`` takes one connection per request for both statements and skips the reset, as Tenantry
does (its pool keeps no session state on a connection): the strongest baseline this code can be.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import asyncpg
import jinja2
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

COLUMNS = ", ".join(
    f"projects.{c}" for c in ("id", "name", "description", "org_id", "created_by", "status", "created_at", "updated_at")
)
# Byte for byte what SQLCompiler produces for these two shapes (run.py asserts it).
LIST_SQL = (
    f"SELECT {COLUMNS} \nFROM projects \nWHERE projects.org_id = $1::UUID "
    "ORDER BY projects.created_at ASC NULLS LAST, projects.id ASC \n LIMIT $2"
)
GET_SQL = f"SELECT {COLUMNS} \nFROM projects \nWHERE projects.id = $1::UUID"
DEFAULT_LIMIT = 100  # Tenantry's max_limit; the list's default page size when no limit is given.
# The session, its user and the user's role in the session's active organization: one query, as
# Tenantry's session lookup.
SESSION_SQL = (
    "SELECT s.expires_at, s.user_id, u.email, m.organization_id, m.role FROM auth_sessions AS s "
    "JOIN users AS u ON u.id = s.user_id LEFT JOIN org_members AS m "
    "ON m.organization_id = s.active_organization_id AND m.user_id = s.user_id WHERE s.token = $1"
)

# A key's use, as Tenantry counts and audits it: the guarded update of the key (usable, a member of
# its organization, within its rate limit: a window that ran out starts again with this request),
# the audit row read from the updated row, the organization to act in. Written as a plain app would.
_FRESH = "(k.window_start IS NULL OR k.window_start <= $2 - k.rate_limit_time_window * interval '1 millisecond')"
_LIMITED = "(k.rate_limit_enabled AND coalesce(k.rate_limit_time_window, 0) <> 0 AND k.rate_limit_max IS NOT NULL)"
KEY_SQL = (
    "WITH used AS (UPDATE auth_api_keys AS k SET "
    f"request_count = CASE WHEN NOT {_LIMITED} THEN k.request_count WHEN {_FRESH} THEN 1 "
    "ELSE k.request_count + 1 END, "
    f"window_start = CASE WHEN {_LIMITED} AND {_FRESH} THEN $2 ELSE k.window_start END, "
    "last_request = $2, updated_at = $2 "
    "WHERE k.key = $1 AND k.enabled AND k.remaining IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2) "
    f"AND (NOT {_LIMITED} OR {_FRESH} OR k.request_count < k.rate_limit_max) "
    "AND EXISTS (SELECT 1 FROM org_members AS m WHERE m.organization_id = k.organization_id "
    "AND m.user_id = k.reference_id) "
    "RETURNING k.id, k.reference_id, k.organization_id), "
    "logged AS (INSERT INTO audit_logs (id, user_id, org_id, action, resource_type, resource_id, new_values, "
    "ip_address, user_agent, created_at) SELECT $3, used.reference_id, used.organization_id, 'api_key_use', "
    "'api_key', used.id, $4::jsonb, $5, $6, $2 FROM used) "
    "SELECT used.organization_id FROM used"
)

# The dashboard's reads, written as a plain app would: the session with its user, role and active
# organization; the user's organizations (the switcher); the bell (the 8 newest notifications and
# the unread count); the cards with the organization's total; the other counts and whether an
# invitation waits (the checklist), in one statement.
PAGE_SESSION_SQL = (
    "SELECT s.expires_at, s.user_id, u.email, u.name, u.email_verified, m.organization_id, m.role, o.name "
    "FROM auth_sessions AS s JOIN users AS u ON u.id = s.user_id LEFT JOIN org_members AS m "
    "ON m.organization_id = s.active_organization_id AND m.user_id = s.user_id "
    "LEFT JOIN organizations AS o ON o.id = m.organization_id WHERE s.token = $1"
)
ORGANIZATIONS_SQL = (
    "SELECT o.id, o.name FROM org_members AS m JOIN organizations AS o ON o.id = m.organization_id "
    "WHERE m.user_id = $1 ORDER BY m.created_at, m.id"
)
BELL_SQL = (
    "SELECT n.id, n.title, n.message, n.read_at IS NOT NULL, n.created_at, (SELECT count(*) FROM notifications "
    "AS u WHERE u.user_id = $1 AND u.read_at IS NULL) FROM notifications AS n WHERE n.user_id = $1 "
    "ORDER BY n.id DESC LIMIT 8"
)
CARDS_SQL = (
    "SELECT id, name, description, status, created_at, count(*) OVER () FROM projects WHERE org_id = $1 "
    "ORDER BY created_at ASC NULLS LAST, id ASC LIMIT 60"
)
COUNTS_SQL = (
    "SELECT (SELECT count(*) FROM subscriptions WHERE org_id = $1), "
    "(SELECT count(*) FROM org_members WHERE organization_id = $1), "
    "EXISTS (SELECT 1 FROM org_invitations WHERE organization_id = $1 AND status = 'pending')"
)
# The page's headers, as Tenantry's pages send them.
PAGE_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}
_DAY = 86400
_UNITS = ((365 * _DAY, "year"), (30 * _DAY, "month"), (7 * _DAY, "week"), (_DAY, "day"), (3600, "hour"), (60, "minute"))

JSON = "application/json"


def iso_ms(value: dt.datetime) -> str:
    """``2026-11-26T10:42:01.801Z``: asyncpg returns ``timestamptz`` as aware UTC datetimes."""
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


def project_json(row: asyncpg.Record) -> dict[str, Any]:
    """One row as the API returns it: uuids as strings, timestamps ISO-8601 UTC with milliseconds."""
    return {
        "id": str(row[0]),
        "name": row[1],
        "description": row[2],
        "org_id": str(row[3]),
        "created_by": str(row[4]),
        "status": row[5],
        "created_at": iso_ms(row[6]),
        "updated_at": iso_ms(row[7]),
    }


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type=JSON)


def error(status: int, code: str, message: str) -> Response:
    return json_response({"statusCode": status, "code": code, "message": message}, status)


def parse_uuid(text: str | None) -> uuid.UUID | None:
    """The UUID in ``text``, or ``None`` when it is missing or malformed."""
    if text is None:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def pool_of(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def session_token(secret: str, header: str) -> str | None:
    """The session token of a signed bearer value, or None when its signature is wrong."""
    value, _, signature = unquote(header[7:].strip()).rpartition(".")
    expected = base64.b64encode(hmac.new(secret.encode(), value.encode(), hashlib.sha256).digest()).decode()
    return value if value and hmac.compare_digest(signature, expected) else None


class Statements:
    """Where a request's statements run: through the pool one by one (``default``), or on one
    connection taken for the whole request (``tuned``)."""

    def __init__(self, request: Request) -> None:
        self.pool = pool_of(request)
        self.tuned: bool = request.app.state.tuned
        self.conn: Any = None

    async def __aenter__(self) -> Statements:
        if self.tuned:
            self.conn = await self.pool.acquire()
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.conn is not None:
            await self.pool.release(self.conn)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        return await (self.conn or self.pool).fetchrow(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> Any:
        return await (self.conn or self.pool).fetch(sql, *args)


def key_hash(key: str) -> str:
    """What the key table stores for ``key``: SHA-256, base64url, unpadded (Tenantry's ``hash_key``,
    written again: this server imports nothing of Tenantry; ``run.py`` refuses to measure if a key
    request here is not counted)."""
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()).decode().rstrip("=")


async def key_organization(request: Request, db: Statements, key: str) -> uuid.UUID | Response:
    """The organization of the request's API key, its use counted and audited (a 401 answer when
    the key is unknown or may not be used)."""
    now = dt.datetime.now(dt.UTC)
    client = request.client.host if request.client else None
    used = orjson.dumps({"method": request.method, "path": request.url.path}).decode()
    agent = request.headers.get("user-agent")
    row = await db.fetchrow(KEY_SQL, key_hash(key), now, uuid.uuid4(), used, client, agent) if key else None
    if row is None:
        return error(401, "INVALID_API_KEY", "Invalid API key")
    org: uuid.UUID = row[0]
    return org


async def organization(request: Request, db: Statements) -> uuid.UUID | Response | None:
    """The active organization of the request's session or API key (a 401 answer when it has
    none); None without ``Authorization`` or ``x-api-key``."""
    header = request.headers.get("authorization")
    if header is None:
        key = request.headers.get("x-api-key")
        return None if key is None else await key_organization(request, db, key)
    token = session_token(request.app.state.secret, header) if header[:7].lower() == "bearer " else None
    row = await db.fetchrow(SESSION_SQL, token) if token else None
    if row is None or row[0] < dt.datetime.now(dt.UTC) or row[3] is None:
        return error(401, "UNAUTHORIZED", "Sign in to continue")
    org: uuid.UUID = row[3]
    return org


async def list_projects(request: Request) -> Response:
    """``GET /api/projects?org_id=…&limit=…`` (org_id is required here without a session: the
    benchmark always sends it)."""
    async with Statements(request) as db:
        return await _list_projects(request, db)


async def _list_projects(request: Request, db: Statements) -> Response:
    signed_in = await organization(request, db)
    if isinstance(signed_in, Response):
        return signed_in
    org_id = signed_in or parse_uuid(request.query_params.get("org_id"))
    if org_id is None:
        return error(400, "INVALID_FILTER_VALUE", "org_id must be a UUID")
    raw_limit = request.query_params.get("limit")
    limit = int(raw_limit) if raw_limit and raw_limit.isdigit() else DEFAULT_LIMIT
    limit = min(max(limit, 1), request.app.state.max_limit)
    rows = await db.fetch(LIST_SQL, org_id, limit)
    return json_response([project_json(r) for r in rows])


async def get_project(request: Request) -> Response:
    """``GET /api/projects/<id>``."""
    async with Statements(request) as db:
        return await _get_project(request, db)


async def _get_project(request: Request, db: Statements) -> Response:
    signed_in = await organization(request, db)
    if isinstance(signed_in, Response):
        return signed_in
    project_id = parse_uuid(request.path_params["id"])
    if project_id is None:
        return error(400, "INVALID_ID", "id must be a UUID")
    row = await db.fetchrow(GET_SQL, project_id)
    if row is None or (signed_in is not None and row[3] != signed_in):
        return error(404, "NOT_FOUND", "Project not found")
    return json_response(project_json(row))


def minutes(value: dt.datetime) -> str:
    """``2026-12-07 16:38``: a notification's time in the bell."""
    return iso_ms(value).replace("T", " ")[:16]


def relative(moment: dt.datetime, now: dt.datetime) -> str:
    """``3 minutes ago``: the largest whole unit between the two, as the cards say it."""
    seconds = (now - moment).total_seconds()
    ahead, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        return "just now"
    for size, unit in _UNITS:
        if seconds >= size:
            count = round(seconds / size) if size < 86400 else int(seconds // size)
            words = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"in {words}" if ahead else f"{words} ago"
    return "in a minute" if ahead else "a minute ago"


def initials(text: str) -> str:
    """``Ada Lovelace`` -> ``AL``: an avatar's letters."""
    words = [w for w in text.split("@")[0].replace(".", " ").replace("_", " ").split() if w[:1].isalnum()]
    return "".join(w[0] for w in words[:2]).upper() or "?"


async def dashboard(request: Request) -> Response:
    """``GET /dashboard``: the signed-in user's dashboard in their active organization; without a
    valid session, to the sign-in page."""
    header = request.headers.get("authorization", "")
    token = session_token(request.app.state.secret, header) if header[:7].lower() == "bearer " else None
    async with Statements(request) as db:
        session = await db.fetchrow(PAGE_SESSION_SQL, token) if token else None
        now = dt.datetime.now(dt.UTC)
        if session is None or session[0] < now:
            return Response(status_code=303, headers={"location": "/login?from=%2Fdashboard"})
        user_id, org_id = session[1], session[5]
        if org_id is None:
            return Response("no organization", status_code=404)
        organizations = await db.fetch(ORGANIZATIONS_SQL, user_id)
        bell = await db.fetch(BELL_SQL, str(user_id))
        cards = await db.fetch(CARDS_SQL, org_id)
        subscriptions, members, invited = await db.fetchrow(COUNTS_SQL, org_id)
    role = session[6]
    steps = []
    if role == "admin":  # the schema's first role: its admins see the first steps until all are done
        steps = [
            {"text": "Invite a teammate", "href": "/settings/members#invite-email", "done": members > 1 or invited},
            {"text": "Create your first project", "href": "/app/projects/new", "done": bool(cards)},
        ]
        if all(step["done"] for step in steps):
            steps = []
    rows = [
        {
            "id": r[0],
            "name": r[1],
            "description": r[2],
            "status": r[3],
            "iso": iso_ms(r[4]),
            "exact": r[4].strftime("%Y-%m-%d %H:%M:%S UTC"),
            "words": relative(r[4], now),
        }
        for r in cards
    ]
    name, email = session[3], session[2]
    body = request.app.state.dashboard.render(
        user={"id": user_id, "email": email, "name": name, "verified": session[4]},
        who=name or email,
        org={"id": org_id, "name": session[7]},
        role=role,
        organizations=organizations,
        bell=[{"id": n[0], "title": n[1], "message": n[2], "read": n[3], "at": minutes(n[4])} for n in bell],
        unread=bell[0][5] if bell else 0,
        steps=steps,
        total=cards[0][5] if cards else 0,
        subscriptions=subscriptions,
        members=members,
        rows=rows,
        initials=initials,
    )
    return HTMLResponse(body, headers=PAGE_HEADERS)


def create_app() -> Starlette:
    """The baseline app; reads ``BENCH_DATABASE_URL``, ``BENCH_DB_POOL_SIZE``, ``BENCH_MAX_LIMIT``,
    ``BENCH_SECRET`` and ``BENCH_BASELINE_POOL``."""
    dsn = os.environ["BENCH_DATABASE_URL"]
    pool_size = int(os.environ.get("BENCH_DB_POOL_SIZE", "10"))
    max_limit = int(os.environ.get("BENCH_MAX_LIMIT", str(DEFAULT_LIMIT)))
    tuned = os.environ.get("BENCH_BASELINE_POOL", "default") == "tuned"

    async def no_reset(conn: asyncpg.Connection) -> None:
        """Tuned: nothing to reset (no statement here leaves session state behind)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=pool_size, command_timeout=60, **({"reset": no_reset} if tuned else {})
        )
        app.state.tuned = tuned
        app.state.max_limit = max_limit
        app.state.secret = os.environ.get("BENCH_SECRET", "")
        templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(os.path.dirname(__file__)),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        app.state.dashboard = templates.get_template("dashboard.html")
        try:
            yield
        finally:
            await app.state.pool.close()

    return Starlette(
        routes=[
            Route("/api/projects", list_projects, methods=["GET"]),
            Route("/api/projects/{id}", get_project, methods=["GET"]),
            Route("/dashboard", dashboard, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
