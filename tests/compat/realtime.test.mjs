// socket.io-client (npm, pinned in package.json) against a Tenantry server's Socket.IO endpoint.
//
// Run by tests/realtime/test_socketio_client.py, which starts the server (the seed's schema and
// example hooks, sign-up without e-mail verification) and passes BASE_URL. People are made
// through the HTTP API; sockets connect as the seed's client does (`auth: { token }`) or with
// the session cookie, and we watch what each one receives.
import assert from "node:assert/strict";
import { test } from "node:test";
import { io } from "socket.io-client";

const BASE = process.env.BASE_URL;
assert.ok(BASE, "BASE_URL must be set");
const PASSWORD = "Password-One-111";

function unique(name) {
  return `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}

async function api(method, path, { token, body } = {}) {
  const headers = { origin: BASE };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${BASE}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null, headers: response.headers };
}

async function ok(method, path, options) {
  const r = await api(method, path, options);
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r;
}

// A signed-up user: its session token, its session cookie, and a second session (signed in again).
async function person(name) {
  const email = `${unique(name)}@example.com`;
  const r = await ok("POST", "/api/auth/sign-up/email", { body: { email, password: PASSWORD, name } });
  const cookie = r.headers.getSetCookie().find((c) => c.includes("session_token=")).split(";")[0];
  return { id: r.body.user.id, email, token: r.body.token, cookie };
}

async function signIn(who) {
  const r = await ok("POST", "/api/auth/sign-in/email", { body: { email: who.email, password: PASSWORD } });
  return r.body.token;
}

// A new organization made by `who`, made active on the session `token` (default: who.token).
async function organization(who, token = who.token) {
  const name = unique("org");
  const org = (await ok("POST", "/api/auth/organization/create", { token, body: { name, slug: name } })).body;
  await ok("POST", "/api/auth/organization/set-active", { token, body: { organizationId: org.id } });
  return org;
}

function connect(options) {
  return new Promise((resolve, reject) => {
    const socket = io(BASE, { reconnection: false, forceNew: true, ...options });
    const received = [];
    socket.onAny((event, data) => received.push({ event, data }));
    socket.received = received;
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(err);
    });
  });
}

async function waitFor(what, predicate, ms = 8000) {
  const started = Date.now();
  while (Date.now() - started < ms) {
    const found = predicate();
    if (found) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function eventOf(socket, name, predicate = () => true) {
  return waitFor(`${name} on ${socket.id}`, () =>
    socket.received.find((r) => r.event === name && predicate(r.data)),
  );
}

// Enough time for an event that was going to arrive to have arrived (the dispatcher is woken at commit).
const settle = () => new Promise((r) => setTimeout(r, 700));

test("connects with the handshake token (raw, as the seed sends it) and with the session cookie", async () => {
  const alice = await person("alice");
  const byToken = await connect({ auth: { token: alice.token } });
  const byCookie = await connect({ extraHeaders: { cookie: alice.cookie }, transports: ["websocket"] });
  const byPolling = await connect({ auth: { token: alice.token }, transports: ["polling"] });
  for (const s of [byToken, byCookie, byPolling]) {
    assert.ok(s.connected);
    s.close();
  }
});

test("refuses sockets without a session, with a bad token, or a signed-out one", async () => {
  const alice = await person("alice");
  for (const options of [{}, { auth: { token: "not-a-session" } }, { auth: { token: 42 } }]) {
    const err = await connect(options).then(
      () => assert.fail("connected without a valid session"),
      (e) => e,
    );
    assert.equal(err.message, "Authentication failed");
    assert.equal(err.data.code, "UNAUTHORIZED");
  }
  await ok("POST", "/api/auth/sign-out", { token: alice.token, body: {} });
  const err = await connect({ auth: { token: alice.token } }).then(
    () => assert.fail("connected with a signed-out session"),
    (e) => e,
  );
  assert.equal(err.data.code, "UNAUTHORIZED");
});

test("an organization's changes reach its members' sockets only, after the commit", async () => {
  const alice = await person("alice");
  const bob = await person("bob");
  const orgA = await organization(alice);
  await organization(bob);
  const aliceSocket = await connect({ auth: { token: alice.token } });
  const bobSocket = await connect({ auth: { token: bob.token } });
  // A write that fails (a creator that does not exist) commits nothing, so announces nothing.
  const refused = await api("POST", "/api/projects", {
    token: alice.token,
    body: { name: "Never", created_by: "00000000-0000-4000-8000-000000000000" },
  });
  assert.ok(refused.status >= 400 && refused.status < 500, JSON.stringify(refused.body));
  const project = (await ok("POST", "/api/projects", { token: alice.token, body: { name: "Apollo" } })).body;
  const created = await eventOf(aliceSocket, "projects.created");
  assert.equal(created.data.row_id, project.id);
  assert.equal(created.data.org_id, orgA.id);
  assert.equal(created.data.action, "created");
  assert.equal(created.data.data.name, "Apollo");
  assert.equal(created.data.actor_id, alice.id);
  // Pushed after the commit: the row is there for anyone who reads it on hearing of it.
  const read = await ok("GET", `/api/projects/${project.id}`, { token: alice.token });
  assert.equal(read.body.name, "Apollo");
  await ok("PATCH", `/api/projects/${project.id}`, { token: alice.token, body: { status: "archived" } });
  const updated = await eventOf(aliceSocket, "projects.updated");
  assert.equal(updated.data.data.status, "archived");
  assert.equal(updated.data.old.status, "active");
  await ok("DELETE", `/api/projects/${project.id}`, { token: alice.token });
  const deleted = await eventOf(aliceSocket, "projects.deleted");
  assert.equal(deleted.data.row_id, project.id);
  assert.equal(deleted.data.data.name, "Apollo", "a deletion carries the row as it was");
  await settle();
  const projectEvents = aliceSocket.received.filter((r) => r.event.startsWith("projects."));
  assert.deepEqual(
    projectEvents.map((r) => r.event),
    ["projects.created", "projects.updated", "projects.deleted"],
  );
  assert.deepEqual(bobSocket.received, [], "another organization's member heard of it");
  aliceSocket.close();
  bobSocket.close();
});

test("the seed's example: the project's creator is notified, stored and pushed", async () => {
  const alice = await person("alice");
  await organization(alice);
  const socket = await connect({ auth: { token: alice.token } });
  const project = (await ok("POST", "/api/projects", { token: alice.token, body: { name: "Gemini" } })).body;
  const note = await eventOf(socket, "notification");
  assert.equal(note.data.type, "project_created");
  assert.equal(note.data.title, "Project created");
  assert.equal(note.data.message, "Gemini was created successfully");
  assert.equal(note.data.userId, alice.id);
  assert.equal(note.data.data.project_id, project.id);
  const list = (await ok("GET", "/api/notifications", { token: alice.token })).body;
  assert.equal(list.unread, 1);
  assert.equal(list.data[0].id, note.data.id);
  socket.close();
});

test("a socket whose session is revoked is disconnected", async () => {
  const alice = await person("alice");
  const socket = await connect({ auth: { token: alice.token } });
  const other = await signIn(alice);
  const otherSocket = await connect({ auth: { token: other } });
  const disconnected = new Promise((resolve) => socket.once("disconnect", resolve));
  await ok("POST", "/api/auth/revoke-session", { token: other, body: { token: alice.token } });
  assert.equal(await disconnected, "io server disconnect");
  assert.ok(socket.received.some((r) => r.event === "session_revoked"));
  await settle();
  assert.ok(otherSocket.connected, "the session that was not revoked stays connected");
  otherSocket.close();
});

test("switching the active organization moves the socket's rooms", async () => {
  const alice = await person("alice");
  const writer = await signIn(alice); // a second session of alice's, to write in either organization
  const orgA = await organization(alice);
  const socket = await connect({ auth: { token: alice.token } });
  const orgB = await organization(alice);
  const moved = await eventOf(socket, "organization", (d) => d.org_id === orgB.id);
  assert.ok(moved.data.role, "the role in the new organization is announced");
  await ok("POST", "/api/auth/organization/set-active", { token: writer, body: { organizationId: orgA.id } });
  await ok("POST", "/api/projects", { token: writer, body: { name: "In A" } });
  await ok("POST", "/api/auth/organization/set-active", { token: writer, body: { organizationId: orgB.id } });
  await ok("POST", "/api/projects", { token: writer, body: { name: "In B" } });
  const inB = await eventOf(socket, "projects.created", (d) => d.data.name === "In B");
  assert.equal(inB.data.org_id, orgB.id);
  assert.ok(
    !socket.received.some((r) => r.event === "projects.created" && r.data.data.name === "In A"),
    "the socket still hears its previous organization",
  );
  socket.close();
});

test("a reconnecting socket first receives the notifications it missed", async () => {
  const alice = await person("alice");
  await organization(alice);
  let socket = await connect({ auth: { token: alice.token } });
  await ok("POST", "/api/projects", { token: alice.token, body: { name: "First" } });
  const first = await eventOf(socket, "notification");
  socket.close();
  // Offline: two projects, two notifications stored.
  await ok("POST", "/api/projects", { token: alice.token, body: { name: "Second" } });
  await ok("POST", "/api/projects", { token: alice.token, body: { name: "Third" } });
  socket = await connect({ auth: { token: alice.token, since: first.data.id } });
  // Delivery is at least once: a notification stored just before the reconnect may come both
  // replayed and live. Clients keep what they have by id (as the web app's script does).
  const seen = () => {
    const byId = new Map();
    for (const r of socket.received) if (r.event === "notification" && !byId.has(r.data.id)) byId.set(r.data.id, r.data);
    return [...byId.values()];
  };
  await waitFor("the missed notifications", () => seen().length >= 2);
  assert.deepEqual(
    seen().map((n) => n.message),
    ["Second was created successfully", "Third was created successfully"],
  );
  // Then live ones.
  await ok("POST", "/api/projects", { token: alice.token, body: { name: "Fourth" } });
  await eventOf(socket, "notification", (d) => d.message === "Fourth was created successfully");
  const bad = await connect({ auth: { token: alice.token, since: "yesterday" } }).then(
    () => assert.fail("a cursor that is no notification id was accepted"),
    (e) => e,
  );
  assert.equal(bad.data.code, "INVALID_CURSOR");
  socket.close();
});
