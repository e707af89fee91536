"""API keys on the CRUD API (``x-api-key``), on SQLite and PostgreSQL: a key acts as its user in
its organization with the role held there now, within its scopes; refused keys answer with stable
codes; the per-key rate limit holds across app instances; every use is audited; keys are stored
hashed."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
from typing import Any

import httpx

from tenantry.auth import Authentication, AuthSettings
from tenantry.auth.plugins.api_key import ApiKeySettings
from tests.api_key.helpers import audit_rows, create_key, key_call, table, with_key
from tests.auth.helpers import BASE, NO_VERIFICATION, runtime, sql, ts
from tests.tenancy.helpers import User, create_org, join, new_user, ok


async def project(client: httpx.AsyncClient, key: str, name: str) -> httpx.Response:
    return await client.post("/api/projects", json={"name": name}, headers=with_key(key))


def code(r: httpx.Response) -> tuple[int, str | None]:
    return r.status_code, r.json().get("code")


async def team(client: httpx.AsyncClient) -> tuple[User, User, dict[str, Any]]:
    """Ann (admin) and Bob (member) of Acme."""
    ann = await new_user(client, "ann@example.com")
    bob = await new_user(client, "bob@example.com")
    acme = await create_org(client, ann, "Acme")
    await join(client, ann, acme, bob, "member")
    return ann, bob, acme


async def test_key_acts_as_its_member_in_its_organization(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann, bob, acme = await team(client)
        vic = await new_user(client, "vic@example.com")
        await join(client, ann, acme, vic, "viewer")
        # Bob's session is active in Acme since he joined; the key acts there by default.
        bob_key = await create_key(client, bob, name="bob-ci")
        assert bob_key["organizationId"] == acme["id"]
        r = await project(client, bob_key["key"], "Made by key")
        assert r.status_code == 201, r.text
        made = r.json()
        assert (made["org_id"], made["created_by"]) == (acme["id"], bob.id)
        # A member updates only its own rows: Ann's project is out of reach for Bob's key.
        anns = (await client.post("/api/projects", json={"name": "Ann's"}, headers=ann.headers)).json()
        r = await client.patch(f"/api/projects/{anns['id']}", json={"name": "x"}, headers=with_key(bob_key["key"]))
        assert r.status_code in (403, 404), r.text
        r = await client.patch(f"/api/projects/{made['id']}", json={"name": "y"}, headers=with_key(bob_key["key"]))
        assert r.status_code == 200 and r.json()["name"] == "y"
        listed = await client.get("/api/projects", headers=with_key(bob_key["key"]))
        assert {p["name"] for p in listed.json()} == {"y", "Ann's"}
        # A viewer's key reads but cannot create: the role, not the key, decides.
        vic_key = await create_key(client, vic, organizationId=acme["id"])
        assert (await client.get("/api/projects", headers=with_key(vic_key["key"]))).status_code == 200
        assert code(await project(client, vic_key["key"], "no")) == (403, "FORBIDDEN_ACTION")


async def test_scopes_restrict_the_member_rights(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann, _, _ = await team(client)
        read_only = await create_key(client, ann, name="ro", permissions={"projects": ["read"]})
        assert read_only["permissions"] == {"projects": ["read"]}
        assert (await client.get("/api/projects", headers=with_key(read_only["key"]))).status_code == 200
        assert code(await project(client, read_only["key"], "no")) == (403, "API_KEY_SCOPE_DENIED")
        # Deny by default: what the scopes do not name is refused, even to an admin's key.
        r = await client.get("/api/organizations", headers=with_key(read_only["key"]))
        assert code(r) == (403, "API_KEY_SCOPE_DENIED")
        nothing = await create_key(client, ann, permissions={})
        r = await client.get("/api/projects", headers=with_key(nothing["key"]))
        assert code(r) == (403, "API_KEY_SCOPE_DENIED")
        writer = await create_key(client, ann, permissions={"projects": ["create", "read"]})
        assert writer["permissions"] == {"projects": ["read", "create"]}
        made = await project(client, writer["key"], "scoped")
        assert made.status_code == 201
        r = await client.delete(f"/api/projects/{made.json()['id']}", headers=with_key(writer["key"]))
        assert code(r) == (403, "API_KEY_SCOPE_DENIED")
        # A key without scopes has the admin's full rights.
        full = await create_key(client, ann)
        r = await client.delete(f"/api/projects/{made.json()['id']}", headers=with_key(full["key"]))
        assert r.status_code == 200, r.text


async def test_other_organizations_are_invisible(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann, _, acme = await team(client)
        secret = (await client.post("/api/projects", json={"name": "acme-only"}, headers=ann.headers)).json()
        cid = await new_user(client, "cid@example.com")
        await create_org(client, cid, "Globex")
        cid_key = (await create_key(client, cid))["key"]
        assert code(await client.get(f"/api/projects/{secret['id']}", headers=with_key(cid_key)))[0] == 404
        assert (await client.get("/api/projects", headers=with_key(cid_key))).json() == []
        in_acme = {"filter": f"org_id||$eq||{acme['id']}"}
        r = await client.get("/api/projects", params=in_acme, headers=with_key(cid_key))
        assert r.json() == []
        r = await client.patch(f"/api/projects/{secret['id']}", json={"name": "x"}, headers=with_key(cid_key))
        assert r.status_code == 404
        # Ann is also in Globex2: her Globex2 key never reads Acme's rows, even when asked by org_id
        # (a session may name any of its organizations; a key is pinned to its own).
        other = await create_org(client, ann, "Globex2")
        ann_key = (await create_key(client, ann, organizationId=other["id"]))["key"]
        r = await client.get("/api/projects", params=in_acme, headers=with_key(ann_key))
        assert r.status_code == 200 and r.json() == []
        assert (await client.get(f"/api/projects/{secret['id']}", headers=with_key(ann_key))).status_code == 404


async def test_invalid_disabled_expired_and_revoked_keys_are_refused(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann, _, _ = await team(client)
        r = await client.get("/api/projects", headers=with_key("not-a-key"))
        assert code(r) == (401, "INVALID_API_KEY")
        assert code(await client.get("/api/projects", headers=with_key("x" * 300))) == (401, "INVALID_API_KEY")

        disabled = await create_key(client, ann)
        r = await key_call(client, ann, "POST", "update", json={"keyId": disabled["id"], "enabled": False})
        assert r.status_code == 200 and r.json()["enabled"] is False
        assert code(await client.get("/api/projects", headers=with_key(disabled["key"]))) == (401, "KEY_DISABLED")
        await key_call(client, ann, "POST", "update", json={"keyId": disabled["id"], "enabled": True})
        assert (await client.get("/api/projects", headers=with_key(disabled["key"]))).status_code == 200

        expired = await create_key(client, ann, expiresIn=60 * 60 * 24 * 2)
        assert (await client.get("/api/projects", headers=with_key(expired["key"]))).status_code == 200
        past = ts(client, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        await sql(client, f"UPDATE {table(client)} SET expires_at = ? WHERE id = ?", past, expired["id"])
        assert code(await client.get("/api/projects", headers=with_key(expired["key"]))) == (401, "KEY_EXPIRED")
        # As in Better Auth, the expired key was deleted when presented.
        assert code(await client.get("/api/projects", headers=with_key(expired["key"]))) == (401, "INVALID_API_KEY")

        revoked = await create_key(client, ann)
        r = await key_call(client, ann, "POST", "delete", json={"keyId": revoked["id"]})
        assert r.json() == {"success": True}
        assert code(await client.get("/api/projects", headers=with_key(revoked["key"]))) == (401, "INVALID_API_KEY")


async def test_demoted_and_removed_members_keys(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann, bob, acme = await team(client)
        key = (await create_key(client, bob))["key"]
        assert (await project(client, key, "while member")).status_code == 201
        members = await ok(client, ann, "list-members", organizationId=acme["id"])
        bob_member = next(m for m in members["members"] if m["userId"] == bob.id)
        await ok(client, ann, "update-member-role", {"memberId": bob_member["id"], "role": "viewer"})
        # The role is read on every use: the demoted member's key lost the right to create.
        assert code(await project(client, key, "as viewer")) == (403, "FORBIDDEN_ACTION")
        assert (await client.get("/api/projects", headers=with_key(key))).status_code == 200
        await ok(client, ann, "remove-member", {"memberIdOrEmail": bob_member["id"]})
        r = await client.get("/api/projects", headers=with_key(key))
        assert code(r) == (403, "USER_NOT_MEMBER_OF_ORGANIZATION")


async def test_personal_keys_and_where_keys_are_not_accepted(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann, _, acme = await team(client)
        personal = await create_key(client, ann, organizationId=None)
        assert personal["organizationId"] is None
        r = await client.get("/api/projects", headers=with_key(personal["key"]))
        assert code(r) == (403, "NO_ACTIVE_ORGANIZATION")
        me = await client.get(f"/api/users/{ann.id}", headers=with_key(personal["key"]))
        assert me.status_code == 200 and me.json()["email"] == "ann@example.com"
        key = (await create_key(client, ann))["key"]
        # Notifications (and billing, when installed) act for a person, not an API client.
        r = await client.get("/api/notifications", headers=with_key(key))
        assert code(r) == (403, "API_KEY_NOT_ACCEPTED")
        # Not a session on /api/auth (Better Auth's enableSessionForAPIKeys is off).
        assert (await client.get("/api/auth/get-session", headers=with_key(key))).json() is None
        r = await client.post("/api/auth/api-key/create", json={}, headers={**with_key(key), "origin": BASE})
        assert r.status_code == 401
        # A key for an organization one is not a member of is refused at creation.
        cid = await new_user(client, "cid@example.com")
        r = await key_call(client, cid, "POST", "create", json={"organizationId": acme["id"]})
        assert code(r) == (403, "USER_NOT_MEMBER_OF_ORGANIZATION")


async def test_rate_limit_per_key_shared_by_app_instances(make_client) -> None:
    limit = ApiKeySettings(TENANTRY_API_KEY_RATE_LIMIT_MAX=3, TENANTRY_API_KEY_RATE_LIMIT_WINDOW=60)
    async with (
        make_client(auth=NO_VERIFICATION, base_url=BASE, api_key=limit) as one,
        make_client(auth=NO_VERIFICATION, base_url=BASE, api_key=limit) as two,
    ):
        assert runtime(one) is not runtime(two)
        ann, _, _ = await team(one)
        created = await create_key(one, ann)
        assert (created["rateLimitMax"], created["rateLimitTimeWindow"]) == (3, 60_000)
        key = created["key"]
        statuses = [(await c.get("/api/projects", headers=with_key(key))).status_code for c in (one, two, one)]
        assert statuses == [200, 200, 200]
        r = await two.get("/api/projects", headers=with_key(key))
        assert code(r) == (429, "RATE_LIMITED")
        assert 1 <= r.json()["retryAfter"] <= 60
        assert r.headers["retry-after"] == str(r.json()["retryAfter"])
        # Another key has its own window.
        other = (await create_key(one, ann))["key"]
        assert (await two.get("/api/projects", headers=with_key(other))).status_code == 200
        # Once the window has passed, the key works again and a new window starts.
        earlier = ts(one, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=61))
        await sql(one, f"UPDATE {table(one)} SET window_start = ? WHERE id = ?", earlier, created["id"])
        assert (await one.get("/api/projects", headers=with_key(key))).status_code == 200
        listed = (await key_call(one, ann, "GET", "get", params={"id": created["id"]})).json()
        assert listed["requestCount"] == 1
        # Verification counts as a use too, and reports the limit as Better Auth does.
        for _ in range(2):
            assert (await key_call(two, None, "POST", "verify", json={"key": key})).json()["valid"] is True
        over = (await key_call(two, None, "POST", "verify", json={"key": key})).json()
        assert over["valid"] is False and over["error"]["code"] == "RATE_LIMITED"
        assert 0 < over["error"]["details"]["tryAgainIn"] <= 60_000


async def test_concurrent_requests_never_exceed_the_limit(make_client) -> None:
    limit = ApiKeySettings(TENANTRY_API_KEY_RATE_LIMIT_MAX=5)
    async with make_client(auth=NO_VERIFICATION, base_url=BASE, api_key=limit) as client:
        ann, _, _ = await team(client)
        key = (await create_key(client, ann))["key"]
        answers = await asyncio.gather(*(client.get("/api/projects", headers=with_key(key)) for _ in range(12)))
        assert sorted(r.status_code for r in answers) == [200] * 5 + [429] * 7
        assert len(await audit_rows(client, "api_key_use")) == 5  # refused requests are not uses


async def test_quota_set_by_server_code(make_client) -> None:
    from tenantry.auth.plugins.api_key import ApiKeyPlugin, NewKey
    from tenantry.auth.service import ClientInfo

    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann, _, acme = await team(client)
        auth = runtime(client).get(Authentication)
        plugin = auth.plugin("api-key")
        assert isinstance(plugin, ApiKeyPlugin)
        keys = plugin.keys
        row, raw = await keys.create(ann.id, NewKey(remaining=2, organization_id=acme["id"]), ClientInfo("", ""))
        assert row.remaining == 2
        assert [(await client.get("/api/projects", headers=with_key(raw))).status_code for _ in range(2)] == [200, 200]
        assert code(await client.get("/api/projects", headers=with_key(raw))) == (429, "USAGE_EXCEEDED")
        # Spent without a refill: the key is gone, as in Better Auth.
        assert code(await client.get("/api/projects", headers=with_key(raw))) == (401, "INVALID_API_KEY")

        # With a refill (server-only: refillAmount every refillInterval ms), a spent key waits for it.
        new = NewKey(refill_amount=2, refill_interval=60_000, organization_id=acme["id"])
        row, raw = await keys.create(ann.id, new, ClientInfo("", ""))
        assert row.remaining == 2
        assert [(await client.get("/api/projects", headers=with_key(raw))).status_code for _ in range(2)] == [200, 200]
        assert code(await client.get("/api/projects", headers=with_key(raw))) == (429, "USAGE_EXCEEDED")
        assert code(await client.get("/api/projects", headers=with_key(raw))) == (429, "USAGE_EXCEEDED")
        earlier = ts(client, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2))
        await sql(client, f"UPDATE {table(client)} SET created_at = ? WHERE id = ?", earlier, row.id)
        assert (await client.get("/api/projects", headers=with_key(raw))).status_code == 200
        got = (await key_call(client, ann, "GET", "get", params={"id": row.id})).json()
        assert (got["remaining"], got["lastRefillAt"] is not None) == (1, True)


async def test_every_use_is_audited_and_keys_are_stored_hashed(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        _, bob, acme = await team(client)
        created = await create_key(client, bob, name="audited")
        key = created["key"]
        await client.get("/api/projects", headers=with_key(key))
        await project(client, key, "by key")
        await client.get("/api/projects/00000000-0000-0000-0000-000000000000", headers=with_key(key))
        rows = await audit_rows(client, "api_key_use")
        assert [(str(r[0]), str(r[1]), r[2]) for r in rows] == [(bob.id, acme["id"], created["id"])] * 3
        uses = [r[3] if isinstance(r[3], dict) else json.loads(r[3]) for r in rows]
        assert [(u["method"], u["path"]) for u in uses] == [
            ("GET", "/api/projects"),
            ("POST", "/api/projects"),
            ("GET", "/api/projects/00000000-0000-0000-0000-000000000000"),
        ]
        assert len(await audit_rows(client, "api_key_create")) == 1
        # The write made with the key is audited as Bob's, like a session's.
        [write] = await sql(
            client, "SELECT user_id FROM audit_logs WHERE action = 'create' AND resource_type = 'projects'"
        )
        assert str(write[0]) == bob.id
        # Never in clear: the row holds SHA-256 base64url of the key, and its first six characters.
        stored = await sql(client, f"SELECT * FROM {table(client)}")
        assert len(stored) == 1
        assert not any(key in str(value) for value in stored[0])
        digest = base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()).decode().rstrip("=")
        [(hashed, start)] = await sql(client, f"SELECT key, start FROM {table(client)}")
        assert (hashed, start) == (digest, key[:6])
        # Last use is kept.
        got = (await key_call(client, bob, "GET", "get", params={"id": created["id"]})).json()
        assert got["lastRequest"] is not None and "key" not in got


NOTES_SCHEMA = """
users:
  - email: string (unique, required)
  - name: string
