// One socket.io-client socket through nginx (PROXY, TOKEN) kept open across a rolling restart of
// the nodes behind it (tests/deploy/test_nginx_nodes.py). Each stopping node closes its sockets;
// the client must see its transport closed (not a server disconnect, which stops reconnection) and
// reconnect to a node still running. Prints CONNECTED at the first connection; when the test
// writes a line on stdin, prints a JSON summary: the disconnect reasons and connection count.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const socket = io(process.env.PROXY, {
  auth: { token: process.env.TOKEN },
  transports: ["websocket"],
  reconnectionDelay: 100,
  reconnectionDelayMax: 500,
});
const reasons = [];
let connects = 0;
socket.on("connect", () => {
  connects += 1;
  if (connects === 1) console.log("CONNECTED");
});
socket.on("disconnect", (reason) => reasons.push(reason));

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
await lines.next();
// Connected again at the end (give a reconnection in progress a moment).
for (let i = 0; i < 50 && !socket.connected; i++) await new Promise((r) => setTimeout(r, 100));
console.log(JSON.stringify({ reasons, connects, connected: socket.connected }));
process.exit(0);
