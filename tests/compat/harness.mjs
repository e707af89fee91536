// What the client suites share: the server's address, "browsers", unique addresses, the dev outbox
// and sign-up.
//
// Each suite is run by a tests/compat/test_*_client.py runner, which starts the server and passes
// BASE_URL. A "browser" is a Better Auth client with its own cookie jar: Node's fetch has none, so
// a small jar is kept here, and the browser's Origin header is added, as Better Auth's docs say
// Node callers must.
import assert from "node:assert/strict";
import { createAuthClient } from "better-auth/client";

export const BASE = process.env.BASE_URL;
assert.ok(BASE, "BASE_URL must be set");
export const PASSWORD = "Password-One-111";

// A client with `plugins`, its cookie jar, every Set-Cookie header it received (in order), and
// its fetch (to follow a link as that browser).
export function newBrowser(plugins = []) {
  const jar = new Map();
  const setCookies = [];
  async function customFetch(input, init = {}) {
    const headers = new Headers(init.headers);
    headers.set("origin", BASE);
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    if (cookie) headers.set("cookie", cookie);
    const response = await fetch(input, { ...init, headers, redirect: "manual" });
    for (const header of response.headers.getSetCookie()) {
      setCookies.push(header);
      const [pair] = header.split(";");
      const name = pair.slice(0, pair.indexOf("="));
      const value = pair.slice(pair.indexOf("=") + 1);
      if (/max-age=0/i.test(header) || value === "") jar.delete(name);
      else jar.set(name, value);
    }
    return response;
  }
  const client = createAuthClient({ baseURL: BASE, plugins, fetchOptions: { customFetchImpl: customFetch } });
  return { client, jar, setCookies, fetch: customFetch };
}

// A name no other test run has used (an organization slug, the local part of an address).
export function uniqueName(name) {
  return `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}

export function unique(name) {
  return `${uniqueName(name)}@example.com`;
}

// Every message the development outbox holds for `address`, newest first.
export async function mailbox(address) {
  return (await fetch(`${BASE}/dev/mail.json?to=${encodeURIComponent(address)}`)).json();
}

// The newest `template` mail to `address`, waited for (mail is sent after the response).
export async function mailTo(address, template) {
  for (let i = 0; i < 50; i++) {
    const found = (await mailbox(address)).find((m) => m.template === template);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${template} mail to ${address}`);
}

// Signs `b` up as `email`; returns the response's data ({token, user}).
export async function signUp(b, email, name = "Compat User") {
  const r = await b.client.signUp.email({ email, password: PASSWORD, name });
  assert.equal(r.error, null, JSON.stringify(r.error));
  return r.data;
}

// Signs `b` up as `email` and verifies the address through the e-mailed link; returns the user.
export async function verifiedUser(b, email, name = "Compat User") {
  const { user } = await signUp(b, email, name);
  const mail = await mailTo(email, "verify_email");
  const verified = await b.client.verifyEmail({ query: { token: new URL(mail.url).searchParams.get("token") } });
  assert.equal(verified.error, null);
  return user;
}
