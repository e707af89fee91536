"""nestjsx ``@Crud()`` options and views (docs/crud-options.md), on the blog of ``fixtures/blog.apsorc``:
routes left out, the join allow-list with eager, required, select, allow/exclude and alias joins,
hidden fields, default sort, limit, maxLimit and alwaysPaginate, soft delete, a guarded view and a
view fixed to one author that no query can widen and whose fixed values override the body."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode

from tenantry.schema import Schema, load_schema
from tests.api.test_schemathesis import CHECKS
from tests.auth.helpers import BASE, NO_VERIFICATION
from tests.conftest import ClientFactory, PrepareDatabase
from tests.live_server import live_server
from tests.tenancy.helpers import create_org, join, new_user

BLOG = Path(__file__).resolve().parent / "fixtures" / "blog.apsorc"
KEY = {"x-blog-key": "s3cret"}


@functools.cache
def blog() -> Schema:
    return load_schema(BLOG)


async def seed(client: httpx.AsyncClient) -> None:
    """Two authors (Ada has a profile), a category, five posts (two in the category), a comment and two reviews."""

    async def post(path: str, body: dict[str, Any]) -> None:
        r = await client.post(f"/api/{path}", json=body)
        assert r.status_code == 201, r.text

    await post("Authors", {"name": "Ada", "email": "ada@example.com"})
    await post("Authors", {"name": "Bob", "email": "bob@example.com"})
    await post("Profiles", {"bio": "Mathematician", "website": "https://ada.example", "authorId": 1})
    await post("Categories", {"name": "Tech"})
    for title, author, published, categories in (
        ("Delta", 1, True, [{"id": 1}]),
        ("Alpha", 1, False, []),
        ("Charlie", 2, True, [{"id": 1}]),
        ("Bravo", 1, True, []),
        ("Zulu", 2, False, []),
    ):
        await post(
            "Posts", {"title": title, "body": "…", "authorId": author, "published": published, "categories": categories}
        )
    await post("Comments", {"body": "Nice", "signature": "Eve", "postId": 1})
    await post("Reviews", {"rating": 5, "postId": 1})
    await post("Reviews", {"rating": 3})


def titles(body: Any) -> list[str]:
    rows = body["data"] if isinstance(body, dict) else body
    return [row["title"] for row in rows]


async def test_read_options(make_client: ClientFactory) -> None:
    async with make_client(blog()) as client:
        await seed(client)
        get = client.get

        # Authors: `email` excluded everywhere, `profile` joined on every read without `website`.
        page = (await get("/api/Authors")).json()
        ada = page["data"][0]
        assert set(ada) == {"id", "created_at", "name", "profile"}
        assert ada["profile"] == {"id": 1, "bio": "Mathematician", "authorId": 1}
        assert page["data"][1]["profile"] is None
        assert set((await get("/api/Authors/1", params={"fields": "email"})).json()) == {"id", "profile"}
        # `posts` may be joined, with its allowed fields only; a relation not on the list is ignored.
        joined = (await get("/api/Authors/1", params={"join": "posts"})).json()
        assert sorted(joined["posts"], key=lambda p: p["id"]) == [
            {"id": 1, "title": "Delta"},
            {"id": 2, "title": "Alpha"},
            {"id": 4, "title": "Bravo"},
        ]

        # Posts: sorted by title unless asked, two a page, never more than four, a bare array.
        assert titles((await get("/api/Posts")).json()) == ["Alpha", "Bravo"]
        assert titles((await get("/api/Posts", params={"limit": 10})).json()) == ["Alpha", "Bravo", "Charlie", "Delta"]
        second = (await get("/api/Posts", params={"page": 2})).json()
        assert titles(second) == ["Charlie", "Delta"]
        assert (second["total"], second["page"], second["pageCount"]) == (5, 2, 3)
        assert titles((await get("/api/Posts", params={"sort": "id,DESC"})).json()) == ["Zulu", "Bravo"]
        # `reviews` is not on the allow-list: ignored, as nestjsx does; `comments` is.
        rows = (await get("/api/Posts", params={"join": ["reviews", "comments"], "limit": 3})).json()
        assert all("reviews" not in row and "comments" in row for row in rows)
        # The alias `writer` names the `author` relation in join, filter, or, s and sort.
        rows = (await get("/api/Posts", params={"join": "writer", "filter": "writer.name||$eq||Bob"})).json()
        assert [(r["title"], r["author"]["name"]) for r in rows] == [("Charlie", "Bob"), ("Zulu", "Bob")]
        rows = (await get("/api/Posts", params={"s": orjson.dumps({"writer.name": "Bob"}).decode()})).json()
        assert titles(rows) == ["Charlie", "Zulu"]
        rows = (await get("/api/Posts", params={"sort": ["writer.name,DESC", "title,ASC"], "limit": 3})).json()
        assert titles(rows) == ["Charlie", "Zulu", "Alpha"]
        # On secure-posts `categories` is required and not selected: joining it leaves out posts without
        # one (a many-to-many join), and shows nothing of it.
        rows = (await get("/api/secure-posts", params={"join": "categories", "limit": 4}, headers=KEY)).json()
        assert [r["id"] for r in rows] == [3, 1] and all("categories" not in r for r in rows)
        rows = (await get("/api/Posts", params={"join": "categories", "limit": 4})).json()
        assert [len(r["categories"]) for r in rows] == [0, 0, 1, 1]

        # Comments: only the allowed fields (and the id) are shown.
        assert (await get("/api/Comments")).json()["data"] == [{"id": 1, "body": "Nice", "postId": 1}]

        # Reviews: `post` is joined on every read, with its title only; reviews without a post are left out.
        page = (await get("/api/Reviews")).json()
        assert page["data"] == [{"id": 1, "rating": 5, "postId": 1, "post": {"id": 1, "title": "Delta"}}]
        assert page["total"] == 1
        assert (await get("/api/Reviews/1")).json()["post"] == {"id": 1, "title": "Delta"}
        assert (await get("/api/Reviews/2")).status_code == 404

        # secure-posts: the guard's header or 403, as a NestJS guard answers; its own sort and fields.
        refused = await get("/api/secure-posts")
        assert refused.status_code == 403
        assert refused.json() == {
            "statusCode": 403,
            "message": "Forbidden resource",
            "error": "Forbidden",
            "code": "FORBIDDEN_RESOURCE",
        }
        assert (await get("/api/secure-posts", headers={"x-blog-key": "guess"})).status_code == 403
        rows = (await get("/api/secure-posts", headers=KEY)).json()
        assert [r["id"] for r in rows] == [5, 4] and all("body" not in r for r in rows)
        assert "body" in (await get("/api/Posts/4")).json()  # the entity's own route still shows it

        # scoped-posts: only Ada's published posts, whatever the query asks.
        page = (await get("/api/scoped-posts")).json()
        assert sorted(r["id"] for r in page["data"]) == [1, 4] and page["total"] == 2
        for widen in (
            {"filter": "authorId||$eq||2"},
            {"or": "authorId||$eq||2"},
            {"or": ["authorId||$eq||2", "published||$eq||false"]},
            {"filter": "title||$eq||Alpha", "or": "authorId||$eq||2"},
            {"s": orjson.dumps({"$or": [{"authorId": 2}, {"published": False}]}).decode()},
        ):
            assert (await get("/api/scoped-posts", params=widen)).json()["data"] == [], widen
        assert (await get("/api/scoped-posts/3")).status_code == 404  # Bob's
        assert (await get("/api/scoped-posts/2")).status_code == 404  # Ada's, unpublished
        assert (await get("/api/scoped-posts/1")).json()["title"] == "Delta"


async def test_routes_left_out_answer_nestjsx_404(make_client: ClientFactory) -> None:
    async with make_client(blog()) as client:
        await seed(client)
        r = await client.delete("/api/Authors/1")
        assert r.status_code == 404
        assert r.json() == {
            "statusCode": 404,
            "message": "Cannot DELETE /api/Authors/1",
            "error": "Not Found",
            "code": "ROUTE_NOT_FOUND",
        }
        assert (await client.put("/api/Authors/1", json={"name": "Ada L."})).json()["message"] == (
            "Cannot PUT /api/Authors/1"
        )
        for method, path in (
            ("PATCH", "/api/Profiles/1"),
            ("DELETE", "/api/Profiles/1"),
            ("POST", "/api/Profiles/bulk"),
            ("DELETE", "/api/secure-posts/1"),
        ):
            r = await client.request(method, path, json={"bulk": [{"bio": "x", "authorId": 2}]}, headers=KEY)
            assert (r.status_code, r.json()["code"]) == (404, "ROUTE_NOT_FOUND"), (method, path)
        # Nothing changed, and the routes kept answer.
        assert (await client.get("/api/Authors/1")).json()["name"] == "Ada"
        r = await client.patch("/api/Authors/1", json={"name": "Ada L.", "email": "ada@lovelace.example"})
        assert r.status_code == 200 and r.json()["name"] == "Ada L." and "email" not in r.json()
        assert (await client.get("/api/Profiles", params={"limit": 10})).json()["total"] == 1
        assert (await client.get("/api/Posts/1", headers=KEY)).status_code == 200
        r = await client.post("/api/Authors", json={"name": "Cy", "email": "cy@example.com"})
        assert r.status_code == 201 and "email" not in r.json()


async def test_soft_delete_and_recover(make_client: ClientFactory) -> None:
    async with make_client(blog()) as client:
        await seed(client)
        assert (await client.delete("/api/Posts/2")).status_code == 200
        assert "Alpha" not in titles((await client.get("/api/Posts", params={"limit": 3})).json())
        assert (await client.get("/api/Posts/2")).status_code == 404
        rows = (await client.get("/api/Posts", params={"include_deleted": 1})).json()
        assert rows[0]["title"] == "Alpha" and rows[0]["deleted_at"] is not None
        r = await client.patch("/api/Posts/2/recover")
        assert r.status_code == 200 and r.json()["deleted_at"] is None
        assert titles((await client.get("/api/Posts")).json()) == ["Alpha", "Bravo"]


async def test_guarded_view_writes(make_client: ClientFactory) -> None:
    async with make_client(blog()) as client:
        await seed(client)
        new = {"title": "Echo", "body": "secret draft", "authorId": 2, "published": False}
        assert (await client.post("/api/secure-posts", json=new)).status_code == 403
        assert (await client.post("/api/secure-posts/bulk", json={"bulk": [new]})).status_code == 403
        assert (await client.patch("/api/secure-posts/1", json={"title": "Hacked"})).status_code == 403
        assert (await client.get("/api/Posts", params={"limit": 3, "sort": "id,DESC"})).json()[0]["id"] == 5
        assert (await client.get("/api/Posts/1")).json()["title"] == "Delta"

        r = await client.post("/api/secure-posts", json=new, headers=KEY)
        assert r.status_code == 201, r.text
        assert r.json()["title"] == "Echo" and "body" not in r.json()
        assert (await client.get(f"/api/Posts/{r.json()['id']}")).json()["body"] == "secret draft"
        r = await client.patch("/api/secure-posts/1", json={"title": "Delta 2"}, headers=KEY)
        assert r.status_code == 200 and r.json()["title"] == "Delta 2"


async def test_scoped_view_writes(make_client: ClientFactory) -> None:
    async with make_client(blog()) as client:
        await seed(client)
        # The fixed author overrides the body's, and may be left out of it.
        r = await client.post("/api/scoped-posts", json={"title": "Echo", "authorId": 2, "published": True})
        assert r.status_code == 201, r.text
        assert r.json()["authorId"] == 1
        r = await client.post("/api/scoped-posts", json={"title": "Foxtrot", "published": True})
        assert r.status_code == 201 and r.json()["authorId"] == 1
        # A row the view could not see afterwards (unpublished) is refused, and nothing is written.
        r = await client.post("/api/scoped-posts", json={"title": "Golf", "published": False})
        assert (r.status_code, r.json()["code"]) == (400, "OUT_OF_SCOPE")
        assert (await client.get("/api/Posts", params={"filter": "title||$eq||Golf"})).json() == []

        # Out of scope: 404, unchanged.
        for method in ("PATCH", "PUT", "DELETE"):
            r = await client.request(method, "/api/scoped-posts/3", json={"title": "Mine now"})
            assert r.status_code == 404, method
        assert (await client.get("/api/Posts/3")).json()["title"] == "Charlie"
        # In scope: the fixed value wins over the body; unpublishing moves it out, so it is refused.
        r = await client.patch("/api/scoped-posts/1", json={"title": "Delta 2", "authorId": 2})
        assert r.status_code == 200 and (r.json()["title"], r.json()["authorId"]) == ("Delta 2", 1)
        r = await client.patch("/api/scoped-posts/1", json={"published": False})
        assert (r.status_code, r.json()["code"]) == (400, "OUT_OF_SCOPE")
        assert (await client.get("/api/Posts/1")).json()["published"] is True

        # Bulk: every row gets the fixed author; one row out of scope refuses them all.
        bulk = [{"title": "Hotel", "authorId": 2, "published": True}, {"title": "India", "published": True}]
        r = await client.post("/api/scoped-posts/bulk", json={"bulk": bulk})
        assert r.status_code == 201 and [row["authorId"] for row in r.json()] == [1, 1]
        bulk = [{"title": "Juliet", "published": True}, {"title": "Kilo", "published": False}]
        r = await client.post("/api/scoped-posts/bulk", json={"bulk": bulk})
        assert (r.status_code, r.json()["code"]) == (400, "OUT_OF_SCOPE")
        assert (await client.get("/api/Posts", params={"filter": "title||$eq||Juliet"})).json() == []

        # Delete in scope (a soft delete: the entity's own), and the view's recover stays in scope.
        assert (await client.delete("/api/scoped-posts/4")).status_code == 200
        assert (await client.patch("/api/scoped-posts/3/recover")).status_code == 404
        assert (await client.patch("/api/scoped-posts/4/recover")).status_code == 200
        page = (await client.get("/api/scoped-posts", params={"limit": 10})).json()
        assert sorted(r["title"] for r in page["data"]) == ["Bravo", "Delta 2", "Echo", "Foxtrot", "Hotel", "India"]


TENANT_SCHEMA = """
organizations:
  - name: string (required)
  - slug: string (unique, required)
