"""Round trips to PostgreSQL per authenticated request, counted on the app's own connections.

Every statement any pooled connection sends is counted (``PostgresDatabase.listen_statements``:
asyncpg's query loggers), but only those sent for the request being measured (a context variable
set around it; the outbox's and other background statements run in contexts of their own). Two
users of two organizations alternate on a pool of one connection, so each request finds the
connection acting for the other user: the worst case for switching the acting user of row-level
security. A new statement on the hot path fails these tests until the bound is raised on purpose.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import re
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tenantry.auth import Authentication
from tenantry.auth.plugins.api_key.settings import ApiKeySettings
from tenantry.db.postgres import PostgresDatabase
from tests.admin.helpers import SETTINGS as ADMIN_SETTINGS
from tests.admin.helpers import superuser
from tests.api.test_apso_bypass import SCHEMA as BYPASS_SCHEMA
from tests.api.test_apso_bypass import world as bypass_world
from tests.api_key.helpers import create_key, with_key
from tests.audit.helpers import person
from tests.auth.helpers import BASE, NO_VERIFICATION, runtime
from tests.conftest import ClientFactory, postgres_scratch
from tests.databases import PostgresDatabases
from tests.tenancy.helpers import User, create_org, join, new_user

# The bounds (before: 5-6 for a read, 9 then 6 with an API key, 11 for a create). A read: the session
# lookup, which also names the acting user, then the request's query. With an API key the same two
# (was 3, and 6 before that): the key's lookup counts the use and writes its audit row in the same
# statement (they were a statement of their own, and before it a transaction: BEGIN, the key's
# counter, the audit row, COMMIT). A create (was 8 with a query each to check the
# organization and the user it names, which the session lookup already proved): the session lookup,
# BEGIN, the row, its event in the outbox, its audit row, COMMIT.
READ_BOUND = 2
KEY_BOUND = 2
WRITE_BOUND = 6
# The dashboard of an organization with a teammate (before: 9): the session lookup, the viewer's
# organizations, the notification bell, the cards (with their entity's total), the member count
# (was a membership check, a page of members and its count), and one count per other entity of
# the organization's own.
DASHBOARD_BOUND = 6
# Before anyone joined, its admin's checklist also shows whether an invitation waits: asked by the
# member count's statement (before: 8, the admin's membership read again and every invitation listed).
DASHBOARD_ALONE_BOUND = 6

_measuring: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("measuring", default=None)


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(postgres_databases: PostgresDatabases | None) -> str:
    """PostgreSQL only: round trips (and the acting user of row-level security) are PostgreSQL's."""
    return postgres_scratch(postgres_databases)


def _listen(statement: str) -> None:
    sent = _measuring.get()
    if sent is not None:
        sent.append(statement)


async def statements(request: Callable[[], Awaitable[httpx.Response]]) -> list[str]:
    """The statements the app sent to the database while answering ``request`` (which must succeed)."""
    sent: list[str] = []
    token = _measuring.set(sent)
    try:
        response = await request()
    finally:
        _measuring.reset(token)
    assert response.is_success, response.text
    await asyncio.sleep(0)  # asyncpg calls its query loggers soon after each statement, not at once
    return sent


async def test_statements_per_authenticated_request(make_client: ClientFactory) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE, TENANTRY_DB_POOL_SIZE=1) as client:
        db = runtime(client).db
        assert isinstance(db, PostgresDatabase)
        ann = await new_user(client, "ann@example.com")
        bob = await new_user(client, "bob@example.com")
        await create_org(client, ann, "Acme")
        await create_org(client, bob, "Bolt")
        key = (await create_key(client, ann, name="ci"))["key"]
        made = {}
        for user in (ann, bob):
            r = await client.post("/api/projects", json={"name": f"{user.email}'s"}, headers=user.headers)
            made[user.email] = r.json()["id"]
        # From here on every statement of the (one, warm) connection is seen.
        await db.listen_statements(_listen)
        await client.get("/api/projects", headers=ann.headers)

        def get(user: User) -> Callable[[], Awaitable[httpx.Response]]:
            return lambda: client.get(f"/api/projects/{made[user.email]}", headers=user.headers)

        cases: list[tuple[str, int, Callable[[], Awaitable[httpx.Response]]]] = []
        for user in (bob, ann, bob):  # each request finds the connection acting for the other user
            cases.append(("list", READ_BOUND, lambda u=user: client.get("/api/projects?limit=20", headers=u.headers)))
            cases.append(("get", READ_BOUND, get(ann if user is ann else bob)))
            cases.append(("key list", KEY_BOUND, lambda: client.get("/api/projects", headers=with_key(key))))
            cases.append(
                (
                    "create",
                    WRITE_BOUND,
                    lambda u=user: client.post("/api/projects", json={"name": "n"}, headers=u.headers),
                )
            )
        for name, bound, request in cases:
            sent = await statements(request)
            assert len(sent) <= bound, f"{name}: {len(sent)} statements (at most {bound})\n" + "\n".join(sent)
            # The lookup named the acting user of row-level security: no statement of its own did.
            assert not any(s.lstrip().startswith("SELECT set_config") for s in sent), (name, sent)


