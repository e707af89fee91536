// Better Auth's magic-link client plugin (magicLinkClient, better-auth pinned in package.json)
// against a Tenantry server.
//
// Run by tests/compat/test_magic_link_client.py, which starts the server with its defaults and
// passes BASE_URL. Each "browser" is a client with its own cookie jar and the browser's Origin;
// links are read from the development outbox (/dev/mail.json), as a person reads their mail.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createAuthClient } from "better-auth/client";
import { magicLinkClient } from "better-auth/client/plugins";
import { BASE, PASSWORD, mailbox, newBrowser, unique } from "./harness.mjs";

function browser() {
  const b = newBrowser([magicLinkClient()]);
  return { ...b, open: (url) => b.fetch(url) };
}

async function magicLinks(address) {
  return (await mailbox(address)).filter((m) => m.template === "magic_link");
}

async function mailTo(address, count = 1) {
  for (let i = 0; i < 50; i++) {
    const found = await magicLinks(address);
    if (found.length >= count) return found[0];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no magic link to ${address}`);
}

test("signIn.magicLink mails a link; following it signs in once", async () => {
  const b = browser();
  const email = unique("link");
  const sent = await b.client.signIn.magicLink({ email, name: "Link User", callbackURL: "/after" });
  assert.equal(sent.error, null);
  assert.deepEqual(sent.data, { status: true });

  const mail = await mailTo(email);
  const url = new URL(mail.url);
  assert.equal(url.origin + url.pathname, `${BASE}/api/auth/magic-link/verify`);
  assert.match(url.searchParams.get("token"), /^[A-Za-z]{32}$/);
  assert.equal(url.searchParams.get("callbackURL"), "/after");

  const opened = await b.open(mail.url);
  assert.equal(opened.status, 302);
  assert.equal(opened.headers.get("location"), `${BASE}/after`);
  const session = await b.client.getSession();
  assert.equal(session.error, null);
  assert.equal(session.data.user.email, email);
  assert.equal(session.data.user.name, "Link User");
  assert.equal(session.data.user.emailVerified, true);
  assert.ok(session.data.session.expiresAt instanceof Date);

  const other = browser();
  const reused = await other.open(mail.url);
  assert.equal(reused.status, 302);
  assert.equal(reused.headers.get("location"), `${BASE}/after?error=INVALID_TOKEN`);
  assert.equal((await other.client.getSession()).data, null);
});

test("magicLink.verify without a callback answers the session", async () => {
  const b = browser();
  const email = unique("verify");
  assert.equal((await b.client.signIn.magicLink({ email })).error, null);
  const token = new URL((await mailTo(email)).url).searchParams.get("token");
  const verified = await b.client.magicLink.verify({ query: { token } });
  assert.equal(verified.error, null);
  assert.equal(verified.data.user.email, email);
  assert.equal(verified.data.user.emailVerified, true);
  assert.equal(verified.data.session.token, verified.data.token);
  assert.ok(verified.data.user.createdAt instanceof Date); // the client revives ISO dates
  const session = await b.client.getSession();
  assert.equal(session.data.session.id, verified.data.session.id);

  const again = await browser().client.magicLink.verify({ query: { token, callbackURL: "/again" } });
  assert.equal(again.data, null); // a 302 to the error callback, which a manual-redirect fetch does not follow
  assert.equal(again.error.status, 302);
});

test("an existing user signs in by link; the answer is the same for unknown addresses", async () => {
  const b = browser();
  const email = unique("known");
  const signUp = await b.client.signUp.email({ email, password: PASSWORD, name: "Known User" });
  assert.equal(signUp.error, null);
  const known = await browser().client.signIn.magicLink({ email, callbackURL: "/after" });
  const unknown = await browser().client.signIn.magicLink({ email: unique("unknown"), callbackURL: "/after" });
  assert.deepEqual(known.data, unknown.data);
  assert.equal(known.error, unknown.error);

  const c = browser();
  const opened = await c.open((await mailTo(email)).url);
  assert.equal(opened.headers.get("location"), `${BASE}/after`);
  const session = await c.client.getSession();
  assert.equal(session.data.user.id, signUp.data.user.id);
  assert.equal(session.data.user.emailVerified, true); // the link proved the address
});

test("refusals: untrusted callback URLs and origins, invalid addresses", async () => {
  const b = browser();
  const email = unique("refused");
  const evil = await b.client.signIn.magicLink({ email, callbackURL: "https://evil.example/" });
  assert.equal(evil.error.status, 403);
  assert.equal(evil.error.code, "INVALID_CALLBACK_URL");
  const evilError = await b.client.signIn.magicLink({ email, errorCallbackURL: "https://evil.example/" });
  assert.equal(evilError.error.code, "INVALID_ERROR_CALLBACK_URL");
  const invalid = await b.client.signIn.magicLink({ email: "not-an-address" });
  assert.equal(invalid.error.status, 400);
  assert.equal(invalid.error.code, "VALIDATION_ERROR");

  const foreign = createAuthClient({
    baseURL: BASE,
    plugins: [magicLinkClient()],
    fetchOptions: {
      customFetchImpl: (input, init = {}) => {
        const headers = new Headers(init.headers);
        headers.set("origin", "https://evil.example");
        return fetch(input, { ...init, headers });
      },
    },
  });
  const crossSite = await foreign.signIn.magicLink({ email });
  assert.equal(crossSite.error.status, 403);
  assert.equal(crossSite.error.code, "INVALID_ORIGIN");
  assert.deepEqual(await magicLinks(email), []); // nothing refused was mailed
});
