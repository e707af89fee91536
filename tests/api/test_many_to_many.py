"""Many-to-many relationships and relation paths of any depth, on the Apso blog of ``fixtures/blog.apsorc``
served unchanged (its posts' route has nestjsx options: a bare array unless paged, four rows at most).

The `.apsorc` declares `Post` ManyToMany `Category` (and posts related to posts); Tenantry keeps
the join table TypeORM would make (`post_categories_category` with `postId`/`categoryId`), reads
it with `join=`, filters and sorts through it, and links and unlinks on create and update as
nestjsx/TypeORM accept it (`"categories": [{"id": 3}]`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tenantry.schema import load_schema
from tests.api._helpers import assert_error, field_codes, get_json, post
from tests.auth.helpers import BASE, NO_VERIFICATION, sql
from tests.conftest import SEED_SCHEMA_PATH, ClientFactory
from tests.tenancy.helpers import create_org, new_user

BLOG = load_schema(Path(__file__).resolve().parent / "fixtures" / "blog.apsorc")


async def blog(client: httpx.AsyncClient) -> dict[str, Any]:
    """Two authors (one with a profile), three categories, four posts with comments."""
    ada = await post(client, "Authors", {"name": "Ada", "email": "ada@example.com"})
    bob = await post(client, "Authors", {"name": "Bob", "email": "bob@example.com"})
    await post(client, "Profiles", {"bio": "Mathematician", "website": "https://ada.example", "authorId": ada["id"]})
    cats = {n: await post(client, "Categories", {"name": n}) for n in ("tech", "life", "art")}
    c = {n: {"id": cat["id"]} for n, cat in cats.items()}
    posts = {
        "p1": await post(client, "Posts", {"title": "p1", "authorId": ada["id"], "categories": [c["tech"], c["life"]]}),
        "p2": await post(client, "Posts", {"title": "p2", "authorId": bob["id"], "categories": [c["tech"]]}),
        "p3": await post(client, "Posts", {"title": "p3", "authorId": ada["id"], "categories": [c["art"]]}),
        "p4": await post(client, "Posts", {"title": "p4", "authorId": bob["id"]}),
    }
    for title, who in (("p1", ada), ("p2", ada), ("p4", bob)):
        await post(client, "Comments", {"body": f"on {title}", "postId": posts[title]["id"], "commenterId": who["id"]})
    return {"ada": ada, "bob": bob, "cats": cats, "posts": posts}


def rows(page: Any) -> list[dict[str, Any]]:
    """The rows of a list answer, an envelope or a bare array."""
    found: list[dict[str, Any]] = page["data"] if isinstance(page, dict) else page
    return found


def titles(page: Any) -> list[str]:
    return [row["title"] for row in rows(page)]


async def test_the_join_table_is_named_as_typeorm_names_it(make_client: ClientFactory) -> None:
    async with make_client(BLOG) as client:
        w = await blog(client)
        rows = await sql(client, 'SELECT "postId", "categoryId" FROM post_categories_category ORDER BY 1, 2')
        p1, tech, life = w["posts"]["p1"]["id"], w["cats"]["tech"]["id"], w["cats"]["life"]["id"]
        assert [(r[0], r[1]) for r in rows][:2] == [(p1, tech), (p1, life)]
        assert len(rows) == 4
        # A post linked to posts: TypeORM's self-referencing columns.
        assert await sql(client, 'SELECT "postId_1", "postId_2" FROM post_related_posts_post') == []


async def test_join_answers_arrays_of_related_rows(make_client: ClientFactory) -> None:
    async with make_client(BLOG) as client:
        w = await blog(client)
        p1 = w["posts"]["p1"]["id"]
        # The create answered with the rows it linked.
        assert sorted(c["name"] for c in w["posts"]["p1"]["categories"]) == ["life", "tech"]
        one = await get_json(client, f"/api/Posts/{p1}", {"join": "categories"})
        assert sorted(c["name"] for c in one["categories"]) == ["life", "tech"]
        only_names = await get_json(client, f"/api/Posts/{p1}", {"join": "categories||name"})
        assert all(set(c) == {"id", "name"} for c in only_names["categories"])
        narrow = await get_json(client, "/api/Posts", {"fields": "title", "join": "categories||name", "limit": "1"})
        assert rows(narrow) == [{"id": p1, "title": "p1", "categories": only_names["categories"]}]
        page = await get_json(client, "/api/Posts", {"join": "categories", "limit": "10"})
        by_title = {p["title"]: sorted(c["name"] for c in p["categories"]) for p in rows(page)}
        assert by_title == {"p1": ["life", "tech"], "p2": ["tech"], "p3": ["art"], "p4": []}
        # The other way round, and nested: categories -> posts -> author.
        tech = await get_json(client, f"/api/Categories/{w['cats']['tech']['id']}", {"join": "posts.author"})
        assert sorted((p["title"], p["author"]["name"]) for p in tech["posts"]) == [("p1", "Ada"), ("p2", "Bob")]


async def test_filters_through_the_join_table_keep_rows_and_counts_whole(make_client: ClientFactory) -> None:
    async with make_client(BLOG) as client:
        await blog(client)
        tech = await get_json(client, "/api/Posts", {"filter": "categories.name||$eq||tech", "limit": "1", "page": "1"})
        # Apso's envelope: one row per post however many categories match, total counts posts.
        assert (tech["count"], tech["total"], tech["pageCount"]) == (1, 2, 2)
        assert titles(tech) == ["p1"]
        second = await get_json(
            client, "/api/Posts", {"filter": "categories.name||$eq||tech", "limit": "1", "page": "2"}
        )
        assert titles(second) == ["p2"]
        many = await get_json(
            client, "/api/Posts", {"filter": "categories.name||$in||tech,life", "limit": "10", "page": "1"}
        )
        assert titles(many) == ["p1", "p2"] and many["total"] == 2
        none = await get_json(client, "/api/Posts", {"filter": "categories.id||$notnull", "limit": "10"})
        assert titles(none) == ["p1", "p2", "p3"]
        either = await get_json(
            client, "/api/Posts", {"or": ["categories.name||$eq||art", "title||$eq||p4"], "limit": "10"}
        )
        assert titles(either) == ["p3", "p4"]
        search = await get_json(client, "/api/Posts", {"s": '{"categories.name": {"$startsL": "TE"}}', "limit": "10"})
        assert titles(search) == ["p1", "p2"]


async def test_sort_through_many_and_deep_paths(make_client: ClientFactory) -> None:
    async with make_client(BLOG) as client:
        await blog(client)
        asc = await get_json(
            client, "/api/Posts", [("sort", "categories.name,ASC"), ("sort", "title,ASC"), ("limit", "10")]
        )
        # Each post by its first category in that order (art < life < tech); none last.
        assert titles(asc) == ["p3", "p1", "p2", "p4"]
        desc = await get_json(
            client, "/api/Posts", [("sort", "categories.name,DESC"), ("sort", "title,ASC"), ("limit", "10")]
        )
        assert titles(desc) == ["p4", "p1", "p2", "p3"]
        # Two relations deep: comments by their post's author's name.
        comments = await get_json(
            client, "/api/Comments", [("sort", "post.author.name,DESC"), ("sort", "body,ASC"), ("limit", "10")]
        )
        assert [c["body"] for c in comments["data"]] == ["on p2", "on p4", "on p1"]


async def test_deep_paths_in_filter_or_and_search(make_client: ClientFactory) -> None:
    async with make_client(BLOG) as client:
        await blog(client)

        async def bodies(params: Any) -> list[str]:
            page = await get_json(client, "/api/Comments", params)
            return sorted(c["body"] for c in page["data"])

        assert await bodies({"filter": "post.author.name||$eq||Ada", "limit": "10"}) == ["on p1"]
        assert await bodies({"filter": "post.author.profile.website||$notnull", "limit": "10"}) == ["on p1"]
        # A condition on a path holds when a related row satisfies it: no profile is not a null website.
        assert await bodies({"filter": "post.author.profile.website||$isnull", "limit": "10"}) == []
        assert await bodies(
            {"or": ["post.author.profile.website||$isnull", "post.author.name||$eq||Bob"], "limit": "10"}
        ) == ["on p2", "on p4"]
        assert await bodies({"or": ["post.categories.name||$eq||life", "commenter.name||$eq||Bob"], "limit": "10"}) == [
            "on p1",
            "on p4",
        ]
        assert await bodies({"s": '{"post.author.profile.website": {"$cont": "ada"}}', "limit": "10"}) == ["on p1"]
        # Categories whose posts have comments by Bob, four relations deep (the limit).
        cats = await get_json(client, "/api/Categories", {"filter": "posts.comments.commenter.name||$eq||Bob"})
        assert cats["data"] == []
        ada = await get_json(client, "/api/Categories", {"filter": "posts.comments.commenter.name||$eq||Ada"})
        assert sorted(c["name"] for c in ada["data"]) == ["life", "tech"]
        r = await client.get("/api/Comments", params={"filter": "post.author.nothing||$eq||x"})
        assert_error(r, 400, "INVALID_FIELD")
        r = await client.get("/api/Comments", params={"filter": "post.author.posts.comments.post.title||$eq||x"})
        assert_error(r, 400, "INVALID_FIELD")


async def test_update_replaces_the_set_and_refusals_write_nothing(make_client: ClientFactory) -> None:
    async with make_client(BLOG) as client:
        w = await blog(client)
        p1, cats = w["posts"]["p1"]["id"], w["cats"]
        r = await client.patch(f"/api/Posts/{p1}", json={"categories": [{"id": cats["art"]["id"]}], "views": 3})
        assert r.status_code == 200, r.text
        assert [c["name"] for c in r.json()["categories"]] == ["art"] and r.json()["views"] == 3
        # A missing id: 400 REFERENCE_NOT_FOUND, and neither the links nor the fields change.
        r = await client.patch(
            f"/api/Posts/{p1}", json={"categories": [{"id": cats["tech"]["id"]}, {"id": 999}], "views": 9}
        )
        body = assert_error(r, 400, "VALIDATION_FAILED")
        assert field_codes(body) == {"categories": "REFERENCE_NOT_FOUND"}
        now = await get_json(client, f"/api/Posts/{p1}", {"join": "categories"})
        assert [c["name"] for c in now["categories"]] == ["art"] and now["views"] == 3
        # Bare ids are taken too; an empty array unlinks everything; leaving the key out keeps the set.
        r = await client.put(f"/api/Posts/{p1}", json={"categories": [cats["tech"]["id"], cats["life"]["id"]]})
        assert sorted(c["name"] for c in r.json()["categories"]) == ["life", "tech"]
        r = await client.patch(f"/api/Posts/{p1}", json={"title": "renamed"})
        assert "categories" not in r.json()
        assert len((await get_json(client, f"/api/Posts/{p1}", {"join": "categories"}))["categories"]) == 2
        r = await client.patch(f"/api/Posts/{p1}", json={"categories": []})
        assert r.status_code == 200 and r.json()["categories"] == []
        for bad in ({"categories": "tech"}, {"categories": [{"name": "tech"}]}, {"categories": ["x"]}):
            assert_error(await client.patch(f"/api/Posts/{p1}", json=bad), 400, "VALIDATION_FAILED")


async def test_create_is_all_or_nothing(make_client: ClientFactory) -> None:
    async with make_client(BLOG) as client:
        w = await blog(client)
        before = await get_json(client, "/api/Posts", {"page": "1"})
        r = await client.post(
            "/api/Posts", json={"title": "x", "authorId": w["ada"]["id"], "categories": [{"id": 404}]}
        )
        assert field_codes(assert_error(r, 400, "VALIDATION_FAILED")) == {"categories": "REFERENCE_NOT_FOUND"}
        r = await client.post(
            "/api/Posts/bulk",
            json={
                "bulk": [
                    {"title": "ok", "authorId": w["ada"]["id"], "categories": [{"id": w["cats"]["art"]["id"]}]},
                    {"title": "bad", "authorId": w["ada"]["id"], "categories": [{"id": 404}]},
                ]
            },
        )
        assert field_codes(assert_error(r, 400, "VALIDATION_FAILED")) == {"bulk.1.categories": "REFERENCE_NOT_FOUND"}
        after = await get_json(client, "/api/Posts", {"page": "1"})
        assert after["total"] == before["total"]
        assert len(await sql(client, "SELECT 1 FROM post_categories_category")) == 4
        # Posts are soft-deleted: the links stay (as TypeORM's soft remove keeps them), joins leave
        # the deleted post out, and recovering it brings its categories back.
        p3, art = w["posts"]["p3"]["id"], w["cats"]["art"]["id"]
        assert (await client.delete(f"/api/Posts/{p3}")).status_code == 200
        assert len(await sql(client, "SELECT 1 FROM post_categories_category")) == 4
        assert (await get_json(client, f"/api/Categories/{art}", {"join": "posts"}))["posts"] == []
        assert titles(await get_json(client, "/api/Posts", {"filter": "categories.name||$eq||art"})) == []
        assert (await client.patch(f"/api/Posts/{p3}/recover")).status_code == 200
        back = await get_json(client, f"/api/Posts/{p3}", {"join": "categories"})
        assert [c["name"] for c in back["categories"]] == ["art"]
        assert (await get_json(client, "/api/Categories"))["total"] == 3


# -- tenancy: two organizations --------------------------------------------------------------

ARTICLES = """
articles:
  fields:
    - title: string (required)
    - org_id: uuid (references organizations, required)
    - created_by: uuid (references users)
    - created_at: timestamp (auto)
  many_to_many:
    tags: tags
    reviewers: {to: users, inverse: reviewed_articles}

