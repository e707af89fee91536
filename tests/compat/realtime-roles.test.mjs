// socket.io-client against a server whose schema gives roles different reads (tests/realtime/test_roles.py):
// projects: everyone reads; secrets: admins only; notes: members read only their own.
import assert from "node:assert/strict";
import { test } from "node:test";
import { io } from "socket.io-client";

const BASE = process.env.BASE_URL;
assert.ok(BASE, "BASE_URL must be set");
const PASSWORD = "Password-One-111";
const unique = (name) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;

async function api(method, path, { token, body } = {}) {
  const headers = { origin: BASE };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(`${BASE}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// Signed up and verified through the e-mailed link (accepting an invitation needs a verified address).
async function person(name) {
  const email = `${unique(name)}@example.com`;
  const r = await api("POST", "/api/auth/sign-up/email", { body: { email, password: PASSWORD, name } });
  await api("POST", "/api/auth/send-verification-email", { token: r.token, body: { email } });
  const mail = await waitFor("the verification mail", async () => {
    const list = await (await fetch(`${BASE}/dev/mail.json?to=${encodeURIComponent(email)}`)).json();
    return list.find((m) => m.template === "verify_email");
  });
  const token = new URL(mail.url).searchParams.get("token");
  const verified = await fetch(`${BASE}/api/auth/verify-email?token=${encodeURIComponent(token)}`, { redirect: "manual" });
  assert.ok(verified.status < 400, `verify-email: ${verified.status}`);
  return { id: r.user.id, email, token: r.token };
}

async function joined(admin, org, who, role) {
  const invitation = await api("POST", "/api/auth/organization/invite-member", {
    token: admin.token,
    body: { email: who.email, role, organizationId: org.id },
  });
  const accepted = await api("POST", "/api/auth/organization/accept-invitation", {
    token: who.token,
    body: { invitationId: invitation.id },
  });
  await api("POST", "/api/auth/organization/set-active", { token: who.token, body: { organizationId: org.id } });
  return accepted.member;
}

function connect(token) {
  return new Promise((resolve, reject) => {
    const socket = io(BASE, { auth: { token }, transports: ["websocket"], forceNew: true, reconnection: false });
    socket.received = [];
    socket.onAny((event, data) => socket.received.push({ event, data }));
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

async function waitFor(what, predicate, ms = 8000) {
  const started = Date.now();
  while (Date.now() - started < ms) {
    const found = await predicate();
    if (found) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const names = (socket, topic) => socket.received.filter((r) => r.event === topic).map((r) => r.data.data.name ?? r.data.data.body);
const settle = () => new Promise((r) => setTimeout(r, 700));

test("each role hears of the changes it may read, and only those", async () => {
  const ann = await person("ann");
  const mia = await person("mia");
  const vic = await person("vic");
  const slug = unique("org");
  const org = await api("POST", "/api/auth/organization/create", { token: ann.token, body: { name: slug, slug } });
  await api("POST", "/api/auth/organization/set-active", { token: ann.token, body: { organizationId: org.id } });
  const miaMember = await joined(ann, org, mia, "member");
  await joined(ann, org, vic, "viewer");
  const [annS, miaS, vicS] = await Promise.all([connect(ann.token), connect(mia.token), connect(vic.token)]);

  await api("POST", "/api/secrets", { token: ann.token, body: { name: "launch codes" } });
  await api("POST", "/api/projects", { token: ann.token, body: { name: "Apollo" } });
  await api("POST", "/api/notes", { token: mia.token, body: { body: "mia's note" } });
  await api("POST", "/api/notes", { token: ann.token, body: { body: "ann's note" } });
  await waitFor("every change on the admin's socket", () => names(annS, "notes.created").length === 2);
  await waitFor("the project on the viewer's socket", () => names(vicS, "projects.created").length === 1);
  await settle();
  assert.deepEqual(names(annS, "secrets.created"), ["launch codes"]);
  assert.deepEqual(names(annS, "projects.created"), ["Apollo"]);
  assert.deepEqual(names(annS, "notes.created"), ["mia's note", "ann's note"]);
  assert.deepEqual(names(miaS, "secrets.created"), []);
  assert.deepEqual(names(miaS, "projects.created"), ["Apollo"]);
  assert.deepEqual(names(miaS, "notes.created"), ["mia's note"], "a member reads only their own notes");
  assert.deepEqual(names(vicS, "secrets.created"), []);
  assert.deepEqual(names(vicS, "projects.created"), ["Apollo"]);
  assert.deepEqual(names(vicS, "notes.created"), []);

  // Mia becomes a viewer: her socket moves to the viewer's rooms at once.
  await api("POST", "/api/auth/organization/update-member-role", {
    token: ann.token,
    body: { memberId: miaMember.id, role: "viewer", organizationId: org.id },
  });
  await waitFor("mia's new role", () => miaS.received.find((r) => r.event === "organization" && r.data.role === "viewer"));
  await api("POST", "/api/notes", { token: mia.token, body: { body: "too late" } }).catch(() => null);
  await api("POST", "/api/projects", { token: ann.token, body: { name: "Gemini" } });
  await waitFor("the next project on mia's socket", () => names(miaS, "projects.created").length === 2);
  await settle();
  assert.deepEqual(names(miaS, "notes.created"), ["mia's note"]);
  for (const s of [annS, miaS, vicS]) s.close();
});