users:
  - email: string (unique, required)
  - name: string
  - org_id: uuid (references organizations, required)
  - role: enum(admin, member, viewer) (default: member)
projects:
  fields:
    - name: string (required)
    - org_id: uuid (references organizations, required)
    - created_by: uuid (references users, required)
    - status: enum(active, archived) (default: active)
  views:
    - route: admin-projects
      guard: {roles: [admin]}
    - route: archived-projects
      crud:
        params: {status: archived}
        routes: {only: [getMany, getOne, createOne]}
"""


async def test_views_by_role_keep_tenants_apart(make_client: ClientFactory) -> None:
    """A role guard reads the caller's role in its active organization; a view never reaches into another
    organization's rows, whatever its options."""
    async with make_client(TENANT_SCHEMA, auth=NO_VERIFICATION, base_url=BASE) as client:
        ann, bob, cy = [await new_user(client, f"{n}@example.com") for n in ("ann", "bob", "cy")]
        acme = await create_org(client, ann, "Acme", slug="acme")
        await join(client, ann, acme, bob, "member")
        await create_org(client, cy, "Other", slug="other")

        made = await client.post("/api/admin-projects", json={"name": "Rocket"}, headers=ann.headers)
        assert made.status_code == 201, made.text
        refused = await client.get("/api/admin-projects", headers=bob.headers)
        assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN_RESOURCE")
        assert (await client.get("/api/projects", headers=bob.headers)).json()[0]["name"] == "Rocket"
        # Cy is the admin of another organization: the guard lets her in, her tenant scope still holds.
        assert (await client.get("/api/admin-projects", headers=cy.headers)).json() == []
        assert (await client.get(f"/api/admin-projects/{made.json()['id']}", headers=cy.headers)).status_code == 404

        archived = await client.post(
            "/api/archived-projects", json={"name": "Old", "status": "active"}, headers=bob.headers
        )
        assert archived.status_code == 201 and archived.json()["status"] == "archived"
        assert [p["name"] for p in (await client.get("/api/archived-projects", headers=ann.headers)).json()] == ["Old"]
        assert (await client.get("/api/archived-projects", headers=cy.headers)).json() == []
        r = await client.patch(
            f"/api/archived-projects/{archived.json()['id']}", json={"name": "x"}, headers=ann.headers
        )
        assert (r.status_code, r.json()["code"]) == (404, "ROUTE_NOT_FOUND")


