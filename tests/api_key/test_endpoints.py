"""The ``/api/auth/api-key/*`` endpoints as ``@better-auth/api-key`` 1.7 answers them (plus
Tenantry's organization and scopes), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import httpx

from tenantry.app import app_tables
from tenantry.auth import AuthSettings
from tenantry.auth.plugins.api_key import ApiKeySettings
from tenantry.auth.plugins.api_key.tables import TABLE_NAMES
from tenantry.config import Settings
from tests.api_key.helpers import create_key, key_call, table
from tests.auth.helpers import BASE, NO_VERIFICATION, sql, ts
from tests.conftest import seed_schema
from tests.tenancy.helpers import create_org, join, new_user

ROW_KEYS = [
    "id",
    "configId",
    "name",
    "start",
    "referenceId",
    "prefix",
    "refillInterval",
    "refillAmount",
    "lastRefillAt",
    "enabled",
    "rateLimitEnabled",
    "rateLimitTimeWindow",
    "rateLimitMax",
    "requestCount",
    "remaining",
    "lastRequest",
    "expiresAt",
    "createdAt",
    "updatedAt",
    "permissions",
    "metadata",
    "organizationId",
]


def failure(r: httpx.Response) -> tuple[int, str | None]:
    return r.status_code, r.json().get("code")


async def test_create_shows_the_key_once(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        acme = await create_org(client, ann, "Acme")
        created = await create_key(client, ann, name="deploy", prefix="tnt_", expiresIn=60 * 60 * 24 * 7)
        assert list(created) == [*ROW_KEYS[:6], "key", *ROW_KEYS[6:]]
        key = created["key"]
        assert key.startswith("tnt_") and len(key) == 4 + 64 and key[4:].isalpha()
        assert (created["start"], created["prefix"], created["name"]) == (key[:6], "tnt_", "deploy")
        assert (created["referenceId"], created["organizationId"], created["configId"]) == (
            ann.id,
            acme["id"],
            "default",
        )
        assert created["enabled"] is True and created["requestCount"] == 0 and created["permissions"] is None
        expires = dt.datetime.fromisoformat(created["expiresAt"].replace("Z", "+00:00"))
        assert abs((expires - dt.datetime.now(dt.UTC)).total_seconds() - 7 * 86400) < 60
        # Never again: get and list show the row without any key.
        got = (await key_call(client, ann, "GET", "get", params={"id": created["id"]})).json()
        assert list(got) == ROW_KEYS and got["id"] == created["id"]
        listed = (await key_call(client, ann, "GET", "list")).json()
        assert listed == {"apiKeys": [got], "total": 1}


async def test_create_refusals(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        await create_org(client, ann, "Acme")

        async def refused(body: object) -> tuple[int, str | None]:
            return failure(await key_call(client, ann, "POST", "create", json=body))

        assert failure(await key_call(client, None, "POST", "create", json={})) == (401, "UNAUTHORIZED_SESSION")
        assert await refused({"name": ""}) == (200, None)  # Better Auth checks the length of a non-empty name only
        assert await refused({"name": "x" * 33}) == (400, "INVALID_NAME_LENGTH")
        assert await refused({"name": 5}) == (400, "VALIDATION_ERROR")
        assert await refused({"prefix": "no spaces"}) == (400, "VALIDATION_ERROR")
        assert await refused({"prefix": "p" * 33}) == (400, "INVALID_PREFIX_LENGTH")
        assert await refused({"expiresIn": 60}) == (400, "EXPIRES_IN_IS_TOO_SMALL")
        assert await refused({"expiresIn": 86400 * 366}) == (400, "EXPIRES_IN_IS_TOO_LARGE")
        assert await refused({"expiresIn": 0}) == (400, "VALIDATION_ERROR")
        assert await refused({"metadata": {"team": "ops"}}) == (400, "METADATA_DISABLED")
        for server_only in ({"rateLimitMax": 5}, {"rateLimitEnabled": False}, {"remaining": 3}, {"refillAmount": 1}):
            assert await refused(server_only) == (400, "SERVER_ONLY_PROPERTY"), server_only
        assert await refused({"userId": ann.id}) == (401, "UNAUTHORIZED_SESSION")
        assert await refused({"permissions": {"nope": ["read"]}}) == (400, "INVALID_PERMISSIONS")
        assert await refused({"permissions": {"projects": ["fly"]}}) == (400, "INVALID_PERMISSIONS")
        assert await refused({"permissions": ["projects"]}) == (400, "INVALID_PERMISSIONS")
        assert await refused({"organizationId": "00000000-0000-0000-0000-000000000000"}) == (
            403,
            "USER_NOT_MEMBER_OF_ORGANIZATION",
        )
        assert await refused({"organizationId": "not-an-id"}) == (403, "USER_NOT_MEMBER_OF_ORGANIZATION")


async def test_metadata_when_enabled(make_client) -> None:
    async with make_client(
        auth=NO_VERIFICATION, base_url=BASE, api_key=ApiKeySettings(TENANTRY_API_KEY_METADATA=True)
    ) as client:
        ann = await new_user(client, "ann@example.com")
        created = await create_key(client, ann, metadata={"team": "ops"})
        assert created["metadata"] == {"team": "ops"}
        r = await key_call(client, ann, "POST", "update", json={"keyId": created["id"], "metadata": {"team": "dev"}})
        assert r.json()["metadata"] == {"team": "dev"}
        r = await key_call(client, ann, "POST", "update", json={"keyId": created["id"], "metadata": "text"})
        assert failure(r) == (400, "INVALID_METADATA_TYPE")


async def test_update_get_list_delete_are_owner_only(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        bob = await new_user(client, "bob@example.com")
        acme = await create_org(client, ann, "Acme")
        await join(client, ann, acme, bob, "member")
        mine = await create_key(client, ann, name="mine")
        # Another user never finds it: 404 on get, update and delete; absent from their list.
        assert failure(await key_call(client, bob, "GET", "get", params={"id": mine["id"]})) == (404, "KEY_NOT_FOUND")
        r = await key_call(client, bob, "POST", "update", json={"keyId": mine["id"], "name": "stolen"})
        assert failure(r) == (404, "KEY_NOT_FOUND")
        assert failure(await key_call(client, bob, "POST", "delete", json={"keyId": mine["id"]})) == (
            404,
            "KEY_NOT_FOUND",
        )
        assert (await key_call(client, bob, "GET", "list")).json() == {"apiKeys": [], "total": 0}
        assert failure(await key_call(client, None, "GET", "list")) == (401, "UNAUTHORIZED")
        assert (await key_call(client, ann, "GET", "get", params={"id": mine["id"]})).json()["name"] == "mine"

        # Update: name, enabled, expiry, scopes; server-only fields and empty updates refused.
        async def update(**body: object) -> httpx.Response:
            return await key_call(client, ann, "POST", "update", json={"keyId": mine["id"], **body})

        r = await update(name="renamed", enabled=False, expiresIn=86400 * 3, permissions={"projects": ["read"]})
        body = r.json()
        assert (body["name"], body["enabled"], body["permissions"]) == ("renamed", False, {"projects": ["read"]})
        assert body["expiresAt"] is not None and "key" not in body
        r = await update(expiresIn=None, permissions=None)
        assert (r.json()["expiresAt"], r.json()["permissions"]) == (None, None)
        assert failure(await update()) == (400, "NO_VALUES_TO_UPDATE")
        assert failure(await update(rateLimitMax=100)) == (400, "SERVER_ONLY_PROPERTY")
        assert failure(await update(name="x" * 40)) == (400, "INVALID_NAME_LENGTH")
        assert failure(await update(userId=bob.id, name="a")) == (401, "UNAUTHORIZED_SESSION")
        assert failure(await key_call(client, ann, "POST", "update", json={"name": "a"})) == (400, "VALIDATION_ERROR")
        assert failure(await key_call(client, None, "POST", "update", json={"keyId": mine["id"], "name": "a"})) == (
            401,
            "UNAUTHORIZED_SESSION",
        )

        # List: sorted, paged, by organization.
        second = await create_key(client, ann, name="b-second", organizationId=None)
        r = await key_call(client, ann, "GET", "list", params={"sortBy": "name", "sortDirection": "desc"})
        assert [k["name"] for k in r.json()["apiKeys"]] == ["renamed", "b-second"]
        r = await key_call(client, ann, "GET", "list", params={"limit": "1", "offset": "1"})
        assert r.json()["total"] == 2 and (r.json()["limit"], r.json()["offset"]) == (1, 1)
        assert [k["id"] for k in r.json()["apiKeys"]] == [second["id"]]
        r = await key_call(client, ann, "GET", "list", params={"organizationId": acme["id"]})
        assert [k["id"] for k in r.json()["apiKeys"]] == [mine["id"]]
        assert failure(await key_call(client, ann, "GET", "list", params={"limit": "-1"})) == (400, "VALIDATION_ERROR")
        assert failure(await key_call(client, ann, "GET", "list", params={"sortBy": "key"})) == (
            400,
            "VALIDATION_ERROR",
        )

        assert (await key_call(client, ann, "POST", "delete", json={"keyId": mine["id"]})).json() == {"success": True}
        assert failure(await key_call(client, ann, "GET", "get", params={"id": mine["id"]})) == (404, "KEY_NOT_FOUND")


async def test_verify(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        vic = await new_user(client, "vic@example.com")
        acme = await create_org(client, ann, "Acme")
        await join(client, ann, acme, vic, "viewer")
        scoped = await create_key(client, ann, permissions={"projects": ["read", "create"]})

        async def verify(key: str, **extra: object) -> dict[str, object]:
            r = await key_call(client, None, "POST", "verify", json={"key": key, **extra})
            assert r.status_code == 200, r.text
            data: dict[str, object] = r.json()
            return data

        answer = await verify(scoped["key"])
        assert (answer["valid"], answer["error"]) == (True, None)
        assert isinstance(answer["key"], dict) and answer["key"]["id"] == scoped["id"] and "key" not in answer["key"]
        assert (await verify(scoped["key"], permissions={"projects": ["create"]}))["valid"] is True
        refused = await verify(scoped["key"], permissions={"projects": ["delete"]})
        assert refused == {
            "valid": False,
            "error": {"message": "API Key not found", "code": "KEY_NOT_FOUND"},
            "key": None,
        }
        # The role counts too: a viewer's unscoped key may not create.
        viewer_key = await create_key(client, vic, organizationId=acme["id"])
        assert (await verify(viewer_key["key"], permissions={"projects": ["read"]}))["valid"] is True
        assert (await verify(viewer_key["key"], permissions={"projects": ["create"]}))["valid"] is False
        wrong = await verify("wrong")
        assert wrong == {
            "valid": False,
            "error": {"message": "Invalid API key.", "code": "INVALID_API_KEY"},
            "key": None,
        }
        assert failure(await key_call(client, None, "POST", "verify", json={})) == (400, "VALIDATION_ERROR")


async def test_delete_all_expired_keys(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        ann = await new_user(client, "ann@example.com")
        bob = await new_user(client, "bob@example.com")
        old = await create_key(client, ann)
        fresh = await create_key(client, ann)
        bobs = await create_key(client, bob)
        past = ts(client, dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        for key_id in (old["id"], bobs["id"]):
            await sql(client, f"UPDATE {table(client)} SET expires_at = ? WHERE id = ?", past, key_id)
        r = await key_call(client, ann, "POST", "delete-all-expired-api-keys")
        assert r.json() == {"success": True, "error": None}
        remaining = {row[0] for row in await sql(client, f"SELECT id FROM {table(client)}")}
        assert remaining == {fresh["id"], bobs["id"]}  # only the caller's expired keys go
        r = await key_call(client, None, "POST", "verify", json={"key": fresh["key"]})
        assert r.json()["valid"] is True


def test_tables_in_both_presets() -> None:
    schema = seed_schema()
    for preset in ("tenantry", "better-auth"):
        tables = app_tables(schema, Settings(auth=AuthSettings(TENANTRY_AUTH_TABLES=preset)), "postgresql")
        keys = tables.metadata.tables[TABLE_NAMES[preset]]
        names = {c.name for c in keys.columns}
        if preset == "better-auth":
            assert {"referenceId", "rateLimitTimeWindow", "lastRequest", "organizationId", "configId"} <= names
        else:
            assert {"reference_id", "rate_limit_time_window", "last_request", "organization_id", "config_id"} <= names
            assert {fk.column.table.name for fk in keys.foreign_keys} == {"users", "organizations"}
