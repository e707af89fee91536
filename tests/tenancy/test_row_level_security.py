"""Row-level security on PostgreSQL: the database refuses other organizations' rows by itself.

The pipeline scopes every query it writes; these tests run SQL it did not write (as a project's
own route or hook might), on the app's own connections, and show that the database alone keeps
each user to the organizations they belong to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tenantry.app import Tenantry, app_tables
from tenantry.config import Settings
from tenantry.db.actor import APP_ROLE, NOBODY, SYSTEM, acting_as, user_actor
from tenantry.db.database import to_sqlalchemy_url
from tenantry.db.migrations import sync_schema
from tenantry.schema import load_schema_text
from tests.api.test_apso_bypass import APSORC, set_platform_role
from tests.api.test_apso_bypass import SCHEMA as BYPASS_SCHEMA
from tests.api.test_apso_bypass import world as bypass_world
from tests.api.test_many_to_many import TENANT_SCHEMA, two_tenants
from tests.auth.helpers import BASE, NO_VERIFICATION, ORIGIN, runtime, sql
from tests.conftest import ClientFactory, postgres_scratch
from tests.databases import PostgresDatabases
from tests.tenancy.helpers import User, create_org, join, new_user

RawQuery = Callable[[Tenantry, Request], Coroutine[Any, Any, Any]]


@pytest.fixture
def postgres_client(make_client: ClientFactory, database_url: str) -> ClientFactory:
    return make_client


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(postgres_databases: PostgresDatabases | None) -> str:
    """PostgreSQL only (row-level security is PostgreSQL's; on SQLite the pipeline's scope stands alone)."""
    return postgres_scratch(postgres_databases)


def add_raw_route(client: httpx.AsyncClient, path: str, query: RawQuery) -> None:
    """A route of the project's own, running ``query`` for whoever signed the request."""
    rt = runtime(client)

    async def endpoint(request: Request) -> JSONResponse:
        await rt.context(request)  # who is asking (what every API route does first)
        try:
            return JSONResponse(await query(rt, request))
        except asyncpg.PostgresError as exc:
            return JSONResponse({"error": type(exc).__name__, "message": str(exc)}, status_code=500)

    client.app.router.routes.insert(0, Route(path, endpoint, methods=["GET", "POST"]))  # type: ignore[attr-defined]


async def everything(rt: Tenantry, request: Request) -> list[str]:
    """A deliberately unscoped read: every project in the table, as far as the database is concerned."""
    rows = await rt.db.fetch("SELECT name FROM projects ORDER BY name")
    return [row[0] for row in rows]


async def world(client: httpx.AsyncClient) -> dict[str, Any]:
    ann = await new_user(client, "ann@example.com")
    bob = await new_user(client, "bob@example.com")
    both = await new_user(client, "both@example.com")
    a = await create_org(client, ann, "Org A")
    b = await create_org(client, bob, "Org B")
    await join(client, ann, a, both, "viewer")
    await join(client, bob, b, both, "viewer")
    for user, name in ((ann, "A1"), (ann, "A2"), (bob, "B1")):
        r = await client.post("/api/projects", json={"name": name}, headers=user.headers)
        assert r.status_code == 201, r.text
    return {"ann": ann, "bob": bob, "both": both, "a": a, "b": b}


async def raw(client: httpx.AsyncClient, path: str, user: User | None, method: str = "GET") -> httpx.Response:
    headers = user.headers if user is not None else ORIGIN
    return await client.request(method, path, headers=headers)


async def test_an_unscoped_query_sees_only_the_users_organizations(postgres_client: ClientFactory) -> None:
    async with postgres_client(auth=NO_VERIFICATION, base_url=BASE, TENANTRY_OPEN_API=False) as client:
        w = await world(client)
        add_raw_route(client, "/raw/projects", everything)
        assert (await raw(client, "/raw/projects", w["ann"])).json() == ["A1", "A2"]
        assert (await raw(client, "/raw/projects", w["bob"])).json() == ["B1"]
        # A member of both organizations: the database lets through both, the API narrows to the
        # active one (B, whose invitation was accepted last).
        assert (await raw(client, "/raw/projects", w["both"])).json() == ["A1", "A2", "B1"]
        api = await client.get("/api/projects", headers=w["both"].headers)
        assert sorted(p["name"] for p in api.json()) == ["B1"]
        # Nobody signed in: no tenant rows at all.
        assert (await raw(client, "/raw/projects", None)).json() == []
        # The audit log is guarded the same way.
        add_raw_route(
            client,
            "/raw/audit",
            lambda rt, _: _column(rt, "SELECT DISTINCT org_id::text FROM audit_logs WHERE org_id IS NOT NULL"),
        )
        assert (await raw(client, "/raw/audit", w["ann"])).json() == [w["a"]["id"]]
        assert (await raw(client, "/raw/audit", None)).json() == []


