// Requests built the way Apso's SDK builds them (@nestjsx/crud-request's RequestQueryBuilder, pinned in
// package.json) against a Tenantry server serving the blog of tests/api/fixtures/blog.apsorc, whose
// entities and views carry nestjsx @Crud() options (docs/crud-options.md): joins through the
// many-to-many `categories`, relation paths of any depth, and the options' answers.
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
    ["Categories", { name: "Art" }],
    ["Posts", { title: "Delta", authorId: 1, published: true, categories: [{ id: 1 }, { id: 2 }] }],
    ["Posts", { title: "Alpha", authorId: 1, published: false }],
    ["Posts", { title: "Charlie", authorId: 2, published: true, categories: [{ id: 1 }] }],
    ["Posts", { title: "Bravo", authorId: 1, published: true }],
    ["Posts", { title: "Zulu", authorId: 2, published: false }],
    ["Comments", { body: "Nice", postId: 1, commenterId: 2 }],
    ["Comments", { body: "Meh", postId: 3, commenterId: 1 }],
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
  assert.deepEqual(titles((await get("Posts", qb().setLimit(50))).body), ["Alpha", "Bravo", "Charlie", "Delta"]);
  const page = (await get("Posts", qb().setLimit(2).setPage(2))).body;
  assert.deepEqual(titles(page), ["Charlie", "Delta"]);
  assert.deepEqual([page.count, page.total, page.page, page.pageCount], [2, 5, 2, 3]);
  const sorted = (await get("Posts", qb().sortBy({ field: "id", order: "DESC" }))).body;
  assert.deepEqual(titles(sorted), ["Zulu", "Bravo"]);
});

test("joins: the allow-list, an alias, eager and required joins", async () => {
  const rows = (await get("Posts", qb().setJoin({ field: "reviews" }).setJoin({ field: "writer", select: ["name"] }))).body;
  assert.ok(rows.every((row) => !("reviews" in row)));
  assert.deepEqual(rows[0].author, { id: 1, name: "Ada" });
  const bob = qb().setFilter({ field: "writer.name", operator: CondOperator.EQUALS, value: "Bob" });
  assert.deepEqual(titles((await get("Posts", bob)).body), ["Charlie", "Zulu"]);
  const reviews = (await get("Reviews")).body;
  assert.deepEqual(reviews.data, [{ id: 1, rating: 5, postId: 1, post: { id: 1, title: "Delta" } }]);
  const authors = (await get("Authors", qb().select(["email", "name"]))).body;
  assert.deepEqual(authors.data[0], { id: 1, name: "Ada", profile: { id: 1, bio: "Mathematician", authorId: 1 } });
});

test("many-to-many: join=categories, join=categories||name, filters, search and sorts through it", async () => {
  const joined = (await get("Posts", qb().setJoin({ field: "categories" }).setLimit(4))).body;
  const names = (row) => row.categories.map((c) => c.name).sort();
  assert.deepEqual(
    joined.map((row) => [row.title, names(row)]),
    [["Alpha", []], ["Bravo", []], ["Charlie", ["Tech"]], ["Delta", ["Art", "Tech"]]],
  );
  const narrow = (await get("Posts/1", qb().select(["title"]).setJoin({ field: "categories", select: ["name"] }))).body;
  assert.deepEqual(Object.keys(narrow).sort(), ["categories", "id", "title"]);
  assert.ok(narrow.categories.every((c) => Object.keys(c).sort().join() === "id,name"));
  const tech = qb().setFilter({ field: "categories.name", operator: CondOperator.EQUALS, value: "Tech" });
  assert.deepEqual(titles((await get("Posts", tech)).body), ["Charlie", "Delta"]);
  const either = qb()
    .setOr({ field: "categories.name", operator: CondOperator.EQUALS, value: "Art" })
    .setOr({ field: "title", operator: CondOperator.EQUALS, value: "Bravo" });
  assert.deepEqual(titles((await get("Posts", either)).body), ["Bravo", "Delta"]);
  const search = qb().search({ "categories.name": { $in: ["Art", "Nope"] } });
  assert.deepEqual(titles((await get("Posts", search)).body), ["Delta"]);
  // A post sorts by its first category in the order asked; posts without one come last ascending.
  const byCategory = (order) =>
    qb()
      .sortBy([
        { field: "categories.name", order },
        { field: "title", order: "ASC" },
      ])
      .setLimit(4);
  assert.deepEqual(titles((await get("Posts", byCategory("ASC"))).body), ["Delta", "Charlie", "Alpha", "Bravo"]);
  assert.deepEqual(titles((await get("Posts", byCategory("DESC"))).body), ["Alpha", "Bravo", "Zulu", "Charlie"]);
  const back = (await get("Categories/2", qb().setJoin({ field: "posts" }).setJoin({ field: "posts.author" }))).body;
  assert.deepEqual(back.posts.map((p) => [p.title, p.author.name]), [["Delta", "Ada"]]);
  // secure-posts joins `categories` as required and unselected: posts without one are left out.
  const required = (await get("secure-posts", qb().setJoin({ field: "categories" }).setLimit(4), KEY)).body;
  assert.deepEqual(required.map((row) => [row.id, "categories" in row]), [[3, false], [1, false]]);
});