async def test_statements_of_the_dashboard(make_client: ClientFactory) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE, TENANTRY_DB_POOL_SIZE=1) as client:
        db = runtime(client).db
        assert isinstance(db, PostgresDatabase)
        ann = await new_user(client, "ann@example.com")
        org = await create_org(client, ann, "Acme")
        for name in ("one", "two"):
            assert (await client.post("/api/projects", json={"name": name}, headers=ann.headers)).status_code == 201
        await db.listen_statements(_listen)
        await client.get("/dashboard", headers=ann.headers)  # warm: statements prepared
        sent = await statements(lambda: client.get("/dashboard", headers=ann.headers))
        bound = DASHBOARD_ALONE_BOUND
        assert len(sent) <= bound, f"alone: {len(sent)} statements (at most {bound})\n" + "\n".join(sent)
        await join(client, ann, org, await new_user(client, "bob@example.com"), "member")
        sent = await statements(lambda: client.get("/dashboard", headers=ann.headers))
        assert len(sent) <= DASHBOARD_BOUND, f"{len(sent)} statements (at most {DASHBOARD_BOUND})\n" + "\n".join(sent)
        page = (await client.get("/dashboard", headers=ann.headers)).text
        # What the saved statements read still shows: two projects and their count, two members.
        assert ">one<" in page and ">two<" in page
        assert re.search(r'<p class="muted" style="margin:0">Projects</p><p class="stat">2</p>', page)
        assert re.search(r'<p class="muted" style="margin:0">Members</p><p class="stat">2</p>', page)


async def test_a_key_without_audit_of_its_uses_is_counted_by_one_statement(make_client: ClientFactory) -> None:
    # With the audit of uses off there is nothing to write with the count: the key's guarded update
    # alone, outside a transaction (it was BEGIN, the update, COMMIT: five round trips in all).
    quiet = ApiKeySettings(
        TENANTRY_API_KEY_AUDIT_USE=False, TENANTRY_API_KEY_RATE_LIMIT_MAX=2, TENANTRY_API_KEY_RATE_LIMIT_WINDOW=60
    )
    async with make_client(auth=NO_VERIFICATION, base_url=BASE, api_key=quiet, TENANTRY_DB_POOL_SIZE=1) as client:
        db = runtime(client).db
        assert isinstance(db, PostgresDatabase)
        ann = await new_user(client, "ann@example.com")
        await create_org(client, ann, "Acme")
        limited = await create_key(client, ann, name="limited")
        await db.listen_statements(_listen)
        for _ in range(2):
            sent = await statements(lambda: client.get("/api/projects", headers=with_key(limited["key"])))
            assert len(sent) <= KEY_BOUND and not any(s.strip().upper() == "BEGIN" for s in sent), sent
        # The count held: a third use within the window is refused, and no use was audited.
        over = await client.get("/api/projects", headers=with_key(limited["key"]))
        assert over.status_code == 429 and over.json()["code"] == "RATE_LIMITED"
        rows = await db.fetch("SELECT count(*) FROM audit_logs WHERE action = 'api_key_use'")
        assert rows[0][0] == 0


