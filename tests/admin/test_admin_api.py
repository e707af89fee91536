"""The admin plugin's endpoints on both databases: who may call them, users, roles, passwords."""

from __future__ import annotations

from typing import Any

import pytest

from tenantry.auth import Authentication
from tests.admin.helpers import SETTINGS, password_sign_in, superuser
from tests.audit.helpers import audit_rows, person
from tests.auth.helpers import BASE, ORIGIN, runtime, sql

pytestmark = pytest.mark.asyncio

# Every admin endpoint with a body a superuser could send, and the code a non-admin gets.
REFUSALS: list[tuple[str, str, dict[str, Any], str]] = [
    ("GET", "/admin/list-users", {}, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS"),
    ("GET", "/admin/get-user?id=x", {}, "YOU_ARE_NOT_ALLOWED_TO_GET_USER"),
    ("POST", "/admin/create-user", {"email": "n@example.com", "name": "N"}, "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS"),
    ("POST", "/admin/update-user", {"userId": "x", "data": {"name": "Z"}}, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS"),
    ("POST", "/admin/set-role", {"userId": "x", "role": "admin"}, "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE"),
    ("POST", "/admin/ban-user", {"userId": "x"}, "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS"),
    ("POST", "/admin/unban-user", {"userId": "x"}, "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS"),
    ("POST", "/admin/list-user-sessions", {"userId": "x"}, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS"),
    ("POST", "/admin/revoke-user-session", {"sessionToken": "x"}, "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS"),
    ("POST", "/admin/revoke-user-sessions", {"userId": "x"}, "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS"),
    ("POST", "/admin/impersonate-user", {"userId": "x"}, "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS"),
    ("POST", "/admin/remove-user", {"userId": "x"}, "YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS"),
    (
        "POST",
        "/admin/set-user-password",
        {"userId": "x", "newPassword": "x" * 12},
        "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD",
    ),
    ("GET", "/admin/list-organizations", {}, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS"),
]


async def test_non_admins_are_refused_everywhere(make_client: Any) -> None:
    async with make_client(auth=SETTINGS, base_url=BASE) as client:
        nobody = await person(client, "nobody@example.com", org="acme")  # an organization admin, not a superuser
        for method, path, body, code in REFUSALS:
            url = "/api/auth" + path
            anonymous = await client.request(method, url, json=body or None, headers=ORIGIN)
            assert anonymous.status_code == 401, (path, anonymous.text)
            refused = await client.request(method, url, json=body or None, headers=nobody.headers)
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json()["code"] == code, path
        allowed = await client.post(
            "/api/auth/admin/has-permission", json={"permissions": {"user": ["list"]}}, headers=nobody.headers
        )
        assert allowed.json() == {"error": None, "success": False}
        # Nothing was written by the refused calls.
        assert [r["action"] for r in await audit_rows(client) if r["action"].startswith("admin")] == []


async def test_superuser_lists_searches_and_manages_users(make_client: Any) -> None:
    async with make_client(auth=SETTINGS, base_url=BASE) as client:
        root = await superuser(client)
        for name in ("ada", "grace", "linus"):
            await person(client, f"{name}@example.com")
        listed = await client.get("/api/auth/admin/list-users", params={"limit": 2}, headers=root.headers)
        assert listed.status_code == 200, listed.text
        body = listed.json()
        assert body["total"] == 4 and body["limit"] == 2 and len(body["users"]) == 2 and "offset" not in body
        assert body["users"][0]["role"] == "admin" and body["users"][1]["role"] == "user"
        assert body["users"][1]["banned"] is False
        search = {"searchValue": "GRA", "searchField": "email", "searchOperator": "contains"}
        found = (await client.get("/api/auth/admin/list-users", params=search, headers=root.headers)).json()
        assert [u["email"] for u in found["users"]] == ["grace@example.com"] and found["total"] == 1
        # A literal wildcard matches only itself.
        none = await client.get("/api/auth/admin/list-users", params={"searchValue": "%"}, headers=root.headers)
        assert none.json()["total"] == 0
        admins = await client.get(
            "/api/auth/admin/list-users", params={"filterField": "role", "filterValue": "admin"}, headers=root.headers
        )
        assert [u["email"] for u in admins.json()["users"]] == ["root@example.com"]
        page = await client.get(
            "/api/auth/admin/list-users",
            params={"sortBy": "email", "sortDirection": "desc", "limit": "2", "offset": "1"},
            headers=root.headers,
        )
        assert [u["email"] for u in page.json()["users"]] == ["linus@example.com", "grace@example.com"]
        for odd in ({"limit": "1e400"}, {"offset": "nan"}, {"limit": "-3"}, {"offset": str(10**30)}):
            answered = await client.get("/api/auth/admin/list-users", params=odd, headers=root.headers)
            assert answered.status_code == 200, (odd, answered.text)
        for odd_filter in (
            {"filterField": "banned", "filterValue": "maybe"},
            {"filterField": "id", "filterValue": "x"},
        ):
            answered = await client.get("/api/auth/admin/list-users", params=odd_filter, headers=root.headers)
            assert answered.status_code == 200 and answered.json()["total"] == 0, (odd_filter, answered.text)
        several = [("filterField", "email"), ("filterOperator", "in")]
        several += [("filterValue", "ada@example.com"), ("filterValue", "linus@example.com")]
        both = await client.get("/api/auth/admin/list-users", params=several, headers=root.headers)
        assert sorted(u["email"] for u in both.json()["users"]) == ["ada@example.com", "linus@example.com"]
        banned_filter = {"filterField": "banned", "filterValue": "false"}
        assert (await client.get("/api/auth/admin/list-users", params=banned_filter, headers=root.headers)).json()[
            "total"
        ] == 4
        bad = await client.get("/api/auth/admin/list-users", params={"sortBy": "password"}, headers=root.headers)
        assert bad.json() == {"users": [], "total": 0}
        bad_enum = await client.get("/api/auth/admin/list-users", params={"searchField": "id"}, headers=root.headers)
        assert bad_enum.status_code == 400 and bad_enum.json()["code"] == "VALIDATION_ERROR"

        created = await client.post(
            "/api/auth/admin/create-user",
            json={
                "email": "New@Example.com",
                "name": "New",
                "password": "Brand-New-Pass-1",
                "data": {"emailVerified": True},
            },
            headers=root.headers,
        )
        assert created.status_code == 200, created.text
        new = created.json()["user"]
        assert new["email"] == "new@example.com" and new["role"] == "user" and new["emailVerified"] is True
        assert (await password_sign_in(client, "new@example.com", "Brand-New-Pass-1")).status_code == 200
        again = await client.post(
            "/api/auth/admin/create-user", json={"email": "new@example.com", "name": "N"}, headers=root.headers
        )
        assert again.json()["code"] == "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"
        bad_role = await client.post(
            "/api/auth/admin/create-user",
            json={"email": "x@example.com", "name": "X", "role": "god"},
            headers=root.headers,
        )
        assert bad_role.json()["code"] == "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE"

        got = await client.get("/api/auth/admin/get-user", params={"id": new["id"]}, headers=root.headers)
        assert got.json()["email"] == "new@example.com"
        missing = await client.get("/api/auth/admin/get-user", params={"id": "nope"}, headers=root.headers)
        assert missing.status_code == 404 and missing.json()["code"] == "USER_NOT_FOUND"

        updated = await client.post(
            "/api/auth/admin/update-user", json={"userId": new["id"], "data": {"name": "Renamed"}}, headers=root.headers
        )
        assert updated.status_code == 200 and updated.json()["name"] == "Renamed"
        for data, code in (
            ({}, "NO_DATA_TO_UPDATE"),
            ({"password": "x"}, "PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER"),
            ({"id": "x"}, "USER_ID_CANNOT_BE_UPDATED"),
            ({"email": "grace@example.com"}, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"),
        ):
            refused = await client.post(
                "/api/auth/admin/update-user", json={"userId": new["id"], "data": data}, headers=root.headers
            )
            assert refused.status_code == 400 and refused.json()["code"] == code

        promoted = await client.post(
            "/api/auth/admin/set-role", json={"userId": new["id"], "role": ["admin", "user"]}, headers=root.headers
        )
        assert promoted.json()["user"]["role"] == "admin,user"
        # The platform role is not the organization role: the seed's users.role column is untouched.
        table = runtime(client).get(Authentication).ctx.tables.users.name
        stored = await sql(client, f"SELECT role, platform_role FROM {table} WHERE email = ?", "new@example.com")
        assert tuple(stored[0]) == ("member", "admin,user")

        changed = await client.post(
            "/api/auth/admin/set-user-password",
            json={"userId": new["id"], "newPassword": "Another-Pass-22"},
            headers=root.headers,
        )
        assert changed.json() == {"status": True}
        short = await client.post(
            "/api/auth/admin/set-user-password", json={"userId": new["id"], "newPassword": "x"}, headers=root.headers
        )
        assert short.json()["code"] == "PASSWORD_TOO_SHORT"

        self_removal = await client.post("/api/auth/admin/remove-user", json={"userId": root.id}, headers=root.headers)
        assert self_removal.json()["code"] == "YOU_CANNOT_REMOVE_YOURSELF"
        removed = await client.post("/api/auth/admin/remove-user", json={"userId": new["id"]}, headers=root.headers)
        assert removed.json() == {"success": True}
        assert await runtime(client).get(Authentication).ctx.store.user_by_email("new@example.com") is None

        granted = await client.post(
            "/api/auth/admin/has-permission", json={"permissions": {"user": ["ban"]}}, headers=root.headers
        )
        assert granted.json() == {"error": None, "success": True}
        never = await client.post(
            "/api/auth/admin/has-permission",
            json={"permissions": {"user": ["impersonate-admins"]}},
            headers=root.headers,
        )
        assert never.json()["success"] is False
        empty = await client.post("/api/auth/admin/has-permission", json={}, headers=root.headers)
        assert empty.status_code == 400

        rows = await audit_rows(client)
        update = next(r for r in rows if r["action"] == "admin_user_update")
        assert (update["user_id"], update["resource_id"]) == (root.id, new["id"])
        assert (update["old_values"], update["new_values"]) == ({"name": "New"}, {"name": "Renamed"})
        actions = [r["action"] for r in rows]
        for action in (
            "admin_user_create",
            "admin_user_update",
            "admin_set_role",
            "admin_set_password",
            "admin_user_remove",
        ):
            assert action in actions


async def test_superuser_lists_organizations(make_client: Any) -> None:
    async with make_client(auth=SETTINGS, base_url=BASE) as client:
        root = await superuser(client)
        await person(client, "a@example.com", org="acme-corp")
        await person(client, "b@example.com", org="globex")
        listed = await client.get("/api/auth/admin/list-organizations", headers=root.headers)
        assert listed.status_code == 200, listed.text
        body = listed.json()
        assert body["total"] == 2 and {o["slug"] for o in body["organizations"]} == {"acme-corp", "globex"}
        assert all(o["members"] == 1 for o in body["organizations"])
        found = await client.get(
            "/api/auth/admin/list-organizations", params={"searchValue": "ACME"}, headers=root.headers
        )
        assert [o["slug"] for o in found.json()["organizations"]] == ["acme-corp"]
        bad = await client.get("/api/auth/admin/list-organizations", params={"limit": "x"}, headers=root.headers)
        assert bad.status_code == 400


async def test_users_cannot_make_themselves_superusers_or_unban_themselves(make_client: Any) -> None:
    async with make_client(auth=SETTINGS, base_url=BASE) as client:
        sneaky = {"platformRole": "admin", "role": "admin", "banned": False, "banReason": "x", "impersonatedBy": "x"}
        signed_up = await client.post(
            "/api/auth/sign-up/email",
            json={"email": "mal@example.com", "password": "Password-One-111", "name": "Mal", **sneaky},
            headers=ORIGIN,
        )
        assert signed_up.status_code == 200, signed_up.text
        user = signed_up.json()["user"]
        assert user["platformRole"] is None and user["banned"] is False and user["banReason"] is None
        token = {"authorization": f"Bearer {signed_up.json()['token']}", **ORIGIN}
        await client.post("/api/auth/update-user", json=sneaky, headers=token)
        session = (await client.get("/api/auth/get-session", headers=token)).json()
        assert session["user"]["platformRole"] is None and session["session"]["impersonatedBy"] is None
        refused = await client.get("/api/auth/admin/list-users", headers=token)
        assert refused.status_code == 403
