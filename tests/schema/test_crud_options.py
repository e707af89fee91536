"""``crud`` and ``views`` (docs/crud-options.md) in both dialects: the model they load into and every
mistake reported with its line."""

from __future__ import annotations

import pytest

from tenantry.schema import SchemaError, load_schema_text
from tenantry.schema.crud import ROUTE_NAMES, JoinOption

YAML = """
authors:
  - name: string (required)
posts:
  fields:
    - title: string (required)
    - author_id: uuid (references authors)
    - secret: string
  crud:
    routes: {only: [getMany, getOneBase]}
    query:
      join: {author: {eager: true, allow: [name]}}
      exclude: [secret]
      sort: [title, "author_id,DESC"]
      limit: 3
      maxLimit: 9
      alwaysPaginate: true
      softDelete: true
      filter: [{field: title, operator: $ne, value: hidden}]
    persist: {secret: none}
  views:
    - route: admin-posts
      guard: {roles: [admin], header: {X-Tier: 2}}
      crud: {routes: {exclude: [deleteOneBase]}}
"""


def test_yaml_extended_form() -> None:
    schema = load_schema_text(YAML, "schema.yaml")
    posts = schema.entities["posts"]
    crud = posts.crud
    assert crud.routes == {"getManyBase", "getOneBase"}
    assert crud.joins == (("author", JoinOption(eager=True, allow=("name",))),)
    assert (crud.exclude, crud.sort) == (("secret",), (("title", False), ("author_id", True)))
    assert (crud.limit, crud.max_limit, crud.always_paginate) == (3, 9, True)
    # The entity's own options that belong to the table and its defaults.
    assert (posts.soft_delete, posts.default_limit, posts.always_paginate) == (True, 3, True)
    assert crud.scope == '{"$and":[{"title":{"$ne":"hidden"}}]}'
    assert crud.written == {"secret": "none"}
    (view,) = schema.views
    assert (view.route, view.entity, view.class_name) == ("admin-posts", "posts", "AdminPosts")
    assert (view.guard.roles, view.guard.headers) == (("admin",), (("x-tier", "2"),))
    assert view.crud.routes == frozenset(ROUTE_NAMES) - {"deleteOneBase"}


@pytest.mark.parametrize(
    ("crud", "message"),
    [
        ("routes: {only: [getEverything]}", "unknown route 'getEverything'"),
        ("routes: {only: [getMany], exclude: [deleteOne]}", "'routes' takes 'only' or 'exclude', not both"),
        ("query: {join: {tags: {}}}", "'query.join' names unknown relation 'tags'"),
        ("query: {join: {author: {eagerly: true}}}", "unknown key 'eagerly' in join 'author'"),
        ("query: {join: {author: {allow: [nope]}}}", "join 'author' names unknown field 'nope'"),
        ("query: {join: {author: {alias: title}}}", "alias 'title' of join 'author' is already a field or relation"),
        ("query: {join: {author: {alias: author_id}}}", "alias 'author_id' of join 'author' is already a field"),
        ("query: {exclude: [nope]}", "'query.exclude' names unknown field 'nope'"),
        ("query: {sort: [{field: title, order: UP}]}", "sort order of 'title' must be ASC or DESC"),
        ("query: {limit: 0}", "'query.limit' must be a positive integer"),
        ("query: {filter: [{field: title, operator: $like, value: x}]}", "unknown operator '$like'"),
        ("query: {cache: 10}", "unknown key 'cache' in 'crud.query'"),
        ("query: {filter: {$or: [{nope: 1}]}}", "'query.filter' names unknown field 'nope'"),
        ("query: {filter: {author.nope: 1}}", "'query.filter' names unknown field 'author.nope'"),
        ("params: {nope: 1}", "fixed value for unknown field 'nope'"),
        ("persist: {title: [1]}", "'persist' maps field names to fixed values"),
    ],
)
def test_crud_mistakes(crud: str, message: str) -> None:
    text = f"""
authors:
  - name: string (required)
posts:
  fields:
    - title: string (required)
    - author_id: uuid (references authors)
  crud: {{{crud}}}
"""
    with pytest.raises(SchemaError) as info:
        load_schema_text(text, "schema.yaml")
    assert message in str(info.value)
    assert "schema.yaml:8:" in str(info.value)


def test_view_mistakes_in_apsorc() -> None:
    text = """{
  "version": 2,
  "entities": [
    { "name": "Post", "fields": [{ "name": "title", "type": "text" }],
      "views": [
        { "route": "posts", "crud": {} },
        { "route": "bad posts" },
        { "route": "mine", "guard": { "roles": ["owner"] }, "crud": { "query": { "softDelete": true } } },
        { "route": "open", "guard": {} }
      ]
    }
  ]
}"""
    with pytest.raises(SchemaError) as info:
        load_schema_text(text, "blog.apsorc")
    problems = [str(p) for p in info.value.problems]
    assert "blog.apsorc:5: view 'posts' of 'Post' has the same route as 'Post'" in problems
    assert "blog.apsorc:5: a view of 'Post' needs a 'route' of letters, digits, '-' and '_'" in problems
    assert "blog.apsorc:5: view 'mine': guard names unknown role 'owner' (roles: admin, member, viewer)" in problems
    assert "blog.apsorc:5: view 'mine': 'softDelete' belongs to the entity's own 'crud' (it adds a column)" in problems
    assert "blog.apsorc:5: a 'guard' needs 'header' or 'roles'" in problems
