// Better Auth's two-factor client (twoFactorClient, better-auth pinned in package.json) against a
// Tenantry server: enrolment, the sign-in redirect, TOTP computed here from the secret, trusted
// devices, backup codes, a code e-mailed to the dev mailbox, disabling.
//
// Run by tests/compat/test_two_factor_client.py, which starts the server (no e-mail verification
// required) and passes BASE_URL. Each "browser" is a client with its own cookie jar and Origin.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import { twoFactorClient } from "better-auth/client/plugins";
import { PASSWORD, mailbox, newBrowser, unique } from "./harness.mjs";

function browser() {
  const redirects = [];
  const b = newBrowser([twoFactorClient({ onTwoFactorRedirect: (ctx) => redirects.push(ctx.twoFactorMethods) })]);
  return { ...b, redirects };
}

// RFC 4648 base32 and RFC 6238 TOTP (SHA-1, 6 digits, 30 s), as an authenticator app computes it.
function base32(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const ch of text.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, "0");
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

function totp(secret, offsetSeconds = 0) {
  const counter = Math.floor((Date.now() / 1000 + offsetSeconds) / 30);
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const digest = createHmac("sha1", base32(secret)).update(message).digest();
  const offset = digest[digest.length - 1] & 0x0f;
  const value = (digest.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return value.toString().padStart(6, "0");
}

async function mailsTo(address, template) {
  return (await mailbox(address)).filter((m) => m.template === template);
}

async function newMail(address, template, seen) {
  for (let i = 0; i < 50; i++) {
    const fresh = (await mailsTo(address, template)).filter((m) => !seen.has(m.id));
    if (fresh.length) return fresh[0];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no new ${template} mail to ${address}`);
}

test("two-factor with the real twoFactorClient()", async () => {
  const b = browser();
  const email = unique("otto");
  const signUp = await b.client.signUp.email({ email, password: PASSWORD, name: "Otto" });
  assert.equal(signUp.error, null);

  // Enrolment: not active until a first code confirms it.
  const wrongPassword = await b.client.twoFactor.enable({ password: "not-the-password" });
  assert.equal(wrongPassword.error.code, "INVALID_PASSWORD");
  const enabled = await b.client.twoFactor.enable({ password: PASSWORD });
  assert.equal(enabled.error, null);
  assert.equal(enabled.data.backupCodes.length, 10);
  assert.match(enabled.data.totpURI, /^otpauth:\/\/totp\/.+\?secret=[A-Z2-7]+&issuer=.+&digits=6&period=30$/);
  const secret = new URL(enabled.data.totpURI).searchParams.get("secret");
  const before = await b.client.getSession();
  assert.equal(before.data.user.twoFactorEnabled, false);
  const uri = await b.client.twoFactor.getTotpUri({ password: PASSWORD });
  assert.equal(uri.data.totpURI, enabled.data.totpURI);
  const confirmed = await b.client.twoFactor.verifyTotp({ code: totp(secret) });
  assert.equal(confirmed.error, null);
  const after = await b.client.getSession();
  assert.equal(after.data.user.twoFactorEnabled, true);

  // Sign-in stops at the second step: no session, the client's redirect hook fires.
  await b.client.signOut();
  const pending = await b.client.signIn.email({ email, password: PASSWORD });
  assert.deepEqual(pending.data, { twoFactorRedirect: true, twoFactorMethods: ["totp", "otp"] });
  assert.deepEqual(b.redirects, [["totp", "otp"]]);
  assert.equal((await b.client.getSession()).data, null);
  const wrong = await b.client.twoFactor.verifyTotp({ code: "000000" === totp(secret, 30) ? "111111" : "000000" });
  assert.equal(wrong.error.status, 401);
  assert.equal(wrong.error.code, "INVALID_CODE");
  // The enrolment used this step's code: the next step's is accepted (once).
  const verified = await b.client.twoFactor.verifyTotp({ code: totp(secret, 30), trustDevice: true });
  assert.equal(verified.error, null);
  assert.equal(verified.data.user.email, email);
  assert.ok(b.jar.has("better-auth.trust_device"));
  assert.equal((await b.client.getSession()).data.user.email, email);

  // A trusted device signs in without the second step.
  await b.client.signOut();
  const trusted = await b.client.signIn.email({ email, password: PASSWORD });
  assert.equal(trusted.error, null);
  assert.ok(trusted.data.token);

  // Another browser: a backup code, once.
  const c = browser();
  await c.client.signIn.email({ email, password: PASSWORD });
  const backup = await c.client.twoFactor.verifyBackupCode({ code: enabled.data.backupCodes[0] });
  assert.equal(backup.error, null);
  assert.ok(backup.data.token);
  await c.client.signOut();
  await c.client.signIn.email({ email, password: PASSWORD });
  const reused = await c.client.twoFactor.verifyBackupCode({ code: enabled.data.backupCodes[0] });
  assert.equal(reused.error.code, "INVALID_BACKUP_CODE");

  // A code e-mailed to the dev mailbox.
  const seen = new Set((await mailsTo(email, "two_factor_otp")).map((m) => m.id));
  const sent = await c.client.twoFactor.sendOtp();
  assert.deepEqual(sent.data, { status: true });
  const mail = await newMail(email, "two_factor_otp", seen);
  const otp = mail.subject.split(" ")[0];
  assert.match(otp, /^\d{6}$/);
  const byMail = await c.client.twoFactor.verifyOtp({ code: otp });
  assert.equal(byMail.error, null);
  assert.equal((await c.client.getSession()).data.user.email, email);

  // New backup codes, then off (the password is required).
  const regenerated = await c.client.twoFactor.generateBackupCodes({ password: PASSWORD });
  assert.equal(regenerated.data.status, true);
  assert.equal(regenerated.data.backupCodes.length, 10);
  const refused = await c.client.twoFactor.disable({ password: "wrong-password-1" });
  assert.equal(refused.error.code, "INVALID_PASSWORD");
  const disabled = await c.client.twoFactor.disable({ password: PASSWORD });
  assert.deepEqual(disabled.data, { status: true });
  assert.equal((await c.client.getSession()).data.user.twoFactorEnabled, false);
  await c.client.signOut();
  const plain = await c.client.signIn.email({ email, password: PASSWORD });
  assert.ok(plain.data.token);
});
