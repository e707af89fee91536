// Better Auth's own JS client (better-auth, pinned in package.json) against a Tenantry server.
//
// Run by tests/compat/test_better_auth_client.py, which starts the server and passes BASE_URL.
// Each "browser" is a client with its own cookie jar and the browser's Origin (harness.mjs).
import assert from "node:assert/strict";
import { test } from "node:test";
import { createAuthClient } from "better-auth/client";
import { BASE, PASSWORD, mailTo, newBrowser, unique, verifiedUser } from "./harness.mjs";

const browser = () => newBrowser();

test("sign-up requires verification; sign-in works once verified", async () => {
  const b = browser();
  const email = unique("verify");
  const signUp = await b.client.signUp.email({ email, password: PASSWORD, name: "Compat User" });
  assert.equal(signUp.error, null);
  assert.equal(signUp.data.token, null);
  assert.equal(signUp.data.user.email, email.toLowerCase());
  assert.equal(signUp.data.user.emailVerified, false);

  const early = await b.client.signIn.email({ email, password: PASSWORD });
  assert.equal(early.data, null);
  assert.equal(early.error.status, 403);
  assert.equal(early.error.code, "EMAIL_NOT_VERIFIED");

  const mail = await mailTo(email, "verify_email");
  const verified = await b.client.verifyEmail({ query: { token: new URL(mail.url).searchParams.get("token") } });
  assert.deepEqual(verified.data, { status: true, user: null });

  const signIn = await b.client.signIn.email({ email, password: PASSWORD });
  assert.equal(signIn.error, null);
  assert.equal(signIn.data.redirect, false);
  assert.equal(typeof signIn.data.token, "string");
  assert.equal(signIn.data.user.emailVerified, true);

  const session = await b.client.getSession();
  assert.equal(session.error, null);
  assert.equal(session.data.user.email, email.toLowerCase());
  assert.ok(session.data.session.expiresAt instanceof Date, "the client revives ISO dates");
  assert.equal(session.data.session.token, signIn.data.token);
});

test("error codes the client surfaces", async () => {
  const b = browser();
  const email = unique("errors");
  await verifiedUser(b, email);
  const wrong = await b.client.signIn.email({ email, password: "Wrong-password-1" });
  assert.equal(wrong.error.status, 401);
  assert.equal(wrong.error.code, "INVALID_EMAIL_OR_PASSWORD");
  const unknown = await b.client.signIn.email({ email: unique("nobody"), password: PASSWORD });
  assert.equal(unknown.error.code, "INVALID_EMAIL_OR_PASSWORD");
  const short = await b.client.signUp.email({ email: unique("short"), password: "short", name: "x" });
  assert.equal(short.error.code, "PASSWORD_TOO_SHORT");
  const badEmail = await b.client.signUp.email({ email: "not-an-email", password: PASSWORD, name: "x" });
  assert.equal(badEmail.error.status, 400);
  assert.equal(badEmail.error.code, "VALIDATION_ERROR");
  const badCallback = await b.client.signIn.email({ email, password: PASSWORD, callbackURL: "https://evil.example" });
  assert.equal(badCallback.error.code, "INVALID_CALLBACK_URL");
  const anonymous = browser();
  const denied = await anonymous.client.listSessions();
  assert.equal(denied.error.status, 401);
  assert.equal((await anonymous.client.getSession()).data, null);
});

test("profile, password change and session management", async () => {
  const b = browser();
  const email = unique("manage");
  await verifiedUser(b, email);
  await b.client.signIn.email({ email, password: PASSWORD });

  const updated = await b.client.updateUser({ name: "Renamed", image: "https://img.example/a.png" });
  assert.deepEqual(updated.data, { status: true });
  const me = await b.client.getSession();
  assert.equal(me.data.user.name, "Renamed");
  assert.equal(me.data.user.image, "https://img.example/a.png");
  const emailChange = await b.client.updateUser({ email: "x@example.com" });
  assert.equal(emailChange.error.code, "EMAIL_CAN_NOT_BE_UPDATED");

  const other = browser();
  await other.client.signIn.email({ email, password: PASSWORD });
  const sessions = await b.client.listSessions();
  assert.equal(sessions.data.length, 2);

  const wrong = await b.client.changePassword({ currentPassword: "nope-nope-1", newPassword: "Second-Pass-22" });
  assert.equal(wrong.error.code, "INVALID_PASSWORD");
  const changed = await b.client.changePassword({
    currentPassword: PASSWORD,
    newPassword: "Second-Pass-22",
    revokeOtherSessions: true,
  });
  assert.equal(changed.error, null);
  assert.equal(typeof changed.data.token, "string");
  assert.equal((await other.client.getSession()).data, null, "the other device was signed out at once");
  assert.equal((await b.client.getSession()).data.user.email, email.toLowerCase());

  const accounts = await b.client.listAccounts();
  assert.deepEqual(accounts.data.map((a) => a.providerId), ["credential"]);
});