test("relation paths of any depth in filter, or, search and sort", async () => {
  const bodies = async (builder) => (await get("Comments", builder)).body.data.map((row) => row.body);
  const eq = (field, value) => ({ field, operator: CondOperator.EQUALS, value });
  assert.deepEqual(await bodies(qb().setFilter(eq("post.author.name", "Bob"))), ["Meh"]);
  const website = { field: "post.author.profile.website", operator: CondOperator.NOT_NULL };
  assert.deepEqual(await bodies(qb().setFilter(website)), ["Nice"]);
  const or = qb().setOr(eq("post.categories.name", "Art")).setOr(eq("commenter.name", "Ada"));
  assert.deepEqual((await bodies(or)).sort(), ["Meh", "Nice"]);
  assert.deepEqual(await bodies(qb().search({ "post.author.profile.website": { $cont: "ada" } })), ["Nice"]);
  assert.deepEqual(await bodies(qb().sortBy({ field: "post.author.name", order: "DESC" })), ["Meh", "Nice"]);
  assert.deepEqual(await bodies(qb().sortBy({ field: "post.author.name", order: "ASC" })), ["Nice", "Meh"]);
  const reviews = (await get("Reviews", qb().setFilter(eq("post.author.name", "Ada")))).body;
  assert.deepEqual(reviews.data.map((r) => r.id), [1]);
  assert.deepEqual((await get("Reviews", qb().setFilter(eq("post.author.name", "Bob")))).body.data, []);
  const unknown = await get("Comments", qb().setFilter(eq("post.author.nothing", "x")));
  assert.deepEqual([unknown.status, unknown.body.code], [400, "INVALID_FIELD"]);
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
  assert.deepEqual(guarded.body.map((row) => row.id), [5, 4, 3]);
  assert.ok(guarded.body.every((row) => !("body" in row)));
  const created = await call("POST", "scoped-posts", { body: { title: "Echo", authorId: 2, published: true } });
  assert.equal(created.status, 201);
  assert.equal(created.body.authorId, 1);
  assert.equal((await call("PATCH", "scoped-posts/3", { body: { title: "Mine" } })).status, 404);
  // Linking on create, as TypeORM accepts it; the answer carries the linked rows.
  const linked = await call("POST", "Posts", { body: { title: "Kilo", authorId: 2, categories: [{ id: 2 }] } });
  assert.equal(linked.status, 201, JSON.stringify(linked.body));
  assert.deepEqual(linked.body.categories.map((c) => c.name), ["Art"]);
  const art = qb().setFilter({ field: "categories.name", operator: CondOperator.EQUALS, value: "Art" }).setLimit(4);
  assert.deepEqual(titles((await get("Posts", art)).body), ["Delta", "Kilo"]);
  const unlinked = await call("PATCH", `Posts/${linked.body.id}`, { body: { categories: [] } });
  assert.deepEqual(unlinked.body.categories, []);
});