@pytest.mark.slow(20)
def test_the_blog_answers_as_its_document_says(prepare_database: PrepareDatabase) -> None:
    """Schemathesis over the blog's own document (views, guards, routes left out, hidden fields): no
    5xx, only documented statuses, bodies as described. The whole API is fuzzed in test_schemathesis.py."""
    with live_server(prepare_database, schema=blog(), parts={"open_api": True}) as base:
        spec = httpx.get(base + "/api/openapi.json").json()
        operations = [r.ok() for r in schemathesis.openapi.from_dict(spec).get_all_operations()]
        routes = {e.route for e in blog().entities.values()} | {v.route for v in blog().views}
        crud = [op for op in operations if op.path.split("/")[2:3] in ([r] for r in routes)]
        assert any(op.path == "/api/secure-posts" for op in crud)
        failures: list[str] = []
        calls: list[int] = []
        for operation in crud:
            strategy = st.one_of(
                operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
            )

            @given(case=strategy)
            @settings(
                max_examples=4,
                derandomize=True,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                response = case.call(base_url=base)
                calls.append(response.status_code)
                try:
                    case.validate_response(response, checks=CHECKS)
                except FailureGroup as exc:
                    failures.extend(f"{case.operation.label}: {f.title}: {f.message}"[:300] for f in exc.exceptions)

            check()
        assert not failures, "\n".join(failures[:20])
        # Every operation was called, and the guard, the routes left out and the writes were reached.
        assert len(calls) >= 2 * len(crud) and {200, 201, 403} <= set(calls), sorted(set(calls))
