// socket.io-client through nginx in front of several Tenantry nodes (tests/deploy/test_nginx_nodes.py).
//
// PROXY is nginx's address, TOKEN a signed-in user's bearer token. One socket upgrades to
// WebSocket, one stays on long polling (which needs the proxy's sticky sessions: every poll must
// reach the node holding the session). A note titled "ping …" written through the proxy, on
// whichever node, notifies its author: both sockets must receive it. Prints READY once both are
// connected, and each ping title it saw on each transport. Exits non-zero on any failure.
import assert from "node:assert/strict";
import { io } from "socket.io-client";

const PROXY = process.env.PROXY;
const TOKEN = process.env.TOKEN;
assert.ok(PROXY && TOKEN, "PROXY and TOKEN must be set");

function connect(transports) {
  return new Promise((resolve, reject) => {
    const socket = io(PROXY, { auth: { token: TOKEN }, transports, forceNew: true, reconnection: false });
    socket.pings = [];
    socket.on("notification", (n) => socket.pings.push(n.title));
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

async function waitFor(what, predicate, ms = 15000) {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (predicate()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const websocket = await connect(["websocket"]);
const polling = await connect(["polling"]);
assert.equal(websocket.io.engine.transport.name, "websocket");
assert.equal(polling.io.engine.transport.name, "polling");

for (let n = 1; n <= 3; n++) {
  const title = `ping ${n}`;
  const r = await fetch(`${PROXY}/api/notes`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ title }),
  });
  assert.equal(r.status, 201, await r.text());
  await waitFor(`${title} over WebSocket`, () => websocket.pings.includes(title));
  await waitFor(`${title} over polling`, () => polling.pings.includes(title));
  console.log(`websocket ${title}`);
  console.log(`polling ${title}`);
}
// Still the same engine.io sessions: no poll landed on a node that did not know its session.
assert.equal(polling.connected && websocket.connected, true);
websocket.close();
polling.close();
console.log("DONE");
// A polling client keeps its last long poll open after close() until the ping interval ends.
process.exit(0);
