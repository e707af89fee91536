// Better Auth's passkey client plugin (passkeyClient from @better-auth/passkey, pinned in
// package.json) against a Tenantry server.
//
// Run by tests/compat/test_passkey_client.py, which starts the server (no e-mail verification) and
// passes BASE_URL. Node has no WebAuthn, so this file gives it what a browser has: a global
// PublicKeyCredential and navigator.credentials backed by a software authenticator (EC P-256
// keys from node:crypto, a "none" attestation in CBOR, signed assertions). The client's own
// @simplewebauthn/browser code runs unchanged on top of it.
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { test } from "node:test";
import { passkeyClient } from "@better-auth/passkey/client";
import { BASE, newBrowser, signUp, unique } from "./harness.mjs";

// -- a software authenticator ------------------------------------------------------------------

function cbor(value) {
  const head = (major, n) => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 256) return Buffer.from([(major << 5) | 24, n]);
    if (n < 65536) return Buffer.from([(major << 5) | 25, n >> 8, n & 255]);
    const b = Buffer.alloc(5);
    b[0] = (major << 5) | 26;
    b.writeUInt32BE(n, 1);
    return b;
  };
  if (typeof value === "number") return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === "string") {
    const bytes = Buffer.from(value, "utf8");
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  if (value instanceof Map) {
    const parts = [head(5, value.size)];
    for (const [k, v] of value) parts.push(cbor(k), cbor(v));
    return Buffer.concat(parts);
  }
  throw new Error(`cannot encode ${value}`);
}

const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
const sha256 = (data) => createHash("sha256").update(data).digest();
const arrayBuffer = (buf) => Uint8Array.from(buf).buffer;

function softwareAuthenticator() {
  const held = []; // {id, privateKey, rpId, userHandle, counter}
  function authData(rpId, flags, counter, attested = Buffer.alloc(0)) {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), count, attested]);
  }
  return {
    held,
    async create({ publicKey: o }) {
      const rpId = o.rp.id;
      const excluded = (o.excludeCredentials || []).map((c) => b64url(new Uint8Array(c.id)));
      if (held.some((c) => c.rpId === rpId && excluded.includes(b64url(c.id)))) {
        throw new DOMException("The authenticator was previously registered", "InvalidStateError");
      }
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const jwk = publicKey.export({ format: "jwk" });
      const id = randomBytes(16);
      held.push({ id, privateKey, rpId, userHandle: Buffer.from(new Uint8Array(o.user.id)), counter: 0 });
      const cose = cbor(
        new Map([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x, "base64url")], [-3, Buffer.from(jwk.y, "base64url")]]),
      );
      const length = Buffer.alloc(2);
      length.writeUInt16BE(id.length);
      const attested = Buffer.concat([Buffer.alloc(16), length, id, cose]);
      const data = authData(rpId, 0x01 | 0x04 | 0x40, 0, attested);
      const clientData = Buffer.from(
        JSON.stringify({ type: "webauthn.create", challenge: b64url(new Uint8Array(o.challenge)), origin: BASE, crossOrigin: false }),
      );
      return {
        id: b64url(id),
        rawId: arrayBuffer(id),
        type: "public-key",
        authenticatorAttachment: "platform",
        response: {
          clientDataJSON: arrayBuffer(clientData),
          attestationObject: arrayBuffer(cbor(new Map([["fmt", "none"], ["attStmt", new Map()], ["authData", data]]))),
          getTransports: () => ["internal"],
        },
        getClientExtensionResults: () => ({}),
      };
    },
    async get({ publicKey: o }) {
      const allowed = (o.allowCredentials || []).map((c) => b64url(new Uint8Array(c.id)));
      const mine = held.filter((c) => c.rpId === o.rpId && (!allowed.length || allowed.includes(b64url(c.id))));
      const credential = mine[mine.length - 1];
      if (!credential) throw new DOMException("No passkey for this site", "NotAllowedError");
      credential.counter += 1;
      const data = authData(o.rpId, 0x01 | 0x04, credential.counter);
      const clientData = Buffer.from(
        JSON.stringify({ type: "webauthn.get", challenge: b64url(new Uint8Array(o.challenge)), origin: BASE, crossOrigin: false }),
      );
      const signature = sign("sha256", Buffer.concat([data, sha256(clientData)]), credential.privateKey);
      return {
        id: b64url(credential.id),
        rawId: arrayBuffer(credential.id),
        type: "public-key",
        authenticatorAttachment: "platform",
        response: {
          clientDataJSON: arrayBuffer(clientData),
          authenticatorData: arrayBuffer(data),
          signature: arrayBuffer(signature),
          userHandle: arrayBuffer(credential.userHandle),
        },
        getClientExtensionResults: () => ({}),
      };
    },
  };
}