test("revocation takes effect immediately", async () => {
  const email = unique("revoke");
  const a = browser();
  await verifiedUser(a, email);
  await a.client.signIn.email({ email, password: PASSWORD });
  const b = browser();
  const bSignIn = await b.client.signIn.email({ email, password: PASSWORD });

  const revoked = await a.client.revokeSession({ token: bSignIn.data.token });
  assert.deepEqual(revoked.data, { status: true });
  assert.equal((await b.client.getSession()).data, null);

  const c = browser();
  await c.client.signIn.email({ email, password: PASSWORD });
  assert.deepEqual((await a.client.revokeOtherSessions()).data, { status: true });
  assert.equal((await c.client.getSession()).data, null);
  assert.notEqual((await a.client.getSession()).data, null);

  assert.deepEqual((await a.client.revokeSessions()).data, { status: true });
  assert.equal((await a.client.getSession()).data, null);

  const d = browser();
  await d.client.signIn.email({ email, password: PASSWORD });
  assert.deepEqual((await d.client.signOut()).data, { success: true });
  assert.equal((await d.client.getSession()).data, null);
});

test("the session cookie is refreshed after updateAge", async () => {
  const b = browser();
  const email = unique("refresh");
  await verifiedUser(b, email);
  await b.client.signIn.email({ email, password: PASSWORD });
  const first = (await b.client.getSession()).data.session;
  await new Promise((r) => setTimeout(r, 1500)); // the server runs with updateAge = 1 s
  b.setCookies.length = 0;
  const second = (await b.client.getSession()).data.session;
  assert.equal(second.token, first.token, "same token, extended");
  assert.ok(second.expiresAt > first.expiresAt);
  assert.ok(b.setCookies.some((c) => c.includes("session_token=") && c.includes("Max-Age=604800")));
});

test("rememberMe: false makes a browser-session cookie", async () => {
  const b = browser();
  const email = unique("dontremember");
  await verifiedUser(b, email);
  b.setCookies.length = 0;
  await b.client.signIn.email({ email, password: PASSWORD, rememberMe: false });
  const token = b.setCookies.find((c) => c.includes("session_token="));
  assert.ok(!/Max-Age/i.test(token));
  assert.ok(b.setCookies.some((c) => c.includes("dont_remember=true.")));
});

test("password reset through the e-mailed link", async () => {
  const b = browser();
  const email = unique("reset");
  await verifiedUser(b, email);
  const requested = await b.client.requestPasswordReset({ email, redirectTo: "/reset-password" });
  assert.equal(requested.data.status, true);
  const mail = await mailTo(email, "reset_password");
  const landing = await fetch(mail.url, { redirect: "manual" });
  assert.equal(landing.status, 302);
  const token = new URL(landing.headers.get("location")).searchParams.get("token");
  const reset = await b.client.resetPassword({ newPassword: "Reset-Pass-33", token });
  assert.deepEqual(reset.data, { status: true });
  const reuse = await b.client.resetPassword({ newPassword: "Reset-Pass-44", token });
  assert.equal(reuse.error.code, "INVALID_TOKEN");
  assert.equal((await b.client.signIn.email({ email, password: PASSWORD })).error.code, "INVALID_EMAIL_OR_PASSWORD");
  assert.equal((await b.client.signIn.email({ email, password: "Reset-Pass-33" })).error, null);
});

