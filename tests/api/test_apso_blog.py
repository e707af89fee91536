"""The issue's proof on one Apso blog (``fixtures/blog.apsorc``, served unchanged): serial ids, unknown
body keys, many-to-many links and relation paths of any depth, together with the routes' nestjsx
options and the guarded and scoped views, mutations included. The options one by one are in
test_crud_options.py, many-to-many and paths in test_many_to_many.py."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from tests.api._helpers import assert_error, field_codes
from tests.api.test_crud_options import KEY, blog
from tests.auth.helpers import sql
from tests.conftest import ClientFactory

LINKS = 'SELECT "postId", "categoryId" FROM post_categories_category ORDER BY 1, 2'


async def seed(client: httpx.AsyncClient) -> None:
    """Ada (1, with a profile) and Bob (2); Tech (1) and Art (2); Ada's posts 1 (Tech, Art) and 2
    (unpublished), Bob's post 3 (Tech); a comment by Bob on post 1 and one by Ada on post 3; a review of
    post 3."""

    async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await client.post(f"/api/{path}", json=body)
        assert r.status_code == 201, r.text
        made: dict[str, Any] = r.json()
        return made

    assert (await post("Authors", {"name": "Ada", "email": "ada@example.com"}))["id"] == 1
    assert (await post("Authors", {"name": "Bob", "email": "bob@example.com"}))["id"] == 2
    await post("Profiles", {"bio": "Mathematician", "website": "https://ada.example", "authorId": 1})
    await post("Categories", {"name": "Tech"})
    await post("Categories", {"name": "Art"})
    await post("Posts", {"title": "One", "authorId": 1, "published": True, "categories": [{"id": 1}, {"id": 2}]})
    await post("Posts", {"title": "Two", "authorId": 1, "published": False})
    await post("Posts", {"title": "Three", "authorId": 2, "published": True, "categories": [{"id": 1}]})
    await post("Comments", {"body": "Nice", "postId": 1, "commenterId": 2})
    await post("Comments", {"body": "Meh", "postId": 3, "commenterId": 1})
    await post("Reviews", {"rating": 4, "postId": 3})


async def test_serial_ids_and_unknown_keys(make_client: ClientFactory) -> None:
    async with make_client(blog()) as client:
        await seed(client)
        # Apso's default primary key: integers numbered by the database, foreign keys alike.
        rows = (await client.get("/api/Posts", params={"sort": "id,ASC", "limit": 4})).json()
        assert [(r["id"], r["authorId"]) for r in rows] == [(1, 1), (2, 1), (3, 2)]
        # A client never chooses one: Apso's create DTO has no `id`, so nestjsx's pipe drops it.
        r = await client.post("/api/Categories", json={"id": 99, "name": "Mine"})
        assert (r.status_code, r.json()) == (201, {"id": 3, "name": "Mine"})
        assert (await client.get("/api/Categories/99")).status_code == 404
        assert_error(await client.get("/api/Posts/abc"), 400, "INVALID_ID")

        # Unknown body keys are dropped as nestjsx's whitelisting pipe drops them, on every write and view.
        r = await client.post("/api/Categories", json={"name": "Life", "colour": "red"})
        assert (r.status_code, r.json()) == (201, {"id": 4, "name": "Life"})
        r = await client.patch("/api/Categories/4", json={"name": "Living", "colour": "blue"})
        assert (r.status_code, r.json()) == (200, {"id": 4, "name": "Living"})
        r = await client.post("/api/scoped-posts", json={"title": "Four", "published": True, "mood": "happy"})
        assert r.status_code == 201 and "mood" not in r.json() and r.json()["authorId"] == 1
        r = await client.post(
            "/api/secure-posts/bulk", json={"bulk": [{"title": "Five", "authorId": 2, "x": 1}]}, headers=KEY
        )
        assert r.status_code == 201 and "x" not in r.json()[0], r.text
        # ...but a wrong value of a real field still refuses the whole write.
        r = await client.patch("/api/Categories/4", json={"name": 7, "colour": "blue"})
        assert_error(r, 400, "VALIDATION_FAILED")
        assert (await client.get("/api/Categories/4")).json()["name"] == "Living"


async def test_reads_through_views_joins_and_paths(make_client: ClientFactory) -> None:
    async with make_client(blog()) as client:
        await seed(client)
        get = client.get

        # scoped-posts (Ada's published posts): joins and paths work inside the scope, never widen it.
        page = (await get("/api/scoped-posts", params={"join": "categories"})).json()
        assert [(r["id"], sorted(c["name"] for c in r["categories"])) for r in page["data"]] == [(1, ["Art", "Tech"])]
        for params in (
            {"filter": "categories.name||$eq||Tech"},
            {"filter": "author.profile.website||$notnull"},
            {"s": orjson.dumps({"comments.commenter.name": "Bob"}).decode()},
            {"sort": "categories.name,DESC"},
        ):
            assert [r["id"] for r in (await get("/api/scoped-posts", params=params)).json()["data"]] == [1], params
        for params in (
            {"filter": "author.name||$eq||Bob"},
            {"or": ["categories.name||$eq||Tech", "author.name||$eq||Bob"], "filter": "title||$eq||Three"},
            {"s": orjson.dumps({"$or": [{"author.name": "Bob"}, {"categories.name": "Tech"}], "id": 3}).decode()},
        ):
            assert (await get("/api/scoped-posts", params=params)).json()["data"] == [], params

        # secure-posts: its guard holds for every query, its own joins and hidden fields apply.
        assert_error(await get("/api/secure-posts", params={"join": "categories"}), 403, "FORBIDDEN_RESOURCE")
        rows = (await get("/api/secure-posts", params={"join": ["categories", "author"]}, headers=KEY)).json()
        assert [(r["id"], r["author"]["name"]) for r in rows] == [(3, "Bob"), (1, "Ada")]
        assert all("categories" not in r and "body" not in r for r in rows)
        rows = (
            await get("/api/secure-posts", params={"filter": "author.profile.website||$isnull"}, headers=KEY)
        ).json()
        assert [r["id"] for r in rows] == []  # a condition through a missing profile holds for none
        rows = (await get("/api/secure-posts", params={"filter": "author.profile.id||$notnull"}, headers=KEY)).json()
        assert [r["id"] for r in rows] == [2, 1]

        # Reviews: the eager `post` join on every read, and paths two and three relations deep.
        page = (await get("/api/Reviews", params={"filter": "post.author.name||$eq||Bob"})).json()
        assert page["data"] == [{"id": 1, "rating": 4, "postId": 3, "post": {"id": 3, "title": "Three"}}]
        assert (await get("/api/Reviews", params={"filter": "post.author.profile.website||$notnull"})).json()[
            "data"
        ] == []
        page = (await get("/api/Reviews", params={"filter": "post.categories.name||$eq||Tech"})).json()
        assert [r["id"] for r in page["data"]] == [1]
        # Comments: an alias and a required join on nested paths (`postAuthor` is `post.author`).
        page = (await get("/api/Comments", params={"join": "postAuthor", "sort": "postAuthor.name,ASC"})).json()
        assert [(c["body"], c["post"]) for c in page["data"]] == [
            ("Nice", {"id": 1, "title": "One", "author": {"id": 1, "name": "Ada"}}),
            ("Meh", {"id": 3, "title": "Three", "author": {"id": 2, "name": "Bob"}}),
        ]
        page = (await get("/api/Comments", params={"filter": "postAuthor.name||$eq||Bob"})).json()
        assert [c["body"] for c in page["data"]] == ["Meh"]
        search = orjson.dumps({"postAuthor.profile.website": {"$cont": "ada"}}).decode()
        assert [c["body"] for c in (await get("/api/Comments", params={"s": search})).json()["data"]] == ["Nice"]
        # `post.author.profile` is required: joining it leaves out the comment on Bob's post (no profile).
        page = (await get("/api/Comments", params={"join": "post.author.profile"})).json()
        assert [c["body"] for c in page["data"]] == ["Nice"] and page["total"] == 1
        assert page["data"][0]["post"]["author"]["profile"]["bio"] == "Mathematician"
        assert (await get("/api/Comments/2", params={"join": "post.author.profile"})).status_code == 404
        assert (await get("/api/Comments/2")).json()["body"] == "Meh"
        # Authors: `posts` through its allow-list, categories two relations away.
        page = (await get("/api/Authors", params={"filter": "posts.categories.name||$eq||Art"})).json()
        assert [a["name"] for a in page["data"]] == ["Ada"]


async def test_view_writes_with_links(make_client: ClientFactory) -> None:
    async with make_client(blog()) as client:
        await seed(client)
        before = await sql(client, LINKS)

        # Guarded create and patch: 403 without the key, links and fields untouched.
        new = {"title": "Four", "authorId": 2, "published": True, "categories": [{"id": 2}]}
        assert_error(await client.post("/api/secure-posts", json=new), 403, "FORBIDDEN_RESOURCE")
        r = await client.patch("/api/secure-posts/3", json={"categories": [], "title": "x"})
        assert_error(r, 403, "FORBIDDEN_RESOURCE")
        assert await sql(client, LINKS) == before
        r = await client.patch("/api/secure-posts/3", json={"categories": [{"id": 2}]}, headers=KEY)
        assert r.status_code == 200 and "body" not in r.json()
        assert [c["name"] for c in r.json()["categories"]] == ["Art"]
        assert_error(await client.delete("/api/secure-posts/3", headers=KEY), 404, "ROUTE_NOT_FOUND")

        # Scoped create: the fixed author overrides the body's; links are made in the same write.
        r = await client.post("/api/scoped-posts", json=new)
        assert r.status_code == 201, r.text
        four = r.json()
        assert four["authorId"] == 1 and [c["name"] for c in four["categories"]] == ["Art"]
        # Scoped patch out of scope (Bob's post 3, Ada's unpublished 2): 404, links and fields untouched.
        for post_id in (2, 3):
            r = await client.patch(f"/api/scoped-posts/{post_id}", json={"categories": [{"id": 1}], "title": "x"})
            assert_error(r, 404, "NOT_FOUND")
        assert [
            c["name"] for c in (await client.get("/api/Posts/3", params={"join": "categories"})).json()["categories"]
        ] == ["Art"]
        assert (await client.get("/api/Posts/2")).json()["title"] == "Two"
        # In scope: unlinking, and the fixed author still wins.
        r = await client.patch(f"/api/scoped-posts/{four['id']}", json={"categories": [], "authorId": 2})
        assert r.status_code == 200 and (r.json()["authorId"], r.json()["categories"]) == (1, [])

        # Scoped bulk: every row gets the fixed author; a missing category refuses them all.
        bulk = [
            {"title": "Five", "authorId": 2, "published": True, "categories": [{"id": 1}]},
            {"title": "Six", "published": True, "categories": [2]},
        ]
        r = await client.post("/api/scoped-posts/bulk", json={"bulk": bulk})
        assert r.status_code == 201, r.text
        assert [(row["authorId"], [c["id"] for c in row["categories"]]) for row in r.json()] == [(1, [1]), (1, [2])]
        links = await sql(client, LINKS)
        bulk = [{"title": "Seven", "published": True}, {"title": "Eight", "published": True, "categories": [{"id": 9}]}]
        r = await client.post("/api/scoped-posts/bulk", json={"bulk": bulk})
        assert field_codes(assert_error(r, 400, "VALIDATION_FAILED")) == {"bulk.1.categories": "REFERENCE_NOT_FOUND"}
        assert await sql(client, LINKS) == links
        assert (await client.get("/api/Posts", params={"filter": "title||$eq||Seven"})).json() == []


async def test_written_rows_carry_eager_joins_and_replays_repeat_them(make_client: ClientFactory) -> None:
    """nestjsx re-reads a written row with its route's joins; an ``Idempotency-Key`` replay answers the
    same bytes, links and joins included (they are stored with the write, in its transaction)."""
    async with make_client(blog()) as client:
        await seed(client)

        async def twice(method: str, path: str, body: Any, key: str) -> dict[str, Any]:
            first = await client.request(method, f"/api/{path}", json=body, headers={"idempotency-key": key})
            again = await client.request(method, f"/api/{path}", json=body, headers={"idempotency-key": key})
            assert first.status_code in (200, 201), first.text
            assert "idempotent-replayed" not in first.headers and again.headers["idempotent-replayed"] == "true"
            assert (again.status_code, again.content) == (first.status_code, first.content)
            answer: dict[str, Any] = first.json()
            return answer

        review = await twice("POST", "Reviews", {"rating": 2, "postId": 1}, "k-review")
        assert review == {"id": 2, "rating": 2, "postId": 1, "post": {"id": 1, "title": "One"}}
        review = await twice("PATCH", "Reviews/2", {"postId": 3}, "k-review-move")
        assert review["post"] == {"id": 3, "title": "Three"}
        ada = await twice("PATCH", "Authors/1", {"name": "Ada L."}, "k-ada")
        assert ada["profile"] == {"id": 1, "bio": "Mathematician", "authorId": 1} and "email" not in ada
        assert (await twice("POST", "Authors", {"name": "Cy", "email": "cy@example.com"}, "k-cy"))["profile"] is None
        made = await twice("POST", "Posts", {"title": "Four", "authorId": 2, "categories": [{"id": 2}]}, "k-post")
        assert [c["name"] for c in made["categories"]] == ["Art"]
        linked = await twice("PATCH", f"Posts/{made['id']}", {"categories": [{"id": 1}, {"id": 2}]}, "k-link")
        assert sorted(c["name"] for c in linked["categories"]) == ["Art", "Tech"]
        bulk = [{"title": "Five", "published": True, "categories": [{"id": 1}]}]
        r = await client.post("/api/scoped-posts/bulk", json={"bulk": bulk}, headers={"idempotency-key": "k-bulk"})
        again = await client.post("/api/scoped-posts/bulk", json={"bulk": bulk}, headers={"idempotency-key": "k-bulk"})
        assert r.status_code == 201 and again.content == r.content and r.json()[0]["categories"][0]["name"] == "Tech"
        assert (await client.get("/api/Reviews", params={"limit": 10})).json()["total"] == 2  # written once
