// The generated TypeScript client of tests/clients/schemas.py in use against a live server: every
// operation, the session as a bearer token, as Better Auth's cookie and as an API key, and the
// Idempotency-Key header of every write. Compiled with `tsc --strict` together with the client
// (and refused.ts) by test_typescript_client.py, which runs the output with BASE_URL set.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient, isApiError, type FetchLike, type Page, type Event, type Widget } from "./client/index.js";

const BASE = process.env.BASE_URL ?? "";
assert.ok(BASE, "BASE_URL must be set");
const PASSWORD = "Password-One-111";

interface Account {
  token: string;
  userId: string;
  orgId: string;
  email: string;
}

async function signUp(name: string): Promise<Account> {
  const email = `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  const r = await fetch(`${BASE}/api/auth/sign-up/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: BASE },
    body: JSON.stringify({ email, password: PASSWORD, name, organizationName: `${name} Inc` }),
  });
  assert.equal(r.status, 200, await r.clone().text());
  const token = r.headers.get("set-auth-token") ?? "";
  const session: any = await (await fetch(`${BASE}/api/auth/get-session`, { headers: { authorization: `Bearer ${token}` } })).json();
  return { token, userId: session.user.id, orgId: session.session.activeOrganizationId, email };
}

// Every request the client made: its method and headers.
function recording(): { fetch: FetchLike; seen: { method: string; headers: Record<string, string> }[] } {
  const seen: { method: string; headers: Record<string, string> }[] = [];
  const recorder: FetchLike = (url, init) => {
    seen.push({ method: init.method, headers: init.headers });
    return fetch(url, init);
  };
  return { fetch: recorder, seen };
}

const names = (rows: { name: string }[]) => rows.map((r) => r.name);

