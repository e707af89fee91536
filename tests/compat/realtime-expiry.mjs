// A session that ends without any request through the app (deleted in the database by the test,
// as an expiry or an administrator would) still disconnects its socket: the periodic re-check.
// Run by tests/realtime/test_socketio_client.py; prints DELETE_SESSION <token> and waits for DONE.
import assert from "node:assert/strict";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const BASE = process.env.BASE_URL;
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const email = `expiry-${Date.now()}@example.com`;
const r = await fetch(`${BASE}/api/auth/sign-up/email`, {
  method: "POST",
  headers: { origin: BASE, "content-type": "application/json" },
  body: JSON.stringify({ email, password: "Password-One-111", name: "Exp" }),
});
assert.equal(r.status, 200);
const { token } = await r.json();
const socket = await new Promise((resolve, reject) => {
  const s = io(BASE, { auth: { token }, transports: ["websocket"], forceNew: true, reconnection: false });
  s.once("connect", () => resolve(s));
  s.once("connect_error", reject);
});
const gone = new Promise((resolve) => socket.once("disconnect", resolve));
console.log(`DELETE_SESSION ${token}`);
assert.equal((await lines.next()).value, "DONE");
const reason = await Promise.race([gone, new Promise((res) => setTimeout(() => res("still connected"), 5000))]);
assert.equal(reason, "io server disconnect");
console.log("disconnected: ok");
process.exit(0);
