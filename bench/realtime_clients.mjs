// The clients of bench/realtime.py: organizations, sockets spread over the nodes, one write per
// second per organization, and the time from each change to its arrival on every socket.
//
// Protocol with the Python side (stdout/stdin): prints ORGS_READY and waits for CONNECT, prints
// CONNECTED once every socket is in and waits for GO, runs the load, prints RESULT {json}. socket.io-client comes from tests/compat.
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

const require = createRequire(`${process.env.COMPAT_DIR}/package.json`);
const { io } = require("socket.io-client");

const NODES = process.env.NODES.split(",");
const ORGS = Number(process.env.ORGS);
const SOCKETS = Number(process.env.SOCKETS);
const DURATION = Number(process.env.DURATION);
const PASSWORD = "Password-One-111";
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const unique = (name) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;

async function api(base, method, path, { token, body } = {}) {
  const headers = { origin: base };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${base}${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// One admin per organization (made through the first node).
const orgs = [];
for (let i = 0; i < ORGS; i++) {
  const email = `${unique("bench")}@example.com`;
  const user = await api(NODES[0], "POST", "/api/auth/sign-up/email", { body: { email, password: PASSWORD, name: "Bench" } });
  const slug = unique("org");
  const org = await api(NODES[0], "POST", "/api/auth/organization/create", { token: user.token, body: { name: slug, slug } });
  await api(NODES[0], "POST", "/api/auth/organization/set-active", { token: user.token, body: { organizationId: org.id } });
  orgs.push({ id: org.id, token: user.token });
}

console.log("ORGS_READY");
if ((await lines.next()).value !== "CONNECT") process.exit(2);

const latencies = [];
let unexpected = 0;
const sockets = [];
for (let i = 0; i < SOCKETS; i++) {
  const org = orgs[i % ORGS];
  const node = NODES[i % NODES.length];
  const socket = await new Promise((resolve, reject) => {
    const s = io(node, { auth: { token: org.token }, transports: ["websocket"], forceNew: true, reconnection: false });
    s.once("connect", () => resolve(s));
    s.once("connect_error", reject);
  });
  socket.on("projects.created", (event) => {
    if (event.org_id !== org.id) unexpected++;
    latencies.push(Date.now() - Date.parse(event.created_at));
  });
  sockets.push(socket);
}
console.log("CONNECTED");
const { value } = await lines.next();
if (value !== "GO") process.exit(2);

// One write per second per organization, each through the next node in turn, spread over the second.
let writes = 0;
let failed = 0;
const started = Date.now();
const pending = [];
for (let second = 0; second < DURATION; second++) {
  for (let i = 0; i < ORGS; i++) {
    const due = started + second * 1000 + (i * 1000) / ORGS;
    const node = NODES[(second + i) % NODES.length];
    pending.push(
      new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())))
        .then(() => api(node, "POST", "/api/projects", { token: orgs[i].token, body: { name: `p${second}` } }))
        .then(() => writes++, () => failed++),
    );
  }
}
await Promise.all(pending);
const expected = writes * (SOCKETS / ORGS);
const deadline = Date.now() + 10000;
while (latencies.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
console.log(
  "RESULT " +
    JSON.stringify({ writes, failed, expected, delivered: latencies.length, unexpected, p50: pct(50), p99: pct(99), max: latencies.at(-1) }),
);
for (const s of sockets) s.close();
process.exit(0);