// The browser globals @simplewebauthn/browser looks for; each test picks the device in use.
let device = softwareAuthenticator();
globalThis.PublicKeyCredential = function PublicKeyCredential() {};
Object.defineProperty(globalThis, "navigator", {
  value: { credentials: { create: (o) => device.create(o), get: (o) => device.get(o) }, userAgent: "node" },
  configurable: true,
});
globalThis.location = new URL(BASE);

// -- browsers: a client with its own cookie jar and the page's Origin ----------------------------

const browser = () => newBrowser([passkeyClient()]);

async function signedUp(email) {
  const b = browser();
  await signUp(b, email, "Key User");
  return b;
}

test("addPasskey registers, the list shows it, update and delete change it", async () => {
  device = softwareAuthenticator();
  const email = unique("add");
  const b = await signedUp(email);

  const added = await b.client.passkey.addPasskey({ name: "Node key" });
  assert.equal(added.error, null, JSON.stringify(added.error));
  assert.equal(added.data.name, "Node key");
  assert.equal(added.data.credentialID, b64url(device.held[0].id));
  assert.equal(added.data.transports, "internal");
  assert.equal(added.data.counter, 0);
  assert.match(added.data.publicKey, /^[A-Za-z0-9+/]+=*$/); // standard base64, as Better Auth stores it

  // The same authenticator again: the options exclude its credential, so the "browser" refuses.
  const again = await b.client.passkey.addPasskey();
  assert.equal(again.data, null);
  assert.equal(again.error.code, "ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED");

  device = softwareAuthenticator(); // a second device
  const second = await b.client.passkey.addPasskey();
  assert.equal(second.error, null);
  const list = await b.client.passkey.listUserPasskeys();
  assert.equal(list.error, null);
  assert.deepEqual(list.data.map((p) => p.name), ["Node key", null]);

  const renamed = await b.client.passkey.updatePasskey({ id: added.data.id, name: "Renamed" });
  assert.equal(renamed.error, null);
  assert.equal(renamed.data.passkey.name, "Renamed");

  const deleted = await b.client.passkey.deletePasskey({ id: second.data.id });
  assert.deepEqual(deleted.data, { status: true });
  const after = await b.client.passkey.listUserPasskeys();
  assert.deepEqual(after.data.map((p) => p.id), [added.data.id]);
});

test("signIn.passkey signs in a new browser without an e-mail address", async () => {
  device = softwareAuthenticator();
  const email = unique("signin");
  const owner = await signedUp(email);
  assert.equal((await owner.client.passkey.addPasskey({ name: "Laptop" })).error, null);

  const fresh = browser();
  const signedIn = await fresh.client.signIn.passkey();
  assert.equal(signedIn.error, null, JSON.stringify(signedIn.error));
  assert.equal(signedIn.data.user.email, email);
  assert.ok(signedIn.data.session.token);
  const session = await fresh.client.getSession();
  assert.equal(session.data.user.email, email);
  const [stored] = (await fresh.client.passkey.listUserPasskeys()).data;
  assert.equal(stored.counter, 1);
});

test("refusals carry Better Auth's codes", async () => {
  device = softwareAuthenticator();
  const anonymous = browser();
  const unauthenticated = await anonymous.client.passkey.addPasskey();
  assert.equal(unauthenticated.error.status, 401);

  const owner = await signedUp(unique("refused"));
  await owner.client.passkey.addPasskey();
  const other = await signedUp(unique("other"));
  const [theirs] = (await owner.client.passkey.listUserPasskeys()).data;
  const stolen = await other.client.passkey.deletePasskey({ id: theirs.id });
  assert.equal(stolen.error.status, 401);
  const missing = await other.client.passkey.updatePasskey({ id: "nope", name: "x" });
  assert.equal(missing.error.status, 404);
  assert.equal(missing.error.code, "PASSKEY_NOT_FOUND");

  device = softwareAuthenticator(); // a passkey this site never registered
  await device.create({
    publicKey: { rp: { id: new URL(BASE).hostname }, user: { id: new Uint8Array([1]).buffer }, challenge: new Uint8Array([1]).buffer },
  });
  const unknown = await browser().client.signIn.passkey();
  assert.equal(unknown.data, null);
  assert.equal(unknown.error.status, 401);
  assert.equal(unknown.error.code, "PASSKEY_NOT_FOUND");
});