async def _column(rt: Tenantry, sql: str, *params: Any) -> list[Any]:
    return [row[0] for row in await rt.db.fetch(sql, params)]


async def test_writes_to_other_organizations_are_refused_by_the_database(postgres_client: ClientFactory) -> None:
    async with postgres_client(auth=NO_VERIFICATION, base_url=BASE, TENANTRY_OPEN_API=False) as client:
        w = await world(client)
        b_id, ann_id = w["b"]["id"], w["ann"].id

        async def insert_into_b(rt: Tenantry, request: Request) -> int:
            async with rt.db.transaction() as conn:
                return await conn.execute(
                    "INSERT INTO projects (id, name, org_id, created_by, status) "
                    "VALUES (gen_random_uuid(), 'sneaky', $1, $2, 'active')",
                    (b_id, ann_id),
                )

        async def rename_everything(rt: Tenantry, request: Request) -> int:
            async with rt.db.transaction() as conn:
                return await conn.execute("UPDATE projects SET name = name || '!'")

        async def delete_everything(rt: Tenantry, request: Request) -> int:
            async with rt.db.transaction() as conn:
                return await conn.execute("DELETE FROM projects WHERE name LIKE 'B%'")

        add_raw_route(client, "/raw/insert", insert_into_b)
        add_raw_route(client, "/raw/rename", rename_everything)
        add_raw_route(client, "/raw/delete", delete_everything)
        refused = await raw(client, "/raw/insert", w["ann"], "POST")
        assert refused.json()["error"] == "InsufficientPrivilegeError"
        assert "row-level security" in refused.json()["message"]
        assert (await raw(client, "/raw/rename", w["ann"], "POST")).json() == 2  # A1 and A2 only
        assert (await raw(client, "/raw/delete", w["ann"], "POST")).json() == 0
        with acting_as(SYSTEM):
            names = await _column(runtime(client), "SELECT name FROM projects ORDER BY name")
        assert names == ["A1!", "A2!", "B1"]