async def test_connection_back_in_the_pool_when_the_answer_starts(make_client: ClientFactory) -> None:
    """The connection a read kept for its next statement is in the pool again as the answer's
    start is sent: not held while the body is sent and the outer middleware finish. (No
    background work in this process: nothing else takes the pool's one connection meanwhile.)"""
    settings = {"TENANTRY_DB_POOL_SIZE": 1, "TENANTRY_BACKGROUND": False}
    async with make_client(auth=NO_VERIFICATION, base_url=BASE, **settings) as client:
        db = runtime(client).db
        assert isinstance(db, PostgresDatabase)
        ann = await new_user(client, "ann@example.com")
        await create_org(client, ann, "Acme")
        await db.listen_statements(_listen)
        await client.get("/api/projects", headers=ann.headers)  # warm: statements prepared
        in_use: dict[str, int] = {}

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            # The give-back runs in the background: a few turns of the event loop, at most.
            for _ in range(20):
                if db.pool_stats().in_use == 0:
                    break
                await asyncio.sleep(0)
            in_use.setdefault(str(message["type"]), db.pool_stats().in_use)

        headers = [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {ann.token}".encode())]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/api/projects",
            "raw_path": b"/api/projects",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        sent: list[str] = []
        token = _measuring.set(sent)
        try:
            await client.app(scope, receive, send)  # type: ignore[attr-defined]
        finally:
            _measuring.reset(token)
        await asyncio.sleep(0)
        assert len(sent) == READ_BOUND, sent  # the session lookup's connection served the query
        assert in_use == {"http.response.start": 0, "http.response.body": 0}


async def test_a_bypass_role_costs_no_statement_more(make_client: ClientFactory) -> None:
    """Apso's bypassRoles: a superuser working across organizations sends as many statements as an
    organization admin working in their own (the role comes with the session lookup; the policies
    read it inside the statement)."""
    async with make_client(BYPASS_SCHEMA, auth=NO_VERIFICATION, base_url=BASE, TENANTRY_DB_POOL_SIZE=1) as client:
        db = runtime(client).db
        assert isinstance(db, PostgresDatabase)
        w = await bypass_world(client)
        ann, root = w["ann"], w["root"]
        await db.listen_statements(_listen)
        await client.get("/api/Projects", headers=root.headers)  # warm: statements prepared
        await client.get("/api/Projects", headers=ann.headers)
        counts: dict[tuple[str, str], int] = {}
        for _ in range(2):  # each request finds the connection acting for the other user
            for who, user in (("superuser", root), ("member", ann)):
                requests: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
                    "list": lambda u=user: client.get("/api/Projects", headers=u.headers),
                    # Project 1 is Acme's: Ann's own, another organization's for the superuser.
                    "get": lambda u=user: client.get("/api/Projects/1", headers=u.headers),
                    "update": lambda u=user: client.patch("/api/Projects/1", json={"name": "n"}, headers=u.headers),
                    "create": lambda u=user: client.post(
                        "/api/Projects", json={"name": "n", "organizationId": int(w["acme"]["id"])}, headers=u.headers
                    ),
                }
                for name, request in requests.items():
                    counts[(who, name)] = len(await statements(request))
        for name in ("list", "get", "update", "create"):
            assert counts[("superuser", name)] == counts[("member", name)], counts
        assert counts[("superuser", "list")] <= READ_BOUND and counts[("superuser", "create")] <= WRITE_BOUND, counts


async def test_a_key_of_a_user_the_admin_plugin_may_ban_costs_the_same(make_client: ClientFactory) -> None:
    # The ban guard says in SQL whom it lets through, so the key's lookup still counts the use: a
    # banned user's key is refused and not counted; a ban that ran out is lifted by the next use.
    async with make_client(auth=ADMIN_SETTINGS, base_url=BASE, TENANTRY_DB_POOL_SIZE=1) as client:
        db = runtime(client).db
        assert isinstance(db, PostgresDatabase)
        root = await superuser(client)
        eve = await person(client, "eve@example.com", org="eve-co")
        key = (await create_key(client, eve, name="ci"))["key"]
        await db.listen_statements(_listen)
        await client.get("/api/projects", headers=eve.headers)  # warm: the connection replaced, statements prepared
        sent = await statements(lambda: client.get("/api/projects", headers=with_key(key)))
        assert len(sent) <= KEY_BOUND, "\n".join(sent)
        uses = await _key_uses(db)
        ban = {"userId": eve.id, "banExpiresIn": 3600}
        assert (await client.post("/api/auth/admin/ban-user", json=ban, headers=root.headers)).status_code == 200
        refused = await client.get("/api/projects", headers=with_key(key))
        assert refused.status_code == 403 and refused.json()["code"] == "BANNED_USER"
        assert await _key_uses(db) == uses
        table = runtime(client).get(Authentication).ctx.tables.users.name
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        async with db.transaction() as conn:
            await conn.execute(f"UPDATE {table} SET ban_expires = $1 WHERE email = 'eve@example.com'", [past])
        assert (await client.get("/api/projects", headers=with_key(key))).status_code == 200
        assert await _key_uses(db) == uses + 1
        user = await runtime(client).get(Authentication).ctx.store.user_by_email("eve@example.com")
        assert user is not None and user.plugin["banned"] is False


async def _key_uses(db: PostgresDatabase) -> int:
    rows = await db.fetch("SELECT count(*) FROM audit_logs WHERE action = 'api_key_use'")
    return int(rows[0][0])
