"""Many-to-many relations in the web app, over HTTP on SQLite and PostgreSQL: a post's page lists
its categories by title and links them (and a category its posts), and the post's form picks them
in a multiple select of the organization's categories, sent to the API as ``[{"id": ...}]``: linked,
replaced, emptied; another organization's category is neither offered nor accepted."""

from __future__ import annotations

import re

import httpx

from tests.conftest import ClientFactory
from tests.web.test_pages import FORM, log_in, sign_up

SCHEMA = """
organizations:
  - name: string (required)
  - slug: string (unique, required)

users:
  - email: string (unique, required)
  - name: string

posts:
  fields:
    - title: string (required)
    - org_id: uuid (references organizations, required)
  many_to_many:
    categories: categories

categories:
  - name: string (required)
  - org_id: uuid (references organizations, required)
"""


async def _create(client: httpx.AsyncClient, route: str, body: dict[str, str | list[str]]) -> str:
    r = await client.post(f"/app/{route}/new", data=body, headers=FORM)
    assert r.status_code == 303, r.text
    return str(r.headers["location"].rsplit("/", 1)[1])


def _chosen(page: str) -> dict[str, bool]:
    """The categories' multiple select on a form: option text -> selected."""
    found = re.search(
        r'<select multiple size="\d+" id="f-categories" name="categories"[^>]*>(.*?)</select>', page, re.S
    )
    assert found, page
    options = re.findall(r'<option value="[^"]+" (selected)?>([^<]+)</option>', found.group(1))
    return {text: bool(selected) for selected, text in options}


def _linked(page: str) -> list[str]:
    """The titles a detail page lists under its many-to-many relation."""
    found = re.search(r'<ul class="linked">(.*?)</ul>', page, re.S)
    return re.findall(r'<a href="/app/[a-z]+/[^"]+">([^<]+)</a>', found.group(1)) if found else []


async def test_posts_link_categories_on_their_pages(make_client: ClientFactory) -> None:
    async with make_client(SCHEMA) as client:
        await sign_up(client, "eve@example.com", org="Elsewhere")
        await log_in(client, "eve@example.com")
        secret = await _create(client, "categories", {"name": "Secret"})
        client.cookies.clear()
        await sign_up(client, "ada@example.com")
        await log_in(client, "ada@example.com")
        tech = await _create(client, "categories", {"name": "Tech"})
        life = await _create(client, "categories", {"name": "Life"})

        # The new post's form offers the organization's categories, none chosen.
        assert _chosen((await client.get("/app/posts/new")).text) == {"Tech": False, "Life": False}
        post = await _create(client, "posts", {"title": "Hello", "categories": [tech, life]})
        page = (await client.get(f"/app/posts/{post}")).text
        assert "<dt>Categories</dt>" in page and sorted(_linked(page)) == ["Life", "Tech"]
        assert f'<a href="/app/categories/{tech}">Tech</a>' in page
        # The API sees the same links; the category's page lists the post (the inverse relation).
        api = (await client.get(f"/api/posts/{post}", params={"join": "categories"})).json()
        assert sorted(c["name"] for c in api["categories"]) == ["Life", "Tech"]
        assert _linked((await client.get(f"/app/categories/{tech}")).text) == ["Hello"]

        # Editing: the form shows what is linked; the set chosen replaces it; none chosen unlinks all.
        assert _chosen((await client.get(f"/app/posts/{post}/edit")).text) == {"Tech": True, "Life": True}
        r = await client.post(f"/app/posts/{post}/edit", data={"title": "Hello", "categories": [life]}, headers=FORM)
        assert r.status_code == 303, r.text
        assert _linked((await client.get(f"/app/posts/{post}")).text) == ["Life"]
        r = await client.post(f"/app/posts/{post}/edit", data={"title": "Hello again"}, headers=FORM)
        assert r.status_code == 303, r.text
        page = (await client.get(f"/app/posts/{post}")).text
        assert "Hello again" in page and _linked(page) == []

        # Another organization's category: not offered, and refused when sent anyway, with nothing kept.
        assert "Secret" not in (await client.get(f"/app/posts/{post}/edit")).text
        body = {"title": "Renamed", "categories": [tech, secret]}
        r = await client.post(f"/app/posts/{post}/edit", data=body, headers=FORM)
        assert r.status_code == 400 and 'aria-invalid="true" aria-describedby="e-categories"' in r.text, r.text
        assert _chosen(r.text) == {"Tech": True, "Life": False}  # the choice is kept for another try
        page = (await client.get(f"/app/posts/{post}")).text
        assert "Renamed" not in page and _linked(page) == []
