"""Impersonation on both databases: a marked, short session; the admin's kept in a signed cookie
and restored; no admin powers or credential changes through it; audited for both sides."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from tenantry.auth import Authentication
from tests.admin.helpers import SETTINGS, superuser
from tests.audit.helpers import audit_rows, person
from tests.auth.helpers import BASE, ORIGIN, PASSWORD, cookie_value, runtime, sql, ts

pytestmark = pytest.mark.asyncio


async def _admin_in_browser(client: httpx.AsyncClient) -> str:
    """The superuser signed in with cookies (as a browser); returns their session token cookie."""
    signed = await client.post(
        "/api/auth/sign-in/email", json={"email": "root@example.com", "password": PASSWORD}, headers=ORIGIN
    )
    assert signed.status_code == 200, signed.text
    value = cookie_value(signed)
    assert value is not None
    return value


async def test_impersonation_round_trip(make_client: Any) -> None:
    async with make_client(auth=SETTINGS, base_url=BASE) as client:
        root = await superuser(client)
        eve = await person(client, "eve@example.com", org="eve-co")
        admin_cookie = await _admin_in_browser(client)
        started = await client.post("/api/auth/admin/impersonate-user", json={"userId": eve.id}, headers=ORIGIN)
        assert started.status_code == 200, started.text
        body = started.json()
        assert body["user"]["id"] == eve.id and body["session"]["impersonatedBy"] == root.id
        lifetime = dt.datetime.fromisoformat(body["session"]["expiresAt"].replace("Z", "+00:00")) - dt.datetime.now(
            dt.UTC
        )
        assert dt.timedelta(minutes=59) < lifetime <= dt.timedelta(hours=1)
        cookies = started.headers.get_list("set-cookie")
        assert any(c.startswith("better-auth.admin_session=") and "HttpOnly" in c for c in cookies)
        assert any(c.startswith("better-auth.dont_remember=") for c in cookies)

        # The browser is now Eve: get-session, the CRUD API (her organization) and the pages see her.
        now = (await client.get("/api/auth/get-session")).json()
        assert now["user"]["id"] == eve.id and now["session"]["impersonatedBy"] == root.id
        assert (await client.get("/api/projects")).status_code == 200
        # The impersonation is never extended by use.
        expires_before = now["session"]["expiresAt"]
        assert (await client.get("/api/auth/get-session")).json()["session"]["expiresAt"] == expires_before
        # Eve's own list of sessions does not show the one the admin opened.
        eve_view = await client.get("/api/auth/list-sessions", headers=eve.headers)
        assert [s.get("impersonatedBy") for s in eve_view.json()] == [None]

        # No admin powers through the impersonation, even to find the admin endpoints.
        for method, path, data in (
            ("GET", "/admin/list-users", None),
            ("POST", "/admin/impersonate-user", {"userId": root.id}),
            ("POST", "/admin/ban-user", {"userId": root.id}),
            ("POST", "/admin/set-role", {"userId": eve.id, "role": "admin"}),
        ):
            refused = await client.request(method, "/api/auth" + path, json=data, headers=ORIGIN)
            assert refused.status_code == 403, (path, refused.text)
        # Nor changes to Eve's credentials or account.
        for path, data in (
            ("/change-password", {"currentPassword": PASSWORD, "newPassword": "Taken-Over-123"}),
            ("/delete-user", {}),
            ("/change-email", {"newEmail": "mallory@example.com"}),
            ("/api-key/create", {"name": "backdoor"}),
            ("/two-factor/enable", {"password": PASSWORD}),
        ):
            refused = await client.post("/api/auth" + path, json=data, headers=ORIGIN)
            assert refused.status_code == 403 and refused.json()["code"] == "NOT_ALLOWED_WHILE_IMPERSONATING", path

        stopped = await client.post("/api/auth/admin/stop-impersonating", headers=ORIGIN)
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["user"]["id"] == root.id
        assert cookie_value(stopped) == admin_cookie
        assert any(c.startswith("better-auth.admin_session=;") for c in stopped.headers.get_list("set-cookie"))
        back = (await client.get("/api/auth/get-session")).json()
        assert back["user"]["id"] == root.id and back["session"]["impersonatedBy"] is None
        # The impersonation session is gone.
        sessions = runtime(client).get(Authentication).ctx.tables.sessions.name
        left = await sql(client, f"SELECT count(*) FROM {sessions} WHERE impersonated_by IS NOT NULL")
        assert left[0][0] == 0
        again = await client.post("/api/auth/admin/stop-impersonating", headers=ORIGIN)
        assert again.status_code == 400 and again.json() == {
            "message": "You are not impersonating anyone",
            "code": "YOU_ARE_NOT_IMPERSONATING_ANYONE",
        }

        rows = await audit_rows(client)
        mine = [(r["action"], r["user_id"], r["org_id"], r["resource_id"]) for r in rows if "impersonat" in r["action"]]
        assert mine == [
            ("impersonation_start", root.id, None, eve.id),
            ("user_impersonated", root.id, eve.org_id, eve.id),
            ("impersonation_stop", root.id, None, eve.id),
            ("user_impersonation_ended", root.id, eve.org_id, eve.id),
        ]
        # Eve's organization reads the rows about her in its own audit log.
        org_log = await client.get("/api/audit_logs", headers=eve.headers)
        assert {"user_impersonated", "user_impersonation_ended"} <= {r["action"] for r in org_log.json()}


async def test_admins_cannot_be_impersonated_and_bans_hold(make_client: Any) -> None:
    async with make_client(auth=SETTINGS, base_url=BASE) as client:
        root = await superuser(client)
        other = await superuser(client, "other-root@example.com")
        eve = await person(client, "eve@example.com")
        refused = await client.post("/api/auth/admin/impersonate-user", json={"userId": other.id}, headers=root.headers)
        assert refused.status_code == 403 and refused.json()["code"] == "YOU_CANNOT_IMPERSONATE_ADMINS"
        missing = await client.post("/api/auth/admin/impersonate-user", json={"userId": "x"}, headers=root.headers)
        assert missing.status_code == 404
        await client.post("/api/auth/admin/ban-user", json={"userId": eve.id}, headers=root.headers)
        banned = await client.post("/api/auth/admin/impersonate-user", json={"userId": eve.id}, headers=root.headers)
        assert banned.status_code == 403 and banned.json()["code"] == "BANNED_USER"


async def test_an_impersonation_ends_when_its_time_is_up(make_client: Any) -> None:
    async with make_client(auth=SETTINGS, base_url=BASE) as client:
        root = await superuser(client)
        eve = await person(client, "eve@example.com")
        started = await client.post("/api/auth/admin/impersonate-user", json={"userId": eve.id}, headers=root.headers)
        token = started.json()["session"]["token"]
        sessions = runtime(client).get(Authentication).ctx.tables.sessions.name
        past = ts(client, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        await sql(client, f"UPDATE {sessions} SET expires_at = ? WHERE token = ?", past, token)
        as_eve = {"authorization": f"Bearer {token}"}
        assert (await client.get("/api/auth/get-session", headers=as_eve)).json() is None
