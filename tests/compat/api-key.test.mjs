// Better Auth's api-key client plugin (apiKeyClient from @better-auth/api-key, pinned in
// package.json) against a Tenantry server, then the key itself on the CRUD API (x-api-key).
//
// Run by tests/compat/test_api_key_client.py, which starts the server without required e-mail
// verification (sign-up signs in) and passes BASE_URL. Each "browser" keeps its own cookies and
// sends the browser's Origin.
import assert from "node:assert/strict";
import { test } from "node:test";
import { apiKeyClient } from "@better-auth/api-key/client";
import { organizationClient } from "better-auth/client/plugins";
import { BASE, newBrowser, signUp, unique, uniqueName } from "./harness.mjs";

async function signedUpWithOrganization(name) {
  const b = newBrowser([organizationClient(), apiKeyClient()]);
  const { user } = await signUp(b, unique(name), name);
  const org = await b.client.organization.create({ name: `${name} Inc`, slug: uniqueName(name) });
  assert.equal(org.error, null, JSON.stringify(org.error));
  return { client: b.client, user, org: org.data };
}

function crud(path, key, init = {}) {
  const headers = { "x-api-key": key, ...(init.body ? { "content-type": "application/json" } : {}) };
  return fetch(`${BASE}/api${path}`, { ...init, headers });
}

test("create, list, get, update, verify and delete with apiKeyClient()", async () => {
  const { client, user, org } = await signedUpWithOrganization("ada");
  const created = await client.apiKey.create({ name: "deploy", prefix: "tnt_", expiresIn: 60 * 60 * 24 * 30 });
  assert.equal(created.error, null, JSON.stringify(created.error));
  const key = created.data;
  assert.match(key.key, /^tnt_[A-Za-z]{64}$/);
  assert.equal(key.start, key.key.slice(0, 6));
  assert.equal(key.name, "deploy");
  assert.equal(key.referenceId, user.id);
  assert.equal(key.organizationId, org.id);
  assert.equal(key.enabled, true);
  assert.ok(new Date(key.expiresAt) > new Date());

  const listed = await client.apiKey.list();
  assert.equal(listed.error, null);
  assert.equal(listed.data.total, 1);
  assert.deepEqual(listed.data.apiKeys.map((k) => k.id), [key.id]);
  assert.equal(listed.data.apiKeys[0].key, undefined, "the key is shown once, at creation");

  const got = await client.apiKey.get({ query: { id: key.id } });
  assert.equal(got.error, null);
  assert.equal(got.data.name, "deploy");
  assert.equal(got.data.key, undefined);

  const updated = await client.apiKey.update({ keyId: key.id, name: "deploy-2" });
  assert.equal(updated.error, null, JSON.stringify(updated.error));
  assert.equal(updated.data.name, "deploy-2");

  const serverOnly = await client.apiKey.update({ keyId: key.id, rateLimitMax: 1000 });
  assert.equal(serverOnly.error.status, 400);
  assert.equal(serverOnly.error.code, "SERVER_ONLY_PROPERTY");

  const verified = await client.apiKey.verify({ key: key.key });
  assert.equal(verified.error, null, JSON.stringify(verified.error));
  assert.equal(verified.data.valid, true);
  assert.equal(verified.data.key.id, key.id);
  const wrong = await client.apiKey.verify({ key: "tnt_nope" });
  assert.equal(wrong.data.valid, false);
  assert.equal(wrong.data.error.code, "INVALID_API_KEY");

  // Another user never sees it.
  const other = await signedUpWithOrganization("bea");
  const stolen = await other.client.apiKey.get({ query: { id: key.id } });
  assert.equal(stolen.error.status, 404);
  assert.equal(stolen.error.code, "KEY_NOT_FOUND");
  const stolenDelete = await other.client.apiKey.delete({ keyId: key.id });
  assert.equal(stolenDelete.error.code, "KEY_NOT_FOUND");

  const deleted = await client.apiKey.delete({ keyId: key.id });
  assert.equal(deleted.error, null);
  assert.deepEqual(deleted.data, { success: true });
  assert.equal((await client.apiKey.list()).data.total, 0);
  const gone = await client.apiKey.verify({ key: key.key });
  assert.equal(gone.data.valid, false);
});

test("the key on the CRUD API: member rights, scopes, revocation", async () => {
  const { client, org } = await signedUpWithOrganization("cy");
  const full = (await client.apiKey.create({ name: "full" })).data;
  const made = await crud("/projects", full.key, { method: "POST", body: JSON.stringify({ name: "By key" }) });
  assert.equal(made.status, 201, await made.clone().text());
  const project = await made.json();
  assert.equal(project.org_id, org.id);
  const listed = await (await crud("/projects", full.key)).json();
  assert.deepEqual(listed.map((p) => p.name), ["By key"]);

  const readOnly = (await client.apiKey.create({ name: "ro", permissions: { projects: ["read"] } })).data;
  assert.deepEqual(readOnly.permissions, { projects: ["read"] });
  assert.equal((await crud("/projects", readOnly.key)).status, 200);
  const refused = await crud("/projects", readOnly.key, { method: "POST", body: JSON.stringify({ name: "no" }) });
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).code, "API_KEY_SCOPE_DENIED");

  // Another organization's rows are not there for this key.
  const other = await signedUpWithOrganization("dee");
  const otherKey = (await other.client.apiKey.create({})).data;
  assert.equal((await crud(`/projects/${project.id}`, otherKey.key)).status, 404);

  const disabled = await client.apiKey.update({ keyId: full.id, enabled: false });
  assert.equal(disabled.data.enabled, false);
  const off = await crud("/projects", full.key);
  assert.equal(off.status, 401);
  assert.equal((await off.json()).code, "KEY_DISABLED");
  await client.apiKey.delete({ keyId: full.id });
  const revoked = await crud("/projects", full.key);
  assert.equal(revoked.status, 401);
  assert.equal((await revoked.json()).code, "INVALID_API_KEY");
  const noKey = await fetch(`${BASE}/api/projects`);
  assert.equal(noKey.status, 401);
});
