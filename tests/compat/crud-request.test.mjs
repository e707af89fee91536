// Requests built the way Apso's SDK builds them (@nestjsx/crud-request's RequestQueryBuilder, pinned in
// package.json) against a Tenantry server serving the blog of tests/api/fixtures/blog_crud.apsorc, whose
// entities and views carry nestjsx @Crud() options (docs/crud-options.md).
//
// Run by tests/compat/test_crud_request_client.py, which starts the server and passes BASE_URL.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import crudRequest from "@nestjsx/crud-request";

const { RequestQueryBuilder, CondOperator } = crudRequest;
const BASE = process.env.BASE_URL;
const KEY = { "x-blog-key": "s3cret" };

async function call(method, path, { query, body, headers } = {}) {
  const url = `${BASE}/api/${path}${query ? `?${query}` : ""}`;
  const response = await fetch(url, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

const get = (path, builder, headers) => call("GET", path, { query: builder?.query(), headers });
const qb = () => RequestQueryBuilder.create();
const titles = (body) => (Array.isArray(body) ? body : body.data).map((row) => row.title);

before(async () => {
  const rows = [
    ["Authors", { name: "Ada", email: "ada@example.com" }],
    ["Authors", { name: "Bob", email: "bob@example.com" }],
    ["Profiles", { bio: "Mathematician", website: "https://ada.example", authorId: 1 }],
    ["Categories", { name: "Tech" }],
    ["Posts", { title: "Delta", authorId: 1, published: true, categoryId: 1 }],
    ["Posts", { title: "Alpha", authorId: 1, published: false }],
    ["Posts", { title: "Charlie", authorId: 2, published: true, categoryId: 1 }],
    ["Posts", { title: "Bravo", authorId: 1, published: true }],
    ["Reviews", { rating: 5, postId: 1 }],
    ["Reviews", { rating: 3 }],
  ];
  for (const [path, body] of rows) {
    const r = await call("POST", path, { body });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
});

test("default sort, limit, maxLimit and paging as the controller's options set them", async () => {
  assert.deepEqual(titles((await get("Posts")).body), ["Alpha", "Bravo"]);
  assert.deepEqual(titles((await get("Posts", qb().setLimit(50))).body), ["Alpha", "Bravo", "Charlie"]);
  const page = (await get("Posts", qb().setLimit(2).setPage(2))).body;
  assert.deepEqual(titles(page), ["Charlie", "Delta"]);
  assert.deepEqual([page.count, page.total, page.page, page.pageCount], [2, 4, 2, 2]);
  const sorted = (await get("Posts", qb().sortBy({ field: "id", order: "DESC" }))).body;
  assert.deepEqual(titles(sorted), ["Bravo", "Charlie"]);
});

test("joins: the allow-list, an alias, eager and required joins", async () => {
  const rows = (await get("Posts", qb().setJoin({ field: "reviews" }).setJoin({ field: "writer", select: ["name"] }))).body;
  assert.ok(rows.every((row) => !("reviews" in row)));
  assert.deepEqual(rows[0].author, { id: 1, name: "Ada" });
  const bob = qb().setFilter({ field: "writer.name", operator: CondOperator.EQUALS, value: "Bob" });
  assert.deepEqual(titles((await get("Posts", bob)).body), ["Charlie"]);
  const reviews = (await get("Reviews")).body;
  assert.deepEqual(reviews.data, [{ id: 1, rating: 5, postId: 1, post: { id: 1, title: "Delta" } }]);
  const authors = (await get("Authors", qb().select(["email", "name"]))).body;
  assert.deepEqual(authors.data[0], { id: 1, name: "Ada", profile: { id: 1, bio: "Mathematician", authorId: 1 } });
});

test("a scoped view: no filter, or nor search widens it", async () => {
  const scoped = (await get("scoped-posts", qb().sortBy({ field: "id", order: "ASC" }))).body;
  assert.deepEqual(titles(scoped), ["Delta", "Bravo"]);
  const widen = [
    qb().setFilter({ field: "authorId", operator: CondOperator.EQUALS, value: 2 }),
    qb().setOr({ field: "authorId", operator: CondOperator.EQUALS, value: 2 }),
    qb()
      .setFilter({ field: "title", operator: CondOperator.EQUALS, value: "Alpha" })
      .setOr({ field: "authorId", operator: CondOperator.IN, value: [2, 3] }),
    qb().search({ $or: [{ authorId: 2 }, { published: false }] }),
  ];
  for (const builder of widen) {
    assert.deepEqual((await get("scoped-posts", builder)).body.data, [], builder.query(false));
  }
});

test("routes left out, guards and fixed values on writes", async () => {
  const gone = await call("DELETE", "Authors/1");
  assert.deepEqual(gone, {
    status: 404,
    body: { statusCode: 404, message: "Cannot DELETE /api/Authors/1", error: "Not Found", code: "ROUTE_NOT_FOUND" },
  });
  assert.equal((await get("secure-posts")).status, 403);
  const guarded = await get("secure-posts", qb().setLimit(3), KEY);
  assert.deepEqual(guarded.body.map((row) => row.id), [4, 3, 2]);
  assert.ok(guarded.body.every((row) => !("body" in row)));
  const created = await call("POST", "scoped-posts", { body: { title: "Echo", authorId: 2, published: true } });
  assert.equal(created.status, 201);
  assert.equal(created.body.authorId, 1);
  assert.equal((await call("PATCH", "scoped-posts/3", { body: { title: "Mine" } })).status, 404);
});