test("every operation with a bearer token; typed errors; idempotency keys", async () => {
  const account = await signUp("ts-bearer");
  const rec = recording();
  const api = createClient({ baseUrl: BASE, token: () => account.token, fetch: rec.fetch });

  // The seed's calling shape.
  const orgs = await api.organizations.list();
  assert.deepEqual(orgs.map((o) => o.id), [account.orgId]);
  const project = await api.projects.create({ name: "Apollo" });
  assert.deepEqual([project.org_id, project.created_by, project.status], [account.orgId, account.userId, "active"]);
  assert.deepEqual((await api.projects.list(account.orgId)).map((p) => p.id), [project.id]);

  // Every field type.
  const w1 = await api.widgets.create({
    name: "w1",
    notes: "first",
    ref: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    count: 3,
    big: "9007199254740993",
    price: 12.5,
    ratio: 0.5,
    active: false,
    starts_at: new Date("2026-03-04T05:06:07.891Z"),
    day: "2026-02-28",
    meta: { a: [1, null, "x"] },
    size: "large",
    serial_no: "S-1",
  });
  const big: string | null = w1.big;
  assert.deepEqual([big, w1.price, w1.starts_at, w1.day, w1.meta, w1.size], [
    "9007199254740993",
    "12.5000",
    "2026-03-04T05:06:07.891Z",
    "2026-02-28",
    { a: [1, null, "x"] },
    "large",
  ]);
  const [w2, w3] = await api.widgets.createMany([
    { name: "w2", count: 5, big: 42 },
    { name: "w3", count: 7, size: "medium", price: "1.25" },
  ]);
  assert.deepEqual([w2.size, w2.active, w3.price], ["small", true, "1.2500"]);

  // Filters of each operator family, or, sort, equality, search, fields, joins, paging.
  assert.deepEqual(names(await api.widgets.list({ filter: [["count", "$gte", 5]], sort: [["count", "DESC"]] })), ["w3", "w2"]);
  assert.deepEqual(names(await api.widgets.list({ filter: [["count", "$between", [3, 5]]], sort: ["name"] })), ["w1", "w2"]);
  assert.deepEqual(names(await api.widgets.list({ filter: [["size", "$in", ["large", "medium"]]], sort: ["name"] })), ["w1", "w3"]);
  assert.deepEqual(names(await api.widgets.list({ filter: [["name", "$contL", "W3"]] })), ["w3"]);
  assert.deepEqual(names(await api.widgets.list({ filter: [["notes", "$isnull"]], sort: ["name"] })), ["w2", "w3"]);
  assert.deepEqual(names(await api.widgets.list({ filter: [["active", "$eq", false]] })), ["w1"]);
  assert.deepEqual(names(await api.widgets.list({ filter: [["starts_at", "$lt", new Date("2027-01-01T00:00:00Z")]] })), ["w1"]);
  assert.deepEqual(names(await api.widgets.list({ filter: [["price", "$gt", "2"]] })), ["w1"]);
  assert.deepEqual(names(await api.widgets.list({ filter: [["big", "$eq", 42]] })), ["w2"]);
  assert.deepEqual(names(await api.widgets.list({ filter: [["name", "$eq", "w1"]], or: [["name", "$eq", "w2"]], sort: ["name"] })), ["w1", "w2"]);
  assert.deepEqual(names(await api.widgets.list({ where: { size: "medium" } })), ["w3"]);
  assert.deepEqual(names(await api.widgets.list({ search: { count: { $lt: 4 } } })), ["w1"]);
  const narrow = await api.widgets.list({ fields: ["name"], filter: [["name", "$eq", "w1"]] });
  assert.deepEqual(Object.keys(narrow[0]).sort(), ["id", "name"]);
  const page: Page<{ id: string; name: string }> = await api.widgets.list({ page: 1, limit: 2, sort: ["name"], fields: ["name"] });
  assert.deepEqual([names(page.data), page.total, page.pageCount], [["w1", "w2"], 3, 2]);
  const rest = await api.widgets.list({ offset: 2, limit: 2, sort: ["name"] });
  assert.deepEqual([names(rest.data), rest.page], [["w3"], 2]);

  const part = await api.parts.create({ label: "p1", widget_id: w1.id });
  const withParts = await api.widgets.get(w1.id, { join: ["parts"] });
  assert.deepEqual(withParts.parts.map((p) => p.label), ["p1"]);
  const joined = await api.parts.list({ join: ["widget", "widget.organization"] });
  assert.equal(joined[0].widget?.name, "w1");
  assert.equal((await api.parts.list({ filter: [["widget.name", "$eq", "w1"]] }))[0].id, part.id);
  assert.deepEqual(Object.keys(await api.widgets.get(w2.id, { fields: ["count"] })).sort(), ["count", "id"]);

  // Updates, and the idempotency keys writes carry.
  rec.seen.length = 0;
  assert.equal((await api.widgets.update(w2.id, { count: 6 }, { idempotencyKey: "update-w2" })).count, 6);
  assert.equal((await api.widgets.replace(w2.id, { notes: null, size: "large" }, { idempotencyKey: false })).size, "large");
  await api.widgets.list();
  assert.deepEqual(rec.seen.map((s) => [s.method, s.headers["idempotency-key"]]), [
    ["PATCH", "update-w2"],
    ["PUT", undefined],
    ["GET", undefined],
  ]);
  rec.seen.length = 0;
  const gone = await api.parts.create({ label: "p2", widget_id: w1.id });
  await api.parts.delete(gone.id);
  const keys = rec.seen.map((s) => s.headers["idempotency-key"] ?? "");
  assert.equal(keys.length, 2);
  for (const key of keys) assert.match(key, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(keys[0], keys[1]);

  // Typed errors, by code.
  await assert.rejects(api.widgets.create({ name: "w1" }), (e: unknown) => {
    assert.ok(isApiError(e, "UNIQUE_VIOLATION"));
    assert.deepEqual([e.status, e.body.fields], [409, ["name"]]);
    return true;
  });
  await assert.rejects(api.widgets.create({ name: "" }), (e: unknown) => {
    assert.ok(isApiError(e, "VALIDATION_FAILED"));
    assert.deepEqual(e.body.errors.map((x) => x.field), ["name"]);
    return true;
  });
  await assert.rejects(api.widgets.delete(w1.id), (e: unknown) => isApiError(e, "REFERENCED_BY") && e.body.referencedBy[0] === "parts");
  await api.parts.delete(part.id);
  await api.widgets.delete(w1.id);
  await assert.rejects(api.widgets.get(w1.id), (e: unknown) => isApiError(e, "NOT_FOUND") && e.status === 404);
  await assert.rejects(api.widgets.get("not-a-uuid"), (e: unknown) => isApiError(e) && e.code === "INVALID_ID");

  // An entity that always paginates and deletes softly.
  const event = await api.events.create({ title: "launch" });
  const events: Page<Event> = await api.events.list();
  assert.equal(events.total, 1);
  await api.events.delete(event.id);
  assert.equal((await api.events.list()).total, 0);
  assert.notEqual((await api.events.list({ includeDeleted: true })).data[0].deleted_at, null);
  assert.equal((await api.events.recover(event.id)).deleted_at, null);
});

test("the Better Auth session cookie and an API key", async () => {
  const account = await signUp("ts-cookie");
  // Node's fetch keeps no cookies: a browser's would send the one sign-in set (credentials: "include").
  const signIn = await fetch(`${BASE}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: BASE },
    body: JSON.stringify({ email: account.email, password: PASSWORD }),
  });
  assert.equal(signIn.status, 200);
  const cookie = signIn.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const browserFetch: FetchLike = (url, init) => {
    assert.equal(init.credentials, "include");
    return fetch(url, { ...init, headers: { ...init.headers, cookie, origin: BASE } });
  };
  const browser = createClient({ baseUrl: BASE, fetch: browserFetch });
  const w: Widget = await browser.widgets.create({ name: "from-cookie" });
  assert.deepEqual((await browser.widgets.list()).map((r) => r.id), [w.id]);

  const made = await fetch(`${BASE}/api/auth/api-key/create`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${account.token}`, origin: BASE },
    body: JSON.stringify({ name: "client" }),
  });
  assert.equal(made.status, 200);
  const { key } = (await made.json()) as { key: string };
  const service = createClient({ baseUrl: BASE, apiKey: key });
  assert.deepEqual((await service.widgets.list()).map((r) => r.id), [w.id]);
  const anonymous = createClient({ baseUrl: BASE });
  await assert.rejects(anonymous.widgets.list(), (e: unknown) => isApiError(e, "UNAUTHORIZED") && e.status === 401);
});