test("sendVerificationEmail, changeEmail and deleteUser", async () => {
  const b = browser();
  const email = unique("change");
  const fresh = unique("fresh");
  await b.client.signUp.email({ email: fresh, password: PASSWORD, name: "Fresh" });
  const resent = await b.client.sendVerificationEmail({ email: fresh, callbackURL: "/verified" });
  assert.deepEqual(resent.data, { status: true });

  await verifiedUser(b, email);
  await b.client.signIn.email({ email, password: PASSWORD });
  const newEmail = unique("new");
  const change = await b.client.changeEmail({ newEmail, callbackURL: "/settings" });
  assert.deepEqual(change.data, { status: true });
  const confirm = await mailTo(email, "change_email");
  await b.fetch(confirm.url);
  const verifyNew = await mailTo(newEmail, "verify_email");
  await b.fetch(verifyNew.url);
  const me = (await b.client.getSession()).data.user;
  assert.equal(me.email, newEmail.toLowerCase());
  assert.equal(me.emailVerified, true);

  const deletion = await b.client.deleteUser({ callbackURL: "/goodbye" });
  assert.deepEqual(deletion.data, { success: true, message: "Verification email sent" });
  const link = await mailTo(newEmail, "delete_account");
  const done = await b.fetch(link.url);
  assert.equal(done.status, 302);
  assert.equal((await b.client.getSession()).data, null);
  assert.equal((await b.client.signIn.email({ email: newEmail, password: PASSWORD })).error.code, "INVALID_EMAIL_OR_PASSWORD");
});

test("bearer tokens work on the auth API and the CRUD API", async () => {
  const b = browser();
  const email = unique("bearer");
  await verifiedUser(b, email);
  const signIn = await b.client.signIn.email({ email, password: PASSWORD });
  const token = signIn.data.token;
  const bearerClient = createAuthClient({ baseURL: BASE, fetchOptions: { auth: { type: "Bearer", token } } });
  const session = await bearerClient.getSession();
  assert.equal(session.data.user.email, email.toLowerCase());
  const org = await fetch(`${BASE}/api/organizations`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "Bearer Org", slug: `bearer-${Date.now()}` }),
  });
  assert.equal(org.status, 201);
  const projects = await fetch(`${BASE}/api/projects`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(projects.status, 200);
  assert.ok(Array.isArray(await projects.json()));
  const anonymous = await fetch(`${BASE}/api/projects`);
  assert.equal(anonymous.status, 401);
});

test("signIn.social with Google and GitHub (the seed's handleGoogleLogin)", async () => {
  for (const provider of ["google", "github"]) {
    const b = browser();
    const email = unique(provider);
    const started = await b.client.signIn.social({ provider, callbackURL: "/dashboard" });
    assert.equal(started.error, null);
    assert.equal(started.data.redirect, true);
    const authorize = new URL(started.data.url);
    assert.ok(authorize.searchParams.get("state"));
    if (provider === "google") assert.equal(authorize.searchParams.get("code_challenge_method"), "S256");
    // The provider's page, answered by the emulator's test shortcut (a signed-in, verified user).
    authorize.searchParams.set("prompt", "none");
    authorize.searchParams.set(provider === "github" ? "login" : "login_hint", email);
    const atProvider = await fetch(authorize, { redirect: "manual" });
    assert.equal(atProvider.status, 302);
    const back = await b.fetch(atProvider.headers.get("location"));
    assert.equal(back.status, 302);
    assert.equal(back.headers.get("location"), `${BASE}/dashboard`);
    const session = await b.client.getSession();
    assert.equal(session.data.user.email, email.toLowerCase());
    assert.equal(session.data.user.emailVerified, true);
    const accounts = await b.client.listAccounts();
    assert.deepEqual(accounts.data.map((a) => a.providerId), [provider]);
  }
});

test("linkSocial and unlinkAccount", async () => {
  const b = browser();
  const email = unique("link");
  await verifiedUser(b, email);
  await b.client.signIn.email({ email, password: PASSWORD });
  const started = await b.client.linkSocial({ provider: "github", callbackURL: "/settings" });
  assert.equal(started.error, null);
  assert.equal(started.data.redirect, true);
  const authorize = new URL(started.data.url);
  authorize.searchParams.set("prompt", "none");
  authorize.searchParams.set("login", email);
  const atProvider = await fetch(authorize, { redirect: "manual" });
  const back = await b.fetch(atProvider.headers.get("location"));
  assert.equal(back.headers.get("location"), `${BASE}/settings`);
  const accounts = await b.client.listAccounts();
  assert.deepEqual(accounts.data.map((a) => a.providerId).sort(), ["credential", "github"]);
  const unlinked = await b.client.unlinkAccount({ providerId: "github" });
  assert.deepEqual(unlinked.data, { status: true });
  const last = await b.client.unlinkAccount({ providerId: "credential" });
  assert.equal(last.error.code, "FAILED_TO_UNLINK_LAST_ACCOUNT");
});