tags:
  - name: string (required)
  - org_id: uuid (references organizations, required)
"""
TENANT_SCHEMA = SEED_SCHEMA_PATH.read_text() + ARTICLES


async def two_tenants(client: httpx.AsyncClient) -> dict[str, Any]:
    """Ann (organization A) and Bob (organization B), each with a tag called news and an article."""
    ann, bob = await new_user(client, "ann@example.com"), await new_user(client, "bob@example.com")
    await create_org(client, ann, "Org A")
    await create_org(client, bob, "Org B")
    out: dict[str, Any] = {"ann": ann, "bob": bob}
    for who, user in (("a", ann), ("b", bob)):
        r = await client.post("/api/tags", json={"name": "news"}, headers=user.headers)
        assert r.status_code == 201, r.text
        out[f"tag_{who}"] = r.json()
        r = await client.post(
            "/api/articles", json={"title": f"{who}1", "tags": [{"id": out[f"tag_{who}"]["id"]}]}, headers=user.headers
        )
        assert r.status_code == 201, r.text
        out[f"article_{who}"] = r.json()
    return out


@pytest.mark.slow(6)
async def test_no_organization_links_to_or_sees_anothers_rows(make_client: ClientFactory) -> None:
    async with make_client(TENANT_SCHEMA, auth=NO_VERIFICATION, base_url=BASE) as client:
        w = await two_tenants(client)
        ann, bob = w["ann"], w["bob"]
        tag_a, tag_b = w["tag_a"]["id"], w["tag_b"]["id"]
        links = "SELECT count(*) FROM articles_tags"
        assert (await sql(client, links))[0][0] == 2
        # Another organization's tag is reported as a tag that does not exist, and nothing is written.
        for tags in ([{"id": tag_b}], [{"id": tag_a}, {"id": tag_b}]):
            r = await client.post("/api/articles", json={"title": "x", "tags": tags}, headers=ann.headers)
            assert field_codes(assert_error(r, 400, "VALIDATION_FAILED")) == {"tags": "REFERENCE_NOT_FOUND"}
            r = await client.patch(f"/api/articles/{w['article_a']['id']}", json={"tags": tags}, headers=ann.headers)
            assert field_codes(assert_error(r, 400, "VALIDATION_FAILED")) == {"tags": "REFERENCE_NOT_FOUND"}
        # ... and so is a user of another organization.
        r = await client.patch(
            f"/api/articles/{w['article_a']['id']}", json={"reviewers": [{"id": bob.id}]}, headers=ann.headers
        )
        assert field_codes(assert_error(r, 400, "VALIDATION_FAILED")) == {"reviewers": "REFERENCE_NOT_FOUND"}
        r = await client.patch(f"/api/articles/{w['article_b']['id']}", json={"tags": []}, headers=ann.headers)
        assert_error(r, 404)
        assert (await sql(client, links))[0][0] == 2
        assert (await client.get("/api/articles", headers=ann.headers)).json()[0]["title"] == "a1"
        # Reads through the join table stay in the organization: filters, joins, sorts, deep paths.
        for params in (
            {"filter": "tags.name||$eq||news"},
            {"filter": "tags.articles.title||$eq||b1"},
            {"s": '{"tags.articles.tags.org_id": {"$ne": "00000000-0000-0000-0000-000000000000"}}'},
            {"sort": "tags.articles.title,DESC"},
            {"join": "tags.articles"},
        ):
            mine = (await client.get("/api/articles", params=params, headers=ann.headers)).json()
            assert [a["title"] for a in mine] in (["a1"], []), params
        assert (
            await client.get("/api/articles", params={"filter": "tags.articles.title||$eq||b1"}, headers=ann.headers)
        ).json() == []
        joined = (await client.get(f"/api/tags/{tag_a}", params={"join": "articles.tags"}, headers=ann.headers)).json()
        assert [a["title"] for a in joined["articles"]] == ["a1"]
        assert [t["id"] for t in joined["articles"][0]["tags"]] == [tag_a]
        r = await client.get(f"/api/tags/{tag_b}", params={"join": "articles"}, headers=ann.headers)
        assert_error(r, 404)
        # Her own user may review her article; the answer shows the linked rows as ?join= would.
        r = await client.patch(
            f"/api/articles/{w['article_a']['id']}", json={"reviewers": [{"id": ann.id}]}, headers=ann.headers
        )
        assert r.status_code == 200, r.text
        assert [u["id"] for u in r.json()["reviewers"]] == [ann.id]
        mine = await client.get("/api/users", params={"join": "reviewed_articles"}, headers=ann.headers)
        assert [[a["title"] for a in u["reviewed_articles"]] for u in mine.json()] == [["a1"]]


async def test_openapi_documents_links_in_write_bodies(make_client: ClientFactory) -> None:
    async with make_client(BLOG) as client:
        schemas = (await get_json(client, "/api/openapi.json"))["components"]["schemas"]
        for model in ("PostCreate", "PostUpdate", "CategoryCreate", "CategoryUpdate"):
            assert (
                schemas[model]["properties"]["categories" if model.startswith("Post") else "posts"]["type"] == "array"
            )
        assert schemas["Post"]["properties"]["categories"]["type"] == "array"
