// The standardwebhooks npm package (pinned in package.json) verifies messages Tenantry delivered.
//
// Run by tests/webhooks/test_node_verifier.py, which delivers real messages to a receiver and
// passes them in WEBHOOK_CASES: a JSON file of {secret, headers, body} (body as received, UTF-8).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Webhook, WebhookVerificationError } from "standardwebhooks";

const cases = JSON.parse(readFileSync(process.env.WEBHOOK_CASES, "utf8"));

test("every delivered message verifies with its endpoint's secret", () => {
  assert.ok(cases.length > 0);
  for (const { secret, headers, body, type } of cases) {
    const payload = new Webhook(secret).verify(body, headers);
    assert.equal(payload.type, type);
    assert.ok(payload.data && typeof payload.timestamp === "string");
  }
});

test("a changed body, another secret or a missing header is refused", () => {
  const [{ secret, headers, body }, other] = cases;
  const wh = new Webhook(secret);
  assert.throws(() => wh.verify(body.replace("}", ', "x": 1}'), headers), WebhookVerificationError);
  assert.throws(() => new Webhook(other.secret).verify(body, headers), WebhookVerificationError);
  const { "webhook-signature": _, ...unsigned } = headers;
  assert.throws(() => wh.verify(body, unsigned), WebhookVerificationError);
});
