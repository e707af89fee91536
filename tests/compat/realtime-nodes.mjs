// Two Tenantry nodes (NODE_A, NODE_B) sharing PostgreSQL and Redis, driven with socket.io-client.
//
// Run by tests/realtime/test_multinode.py, which owns Redis: this script prints KILL_REDIS or
// START_REDIS and waits for the test to answer DONE on stdin. Exits non-zero on any failure.
import assert from "node:assert/strict";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const A = process.env.NODE_A;
const B = process.env.NODE_B;
assert.ok(A && B, "NODE_A and NODE_B must be set");
const PASSWORD = "Password-One-111";
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function ask(command) {
  console.log(command);
  const { value } = await lines.next();
  assert.equal(value, "DONE", `the test did not ${command}`);
}

const unique = (name) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;

async function api(base, method, path, { token, body } = {}) {
  const headers = { origin: base };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  assert.ok(r.status < 300, `${method} ${base}${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function person(base, name) {
  const email = `${unique(name)}@example.com`;
  const r = await api(base, "POST", "/api/auth/sign-up/email", { body: { email, password: PASSWORD, name } });
  return { id: r.user.id, email, token: r.token };
}

async function organization(base, who) {
  const name = unique("org");
  const org = await api(base, "POST", "/api/auth/organization/create", { token: who.token, body: { name, slug: name } });
  await api(base, "POST", "/api/auth/organization/set-active", { token: who.token, body: { organizationId: org.id } });
  return org;
}

function connect(base, token) {
  return new Promise((resolve, reject) => {
    const socket = io(base, { auth: { token }, transports: ["websocket"], forceNew: true, reconnection: false });
    socket.received = [];
    socket.onAny((event, data) => socket.received.push({ event, data }));
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

async function waitFor(what, predicate, ms = 10000) {
  const started = Date.now();
  while (Date.now() - started < ms) {
    const found = predicate();
    if (found) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const created = (socket, name) =>
  socket.received.find((r) => r.event === "projects.created" && r.data.data.name === name);

// Alice signs up on A and works on B; her socket is on A. Bob (another organization) listens on B.
const alice = await person(A, "alice");
const bob = await person(B, "bob");
const org = await organization(B, alice);
await organization(A, bob);
const aliceSocket = await connect(A, alice.token);
const bobSocket = await connect(B, bob.token);

await api(B, "POST", "/api/projects", { token: alice.token, body: { name: "Written on B" } });
const event = await waitFor("the change written on B, on A's socket", () => created(aliceSocket, "Written on B"));
assert.equal(event.data.org_id, org.id);
await waitFor("the notification written on B, on A's socket", () =>
  aliceSocket.received.find((r) => r.event === "notification" && r.data.message === "Written on B was created successfully"),
);
// Published once: each socket gets each event once, whichever node's dispatcher delivered it.
await new Promise((r) => setTimeout(r, 1500));
assert.equal(aliceSocket.received.filter((r) => r.event === "projects.created").length, 1);
assert.equal(aliceSocket.received.filter((r) => r.event === "notification").length, 1);
console.log("cross-node delivery: ok");

// A session revoked through node B disconnects its socket on node A at once (the nodes' periodic
// re-check is set far beyond this script's patience: the revocation is broadcast through Redis).
const second = (await api(A, "POST", "/api/auth/sign-in/email", { body: { email: alice.email, password: PASSWORD } })).token;
const secondSocket = await connect(A, second);
const gone = new Promise((resolve) => secondSocket.once("disconnect", resolve));
await api(B, "POST", "/api/auth/revoke-session", { token: alice.token, body: { token: second } });
const reason = await Promise.race([gone, new Promise((r) => setTimeout(() => r("still connected"), 5000))]);
assert.equal(reason, "io server disconnect");
assert.ok(aliceSocket.connected, "the session that was not revoked stays connected");
console.log("cross-node revocation: ok");

await ask("KILL_REDIS");
// No Redis: requests still succeed on both nodes, notifications are still stored.
await api(B, "POST", "/api/projects", { token: alice.token, body: { name: "During the outage" } });
const stored = await api(A, "GET", "/api/notifications", { token: alice.token });
assert.ok(stored.data.some((n) => n.message === "During the outage was created successfully"));
console.log("requests during the outage: ok");

await ask("START_REDIS");
// The push of the change made during the outage was held in the outbox, not dropped: it arrives
// now, before anything written later.
await waitFor("the change written during the outage", () => created(aliceSocket, "During the outage"), 15000);
await waitFor("the notification written during the outage", () =>
  aliceSocket.received.find((r) => r.event === "notification" && r.data.message === "During the outage was created successfully"),
);
console.log("held pushes delivered: ok");
// Delivery goes on as before.
let resumed = null;
for (let attempt = 0; attempt < 30 && !resumed; attempt++) {
  const name = `After the outage ${attempt}`;
  await api(B, "POST", "/api/projects", { token: alice.token, body: { name } });
  resumed = await waitFor("a change after the outage", () => created(aliceSocket, name), 1000).catch(() => null);
}
assert.ok(resumed, "no change reached A's socket after Redis came back");
const order = (name) => aliceSocket.received.findIndex((r) => r.event === "projects.created" && r.data.data.name === name);
assert.ok(order("During the outage") < order(resumed.data.data.name), "a held push arrived after a later one");
console.log("delivery after outage: ok");

assert.ok(!bobSocket.received.some((r) => r.event.startsWith("projects.") || r.event === "notification"),
  "a member of another organization heard of alice's projects");
aliceSocket.close();
bobSocket.close();
console.log("ALL OK");
process.exit(0);
