"""Secrets never reach the log; a schema without ``audit_logs`` gets the audit capability's own table."""

from __future__ import annotations

import pytest

from tenantry.audit import Audit, is_secret, redact
from tenantry.schema import load_schema_text
from tests.audit.helpers import audit_rows
from tests.auth.helpers import runtime

INTEGRATIONS = """
integrations:
  - name: string (required)
  - api_key: string (nullable)
  - webhook_secret: string (nullable)
  - password_hash: string (nullable)
  - refreshToken: string (nullable)
  - config: json (nullable)
  - token_count: integer (nullable)
"""


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "password_hash",
        "passwordHash",
        "api_key",
        "apiKey",
        "APIKEY",
        "x-api-key",
        "webhook_secret",
        "clientSecret",
        "access_token",
        "refreshToken",
        "idToken",
        "totp_secret",
        "backup_codes",
        "private_key",
        "salt",
        "otp",
        "token_count",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret(name)


@pytest.mark.parametrize(
    "name",
    ["name", "email", "footprint", "stripe_customer_id", "passage", "keyboard", "status", "owner_id", "tokenize_x"],
)
def test_ordinary_names(name: str) -> None:
    assert not is_secret(name)


def test_redact_reaches_into_nested_values() -> None:
    assert redact(
        {"name": "n", "apiKey": "k", "config": {"url": "u", "token": "t", "hooks": [{"clientSecret": "s", "id": 1}]}}
    ) == {"name": "n", "config": {"url": "u", "hooks": [{"id": 1}]}}
    assert redact(None) is None


async def test_secret_fields_are_left_out_of_the_log(make_client) -> None:
    async with make_client(INTEGRATIONS) as client:  # no audit_logs entity: the capability's own table
        body = {
            "name": "Stripe",
            "api_key": "sk_live_SECRET1",
            "webhook_secret": "whsec_SECRET2",
            "password_hash": "argon2$SECRET3",
            "refreshToken": "rt_SECRET4",
            "config": {"url": "https://hooks.example", "token": "SECRET5", "headers": [{"authorization": "x"}]},
            "token_count": 3,
        }
        created = await client.post("/api/integrations", json=body)
        assert created.status_code == 201, created.text
        row_id = created.json()["id"]
        changed = await client.patch(f"/api/integrations/{row_id}", json={"api_key": "sk_live_SECRET6", "name": "S"})
        assert changed.status_code == 200
        await client.delete(f"/api/integrations/{row_id}")

        rows = await audit_rows(client)
        assert [r["action"] for r in rows] == ["create", "update", "delete"]
        create, update, delete = rows
        safe = {
            "id": row_id,
            "name": "Stripe",
            "config": {"url": "https://hooks.example", "headers": [{"authorization": "x"}]},
        }
        assert create["new_values"] == safe
        assert (update["old_values"], update["new_values"]) == ({"name": "Stripe"}, {"name": "S"})
        assert delete["old_values"] == {**safe, "name": "S"}
        assert "SECRET" not in str(rows)
        # The development principal is nobody: no user, no organization.
        assert {(r["user_id"], r["org_id"], r["resource_type"]) for r in rows} == {(None, None, "integrations")}


async def test_a_schema_without_an_audit_log_gets_one_not_served_by_crud(make_client) -> None:
    schema = load_schema_text(INTEGRATIONS, "test.yaml")
    assert "audit_logs" not in schema.entities
    async with make_client(schema) as client:
        audit = runtime(client).get(Audit)
        assert not audit.tables.declared and audit.tables.table.name == "audit_logs"
        assert {c.name for c in audit.tables.table.columns} >= {
            "id",
            "user_id",
            "org_id",
            "action",
            "resource_type",
            "resource_id",
            "old_values",
            "new_values",
            "ip_address",
            "user_agent",
            "created_at",
        }
        await client.post("/api/integrations", json={"name": "A"})
        assert (await client.get("/api/audit_logs")).json()["code"] == "ROUTE_NOT_FOUND"
        exported = await client.get("/api/audit_logs/export", params={"format": "jsonl"})
        assert exported.status_code == 200
        [line] = exported.text.splitlines()
        assert '"action":"create"' in line and '"resource_type":"integrations"' in line