async def test_connections_act_as_a_role_that_cannot_bypass_it(postgres_client: ClientFactory) -> None:
    async with postgres_client(auth=NO_VERIFICATION, base_url=BASE, TENANTRY_OPEN_API=False) as client:
        rt = runtime(client)
        row = await rt.db.fetchrow(
            "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        assert row is not None and tuple(row) == (APP_ROLE, False, False)
        # Not the owner of any table either (owners are exempt unless forced).
        owned = await rt.db.fetch("SELECT tablename FROM pg_tables WHERE tableowner = current_user")
        assert owned == []
        guarded = {
            r[0]: r[1]
            for r in await rt.db.fetch(
                "SELECT relname, relrowsecurity FROM pg_class WHERE relname IN "
                "('projects', 'subscriptions', 'audit_logs', 'users', 'organizations', 'org_members')"
            )
        }
        assert guarded == {
            "projects": True,
            "subscriptions": True,
            "audit_logs": True,
            # Authentication reads these across organizations by design; the pipeline scopes them.
            "users": False,
            "organizations": False,
            "org_members": False,
        }


async def test_the_actor_follows_each_request_and_no_further(postgres_client: ClientFactory) -> None:
    async with postgres_client(auth=NO_VERIFICATION, base_url=BASE, TENANTRY_OPEN_API=False) as client:
        w = await world(client)
        rt = runtime(client)
        # Connections are shared: one that served ann must not serve bob with ann's rights.
        for user, expected in ((w["ann"], 2), (w["bob"], 1), (w["ann"], 2), (None, 0), (w["bob"], 1)):
            r = await client.get("/api/projects", headers=user.headers if user else ORIGIN)
            if user is not None:
                assert len(r.json()) == expected
            with acting_as(user_actor(user.id) if user else NOBODY):
                count = await rt.db.fetchrow("SELECT count(*) FROM projects")
                assert count is not None and count[0] == expected
        # After a request, code outside any request acts as the system again.
        count = await rt.db.fetchrow("SELECT count(*) FROM projects")
        assert count is not None and count[0] == 3


async def test_join_tables_are_guarded_through_the_rows_they_link(postgres_client: ClientFactory) -> None:
    """A many-to-many join table has no tenant column: a link shows, and may be written, only while
    the rows it links do."""
    async with postgres_client(TENANT_SCHEMA, auth=NO_VERIFICATION, base_url=BASE, TENANTRY_OPEN_API=False) as client:
        w = await two_tenants(client)
        article_a, tag_b = w["article_a"]["id"], w["tag_b"]["id"]

        async def links(rt: Tenantry, request: Request) -> list[Any]:
            return await _column(rt, "SELECT tag_id::text FROM articles_tags")

        async def link_to_b(rt: Tenantry, request: Request) -> int:
            async with rt.db.transaction() as conn:
                return await conn.execute(
                    "INSERT INTO articles_tags (article_id, tag_id) VALUES ($1, $2)", (article_a, tag_b)
                )

        async def unlink_everything(rt: Tenantry, request: Request) -> int:
            async with rt.db.transaction() as conn:
                return await conn.execute("DELETE FROM articles_tags")

        add_raw_route(client, "/raw/links", links)
        add_raw_route(client, "/raw/link", link_to_b)
        add_raw_route(client, "/raw/unlink", unlink_everything)
        assert (await raw(client, "/raw/links", w["ann"])).json() == [w["tag_a"]["id"]]
        assert (await raw(client, "/raw/links", None)).json() == []
        refused = await raw(client, "/raw/link", w["ann"], "POST")
        assert refused.json()["error"] == "InsufficientPrivilegeError"
        assert "row-level security" in refused.json()["message"]
        assert (await raw(client, "/raw/unlink", w["ann"], "POST")).json() == 1  # her own link only
        with acting_as(SYSTEM):
            left = await _column(runtime(client), "SELECT tag_id FROM articles_tags")
        assert [str(t) for t in left] == [tag_b]


def _raw_bypass_routes(client: httpx.AsyncClient) -> None:
    """``GET /raw/<table>``: every ``id`` of a table, unscoped by the pipeline (only the database's
    policies apply); ``POST /raw/<table>/rename``: an unscoped UPDATE of every row, its count."""
    rt = runtime(client)

    async def read(request: Request) -> JSONResponse:
        await rt.context(request)
        table = request.path_params["table"]
        assert table in ("project", "task", "note", "memo")
        rows = await rt.db.fetch(f'SELECT "id" FROM {table} ORDER BY "id"')
        return JSONResponse([row[0] for row in rows])

    async def rename(request: Request) -> JSONResponse:
        await rt.context(request)
        table = request.path_params["table"]
        assert table in ("project", "memo")
        column = "name" if table == "project" else "body"
        async with rt.db.transaction() as conn:
            rows = await conn.fetch(f"UPDATE {table} SET {column} = 'raw' RETURNING \"id\"", ())
        return JSONResponse(sorted(row[0] for row in rows))

    client.app.router.routes.insert(0, Route("/raw/{table}", read))
    client.app.router.routes.insert(0, Route("/raw/{table}/rename", rename, methods=["POST"]))


async def test_bypass_roles_pass_their_tables_only(postgres_client: ClientFactory) -> None:
    """Apso's bypassRoles: the platform role, read from the users table by the policy itself, opens
    the tables that list it, for the commands of the operations its enforceOn names, and no others."""
    async with postgres_client(BYPASS_SCHEMA, auth=NO_VERIFICATION, base_url=BASE) as client:
        w = await bypass_world(client)
        ann, bob, root = w["ann"], w["bob"], w["root"]
        _raw_bypass_routes(client)

        async def ids(who: User, table: str) -> list[int]:
            r = await client.get(f"/raw/{table}", headers=who.headers)
            assert r.status_code == 200, r.text
            return list(r.json())

        # Raw SQL under the application role, acting for the request's user.
        assert await ids(root, "project") == [1, 2] and await ids(root, "task") == [1, 2]
        assert await ids(ann, "project") == [1] and await ids(bob, "task") == [2]
        assert await ids(root, "note") == [] and await ids(root, "memo") == []
        assert (await client.post("/raw/project/rename", headers=ann.headers)).json() == [1]
        assert (await client.post("/raw/project/rename", headers=root.headers)).json() == [1, 2]
        # ``support`` reads memos everywhere; it may not write them there (enforceOn: find, get).
        await set_platform_role(client, bob, "support")
        assert await ids(bob, "memo") == [1, 2] and await ids(bob, "project") == [2]
        assert (await client.post("/raw/memo/rename", headers=bob.headers)).json() == [2]
        # The policy reads the stored role itself: removed, it no longer lets the user through.
        await set_platform_role(client, root, None)
        assert await ids(root, "project") == []

        # The bypass policies exist on the bypassing tables only, and each names its roles.
        policies = await sql(
            client,
            "SELECT tablename, policyname FROM pg_policies WHERE policyname LIKE 'tenantry_bypass%' ORDER BY 1, 2",
        )
        assert [tuple(p) for p in policies] == [
            ("memo", "tenantry_bypass_select"),
            ("project", "tenantry_bypass_delete"),
            ("project", "tenantry_bypass_insert"),
            ("project", "tenantry_bypass_select"),
            ("project", "tenantry_bypass_update"),
            ("task", "tenantry_bypass_delete"),
            ("task", "tenantry_bypass_insert"),
            ("task", "tenantry_bypass_select"),
            ("task", "tenantry_bypass_update"),
        ]


def test_bypass_policies_follow_the_schema(database_url: str) -> None:
    """The bypass policies are kept in step with the schema's roles: made once, replaced when the
    roles change, dropped when they go (the tenant policies stay as they are)."""

    def policies() -> dict[tuple[str, str], str]:
        rows = _catalog(
            database_url,
            "SELECT tablename, policyname, cmd FROM pg_policies "
            "WHERE tablename IN ('project', 'task', 'memo', 'note') ORDER BY 1, 2",
        )
        return {(r[0], r[1]): r[2] for r in rows}

    first = app_tables(BYPASS_SCHEMA, Settings(DATABASE_URL=database_url))
    applied = sync_schema(database_url, first).applied
    assert "create policy tenantry_bypass_update on project" in applied
    assert sync_schema(database_url, first).applied == []  # nothing to change the second time
    before = policies()
    assert before[("memo", "tenantry_bypass_select")] == "SELECT"
    assert before[("project", "tenantry_bypass_delete")] == "DELETE"
    assert not [key for key in before if key[0] == "note" and key[1].startswith("tenantry_bypass")]

    # Memo's role changes and Project's roles go; Task keeps its own.
    text = APSORC.replace('"bypassRoles": ["support"]', '"bypassRoles": ["ops"]').replace(
        '{ "name": "Project", "scopeBy": "organizationId", "scopeOptions": { "bypassRoles": ["admin"] },',
        '{ "name": "Project", "scopeBy": "organizationId",',
    )
    second = app_tables(load_schema_text(text, "app.apsorc"), Settings(DATABASE_URL=database_url))
    applied = sync_schema(database_url, second).applied
    assert sorted(a for a in applied if "bypass" in a) == [
        "create policy tenantry_bypass_select on memo",
        *(f"drop policy tenantry_bypass_{c} on project" for c in ("delete", "insert", "select", "update")),
    ]
    after = policies()
    assert {k for k in after if k[0] == "project"} == {("project", "tenantry_tenant")}
    assert {k: v for k, v in after.items() if k[0] == "task"} == {k: v for k, v in before.items() if k[0] == "task"}
    comment = _policy_comment(database_url, "memo", "tenantry_bypass_select")
    assert "'ops'" in comment and "'support'" not in comment
    assert sync_schema(database_url, second).applied == []


def _policy_comment(database_url: str, table: str, policy: str) -> str:
    [row] = _catalog(
        database_url,
        "SELECT obj_description(oid, 'pg_policy') FROM pg_policy WHERE polrelid = to_regclass(:t) AND polname = :p",
        t=table,
        p=policy,
    )
    return str(row[0])


def _catalog(database_url: str, statement: str, **params: Any) -> list[Any]:
    """The rows of one query on ``database_url``'s catalog, outside any app."""

    async def run() -> list[Any]:
        engine = create_async_engine(to_sqlalchemy_url(database_url))
        try:
            async with engine.connect() as conn:
                return list(await conn.execute(sa.text(statement), params))
        finally:
            await engine.dispose()

    return asyncio.run(run())
