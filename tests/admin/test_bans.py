"""Bans on both databases: sessions revoked at once, sign-in refused, unbans and expired bans lift."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tenantry.auth import Authentication
from tests.admin.helpers import SETTINGS, password_sign_in, superuser
from tests.audit.helpers import audit_rows, person
from tests.auth.helpers import BASE, runtime, sql, ts

pytestmark = pytest.mark.asyncio

BANNED = {
    "message": "You have been banned from this application. Please contact support if you believe this is an error.",
    "code": "BANNED_USER",
}


async def test_ban_revokes_sessions_and_refuses_sign_in_until_unbanned(make_client: Any) -> None:
    async with make_client(auth=SETTINGS, base_url=BASE) as client:
        root = await superuser(client)
        eve = await person(client, "eve@example.com", org="eve-co")
        assert (await client.get("/api/auth/get-session", headers=eve.headers)).json() is not None
        self_ban = await client.post("/api/auth/admin/ban-user", json={"userId": root.id}, headers=root.headers)
        assert self_ban.status_code == 400 and self_ban.json()["code"] == "YOU_CANNOT_BAN_YOURSELF"
        wrong = await client.post(
            "/api/auth/admin/ban-user", json={"userId": eve.id, "banExpiresIn": "soon"}, headers=root.headers
        )
        assert wrong.status_code == 400 and wrong.json()["code"] == "VALIDATION_ERROR"

        banned = await client.post(
            "/api/auth/admin/ban-user", json={"userId": eve.id, "banReason": "spam"}, headers=root.headers
        )
        assert banned.status_code == 200, banned.text
        user = banned.json()["user"]
        assert user["banned"] is True and user["banReason"] == "spam" and user["banExpires"] is None
        # Her session is gone at once.
        assert (await client.get("/api/auth/get-session", headers=eve.headers)).json() is None
        # No new session by password.
        refused = await password_sign_in(client, "eve@example.com")
        assert refused.status_code == 403 and refused.json() == BANNED
        listed = await client.post("/api/auth/admin/list-user-sessions", json={"userId": eve.id}, headers=root.headers)
        assert listed.json() == {"sessions": []}

        unbanned = await client.post("/api/auth/admin/unban-user", json={"userId": eve.id}, headers=root.headers)
        assert unbanned.json()["user"]["banned"] is False and unbanned.json()["user"]["banReason"] is None
        assert (await password_sign_in(client, "eve@example.com")).status_code == 200

        rows = [r for r in await audit_rows(client) if r["action"] in ("user_ban", "user_unban")]
        assert [(r["action"], r["user_id"], r["resource_id"]) for r in rows] == [
            ("user_ban", root.id, eve.id),
            ("user_unban", root.id, eve.id),
        ]
        assert rows[0]["new_values"]["reason"] == "spam" and rows[0]["new_values"]["sessions"] == 1


async def test_a_ban_with_an_expiry_lifts_itself(make_client: Any) -> None:
    async with make_client(auth=SETTINGS, base_url=BASE) as client:
        root = await superuser(client)
        eve = await person(client, "eve@example.com")
        banned = await client.post(
            "/api/auth/admin/ban-user", json={"userId": eve.id, "banExpiresIn": 3600}, headers=root.headers
        )
        expires = dt.datetime.fromisoformat(banned.json()["user"]["banExpires"].replace("Z", "+00:00"))
        assert dt.timedelta(minutes=59) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=1)
        assert (await password_sign_in(client, "eve@example.com")).status_code == 403
        # An hour later (moved back in the database): the next sign-in lifts the ban.
        table = runtime(client).get(Authentication).ctx.tables.users.name
        past = ts(client, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        await sql(client, f"UPDATE {table} SET ban_expires = ? WHERE email = ?", past, "eve@example.com")
        assert (await password_sign_in(client, "eve@example.com")).status_code == 200
        user = await runtime(client).get(Authentication).ctx.store.user_by_email("eve@example.com")
        assert user is not None and user.plugin["banned"] is False and user.plugin["banExpires"] is None


async def test_ban_through_update_user_also_revokes_sessions(make_client: Any) -> None:
    async with make_client(auth=SETTINGS, base_url=BASE) as client:
        root = await superuser(client)
        eve = await person(client, "eve@example.com")
        updated = await client.post(
            "/api/auth/admin/update-user",
            json={"userId": eve.id, "data": {"banned": True, "banReason": "abuse"}},
            headers=root.headers,
        )
        assert updated.status_code == 200 and updated.json()["banned"] is True
        assert (await client.get("/api/auth/get-session", headers=eve.headers)).json() is None
        assert (await password_sign_in(client, "eve@example.com")).json()["code"] == "BANNED_USER"


async def test_a_ban_also_stops_the_users_api_keys(make_client: Any) -> None:
    async with make_client(auth=SETTINGS, base_url=BASE) as client:
        root = await superuser(client)
        eve = await person(client, "eve@example.com", org="eve-co")
        made = await client.post("/api/auth/api-key/create", json={"name": "ci"}, headers=eve.headers)
        assert made.status_code == 200, made.text
        with_key = {"x-api-key": made.json()["key"]}
        assert (await client.get("/api/projects", headers=with_key)).status_code == 200
        await client.post("/api/auth/admin/ban-user", json={"userId": eve.id}, headers=root.headers)
        uses = await _key_uses(client)
        refused = await client.get("/api/projects", headers=with_key)
        assert refused.status_code == 403 and refused.json()["code"] == "BANNED_USER"
        assert await _key_uses(client) == uses  # refused before it counts as a use
        await client.post("/api/auth/admin/unban-user", json={"userId": eve.id}, headers=root.headers)
        assert (await client.get("/api/projects", headers=with_key)).status_code == 200


async def _key_uses(client: Any) -> int:
    rows = await sql(client, "SELECT count(*) FROM audit_logs WHERE action = 'api_key_use'")
    return int(rows[0][0])
