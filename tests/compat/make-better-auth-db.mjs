// Creates a Better Auth 1.7.25 database the way a real Better Auth app does (its own migrations),
// signs a user up through Better Auth and opens a session, then prints what it made as JSON.
// Used by test_existing_better_auth_database.py to prove Tenantry serves such a database as it is.
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import pg from "pg";

const { DATABASE_URL, BETTER_AUTH_SECRET, BASE_URL } = process.env;
const pool = new pg.Pool({ connectionString: DATABASE_URL });
const options = {
  database: pool,
  secret: BETTER_AUTH_SECRET,
  baseURL: BASE_URL,
  emailAndPassword: { enabled: true },
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

const signUp = await auth.api.signUpEmail({
  body: { email: "veteran@example.com", password: "Better-Auth-Pass-1", name: "Veteran", role: "member" },
  asResponse: true,
});
const cookie = signUp.headers.getSetCookie().find((c) => c.startsWith("better-auth.session_token="));
const body = await signUp.json();
console.log(JSON.stringify({ user: body.user, token: body.token, cookie: cookie.split(";")[0] }));
await pool.end();
