// The real Better Auth server for bench/auth.py: better-auth 1.7.25 (from tests/compat/node_modules)
// on Node's own http server through `toNodeHandler`, one process, against PostgreSQL with a pg Pool.
//
// Configured as the protocol reference (shared/reference/better-auth-protocol.md) was captured, with
// rate limits off so the benchmark measures the endpoints rather than 429s:
//   emailAndPassword {enabled, requireEmailVerification: false}; session {expiresIn 7 d, updateAge 1 d};
//   cookie cache off (the default with a database); rateLimit {enabled: false}; telemetry off;
//   user.additionalFields org_id / role.
// It creates its tables with Better Auth's own migrations, then listens. When ready it prints one line
// `BENCH_READY <port>`.
//
// Environment: DATABASE_URL, BETTER_AUTH_SECRET, PORT (default 8822), DB_POOL_SIZE (default 10),
// BENCH_COMPAT_DIR (the npm project whose node_modules hold better-auth and pg; default tests/compat).
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const compatDir = process.env.BENCH_COMPAT_DIR ?? path.join(here, "..", "tests", "compat");
// Resolve the packages from the compat project (this file lives outside it), then import them.
const requireFromCompat = createRequire(path.join(compatDir, "package.json"));
const load = (name) => import(pathToFileURL(requireFromCompat.resolve(name)).href);

const { betterAuth } = await load("better-auth");
const { toNodeHandler } = await load("better-auth/node");
const { getMigrations } = await load("better-auth/db/migration");
const pg = (await load("pg")).default;

const port = Number(process.env.PORT ?? 8822);
const baseURL = `http://127.0.0.1:${port}`;
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.DB_POOL_SIZE ?? 10),
});

const options = {
  database: pool,
  secret: process.env.BETTER_AUTH_SECRET,
  baseURL,
  trustedOrigins: [baseURL],
  emailAndPassword: { enabled: true, requireEmailVerification: false },
  session: { expiresIn: 604800, updateAge: 86400 },
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  user: {
    additionalFields: {
      org_id: { type: "string", required: false },
      role: { type: "string", required: false },
    },
  },
};

const auth = betterAuth(options);
const { runMigrations } = await getMigrations(options);
await runMigrations();

const server = http.createServer(toNodeHandler(auth));
server.listen(port, "127.0.0.1", () => console.log(`BENCH_READY ${port}`));

// Exit at once: in-flight requests are abandoned (the benchmark is over) and the OS closes the pool's
// connections, so nothing logs errors about a pool that was ended under them.
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