notes:
  - title: string (required)
  - created_at: timestamp (auto)
"""


async def test_scopes_in_an_app_without_organizations(make_client) -> None:
    async with make_client(NOTES_SCHEMA, auth=NO_VERIFICATION, base_url=BASE, TENANTRY_OPEN_API=False) as client:
        eve = await new_user(client, "eve@example.com")
        read_only = await create_key(client, eve, permissions={"notes": ["read"]})
        assert read_only["organizationId"] is None
        full = await create_key(client, eve)
        r = await client.post("/api/notes", json={"title": "n"}, headers=with_key(full["key"]))
        assert r.status_code == 201, r.text
        assert (await client.get("/api/notes", headers=with_key(read_only["key"]))).status_code == 200
        r = await client.post("/api/notes", json={"title": "no"}, headers=with_key(read_only["key"]))
        assert code(r) == (403, "API_KEY_SCOPE_DENIED")
        assert code(await client.get("/api/notes")) == (401, "UNAUTHORIZED")


BETTER_AUTH_SCHEMA = """
users:
  table: user
  id: text
  fields:
    nickname: text (nullable)
"""


async def test_keys_in_the_better_auth_preset(make_client) -> None:
    auth = AuthSettings(TENANTRY_AUTH_TABLES="better-auth", TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)
    async with make_client(BETTER_AUTH_SCHEMA, auth=auth, base_url=BASE, TENANTRY_OPEN_API=False) as client:
        eve = await new_user(client, "eve@example.com", verified=False)
        created = await create_key(client, eve, name="ba")
        assert table(client) == "apikey" and created["referenceId"] == eve.id
        r = await client.get(f"/api/users/{eve.id}", headers=with_key(created["key"]))
        assert r.status_code == 200 and r.json()["id"] == eve.id
        [(hashed, last)] = await sql(client, 'SELECT "key", "lastRequest" FROM apikey WHERE "referenceId" = ?', eve.id)
        assert hashed != created["key"] and len(hashed) == 43 and last is not None
