// Better Auth's admin plugin client (adminClient, better-auth pinned in package.json) against a
// Tenantry server.
//
// Run by tests/compat/test_admin_client.py, which starts the server without e-mail verification,
// makes the superuser ADMIN_EMAIL with `tenantry admin create-superuser` and passes BASE_URL.
// Each "browser" is a client with its own cookie jar and the browser's Origin.
import assert from "node:assert/strict";
import { test } from "node:test";
import { adminClient } from "better-auth/client/plugins";
import { PASSWORD, newBrowser, signUp, unique } from "./harness.mjs";

const ADMIN_EMAIL = process.env.ADMIN_EMAIL;
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD;
assert.ok(ADMIN_EMAIL && ADMIN_PASSWORD, "ADMIN_EMAIL and ADMIN_PASSWORD must be set");

const browser = () => newBrowser([adminClient()]);

async function member(name) {
  const b = browser();
  const email = unique(name);
  const { user } = await signUp(b, email, name);
  return { ...b, email, id: user.id };
}

async function superuser() {
  const b = browser();
  const signIn = await b.client.signIn.email({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  assert.equal(signIn.error, null);
  return { ...b, id: signIn.data.user.id };
}

test("members are refused; the superuser lists, searches, creates, updates and removes users", async () => {
  const root = await superuser();
  const eve = await member("eve");
  const refused = await eve.client.admin.listUsers({ query: {} });
  assert.equal(refused.error.status, 403);
  assert.equal(refused.error.code, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS");
  const denied = await eve.client.admin.hasPermission({ permissions: { user: ["ban"] } });
  assert.deepEqual(denied.data, { error: null, success: false });

  const found = await root.client.admin.listUsers({ query: { searchValue: eve.email, limit: 10 } });
  assert.equal(found.error, null);
  assert.equal(found.data.total, 1);
  assert.equal(found.data.limit, 10);
  assert.equal(found.data.users[0].id, eve.id);
  assert.equal(found.data.users[0].role, "user");
  assert.equal(found.data.users[0].banned, false);

  const email = unique("made");
  const created = await root.client.admin.createUser({ email, password: PASSWORD, name: "Made", role: "user" });
  assert.equal(created.error, null);
  assert.equal(created.data.user.email, email);
  const renamed = await root.client.admin.updateUser({ userId: created.data.user.id, data: { name: "Renamed" } });
  assert.equal(renamed.data.name, "Renamed");
  const got = await root.client.admin.getUser({ query: { id: created.data.user.id } });
  assert.equal(got.data.name, "Renamed");
  const password = await root.client.admin.setUserPassword({ userId: created.data.user.id, newPassword: "Set-By-Admin-1" });
  assert.deepEqual(password.data, { status: true });
  const made = browser();
  assert.equal((await made.client.signIn.email({ email, password: "Set-By-Admin-1" })).error, null);
  const removed = await root.client.admin.removeUser({ userId: created.data.user.id });
  assert.deepEqual(removed.data, { success: true });
  const gone = await root.client.admin.getUser({ query: { id: created.data.user.id } });
  assert.equal(gone.error.status, 404);
  const allowed = await root.client.admin.hasPermission({ permissions: { user: ["ban"], session: ["revoke"] } });
  assert.deepEqual(allowed.data, { error: null, success: true });
});

test("ban revokes sessions and refuses sign-in until unbanned; sessions listed and revoked", async () => {
  const root = await superuser();
  const eve = await member("eve");
  const sessions = await root.client.admin.listUserSessions({ userId: eve.id });
  assert.equal(sessions.data.sessions.length, 1);

  const banned = await root.client.admin.banUser({ userId: eve.id, banReason: "spam", banExpiresIn: 3600 });
  assert.equal(banned.error, null);
  assert.equal(banned.data.user.banned, true);
  assert.equal(banned.data.user.banReason, "spam");
  assert.ok(new Date(banned.data.user.banExpires) > new Date());
  assert.equal((await eve.client.getSession()).data, null);
  const refused = await eve.client.signIn.email({ email: eve.email, password: PASSWORD });
  assert.equal(refused.error.status, 403);
  assert.equal(refused.error.code, "BANNED_USER");

  const unbanned = await root.client.admin.unbanUser({ userId: eve.id });
  assert.equal(unbanned.data.user.banned, false);
  assert.equal((await eve.client.signIn.email({ email: eve.email, password: PASSWORD })).error, null);

  const revoked = await root.client.admin.revokeUserSessions({ userId: eve.id });
  assert.deepEqual(revoked.data, { success: true });
  assert.equal((await eve.client.getSession()).data, null);
});

test("impersonation: marked session, no admin powers, stopImpersonating returns to the admin", async () => {
  const root = await superuser();
  const eve = await member("eve");
  const other = await member("other");
  const promoted = await root.client.admin.setRole({ userId: other.id, role: "admin" });
  assert.equal(promoted.data.user.role, "admin");
  const forbidden = await root.client.admin.impersonateUser({ userId: other.id });
  assert.equal(forbidden.error.status, 403);
  assert.equal(forbidden.error.code, "YOU_CANNOT_IMPERSONATE_ADMINS");

  const started = await root.client.admin.impersonateUser({ userId: eve.id });
  assert.equal(started.error, null);
  assert.equal(started.data.user.id, eve.id);
  assert.equal(started.data.session.impersonatedBy, root.id);
  assert.ok(root.jar.has("better-auth.admin_session"));
  const asEve = await root.client.getSession();
  assert.equal(asEve.data.user.id, eve.id);
  assert.equal(asEve.data.session.impersonatedBy, root.id);
  const noPowers = await root.client.admin.listUsers({ query: {} });
  assert.equal(noPowers.error.status, 403);

  const stopped = await root.client.admin.stopImpersonating();
  assert.equal(stopped.error, null);
  assert.equal(stopped.data.user.id, root.id);
  assert.ok(!root.jar.has("better-auth.admin_session"));
  const back = await root.client.getSession();
  assert.equal(back.data.user.id, root.id);
  assert.equal(back.data.session.impersonatedBy, null);
  const demoted = await root.client.admin.setRole({ userId: other.id, role: "user" });
  assert.equal(demoted.data.user.role, "user");
});
