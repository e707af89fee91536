// Creates a Better Auth 1.7.25 database the way a real Better Auth app does (its own migrations),
// signs a user up through Better Auth and opens a session, then prints what it made as JSON.
// Used by test_existing_better_auth_database.py to prove Tenantry serves such a database as it is.
// With BETTER_AUTH_PLUGINS=twoFactor,admin the app also runs those plugins (their columns and
// tables); the admin plugin then owns the user's `role`, so it is no additional field.
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { admin, twoFactor } from "better-auth/plugins";
import pg from "pg";

const { DATABASE_URL, BETTER_AUTH_SECRET, BASE_URL } = process.env;
const wanted = (process.env.BETTER_AUTH_PLUGINS || "").split(",").filter(Boolean);
const plugins = [];
if (wanted.includes("twoFactor")) plugins.push(twoFactor());
if (wanted.includes("admin")) plugins.push(admin());
const pool = new pg.Pool({ connectionString: DATABASE_URL });
const additionalFields = { org_id: { type: "string", required: false } };
if (!wanted.includes("admin")) additionalFields.role = { type: "string", required: false };
const options = {
  database: pool,
  secret: BETTER_AUTH_SECRET,
  baseURL: BASE_URL,
  emailAndPassword: { enabled: true },
  user: { additionalFields },
  plugins,
};
const auth = betterAuth(options);
const { runMigrations } = await getMigrations(options);
await runMigrations();

const signUp = await auth.api.signUpEmail({
  body: {
    email: "veteran@example.com",
    password: "Better-Auth-Pass-1",
    name: "Veteran",
    ...(wanted.includes("admin") ? {} : { role: "member" }),
  },
  asResponse: true,
});
const cookie = signUp.headers.getSetCookie().find((c) => c.startsWith("better-auth.session_token="));
const body = await signUp.json();
console.log(JSON.stringify({ user: body.user, token: body.token, cookie: cookie.split(";")[0] }));
await pool.end();
