"""Sign-up, sign-in, sessions and their cookies, as Better Auth's protocol describes them."""

from __future__ import annotations

import datetime as dt

from tests.auth.helpers import (
    BASE,
    NO_VERIFICATION,
    ORIGIN,
    PASSWORD,
    cookie_value,
    expected_signature,
    now,
    set_cookies,
    sign_in,
    sign_up,
    sql,
    ts,
)

# Core fields, the seed's additional ones, then the plugins' (two-factor, admin) as Better Auth adds them.
USER_KEYS = [
    *("name", "email", "emailVerified", "image", "createdAt", "updatedAt", "avatar_url", "org_id", "role"),
    *("twoFactorEnabled", "platformRole", "banned", "banReason", "banExpires", "id"),
]
SESSION_KEYS = [
    "expiresAt",
    "token",
    "createdAt",
    "updatedAt",
    "ipAddress",
    "userAgent",
    "userId",
    "activeOrganizationId",
    "impersonatedBy",
    "id",
]


async def test_sign_up_signs_in_with_better_auth_cookie(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        r = await sign_up(client, email="Cap@Example.COM", avatar_url="https://img/a.png", role="admin")
        assert r.status_code == 200, r.text
        body = r.json()
        assert list(body) == ["token", "user"]
        user = body["user"]
        assert list(user) == USER_KEYS
        assert user["email"] == "cap@example.com" and user["emailVerified"] is False and user["image"] is None
        assert user["avatar_url"] == "https://img/a.png"
        assert user["role"] == "member"  # a user never sets their own role
        header = set_cookies(r)[0]
        token = body["token"]
        assert len(token) == 32 and token.isalnum()
        sig = expected_signature(token).replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
        assert header == f"better-auth.session_token={token}.{sig}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"
        assert r.headers["set-auth-token"] == f"{token}.{sig}"
        session = await client.get("/api/auth/get-session")
        assert session.status_code == 200
        assert session.headers["cache-control"] == "no-store" and session.headers["pragma"] == "no-cache"
        data = session.json()
        assert list(data["session"]) == SESSION_KEYS
        assert data["session"]["token"] == token and data["user"]["id"] == user["id"]
        expires = dt.datetime.fromisoformat(data["session"]["expiresAt"].replace("Z", "+00:00"))
        assert abs((expires - now()).total_seconds() - 7 * 86400) < 60
        # The same user is the CRUD API's users row.
        row = (await client.get(f"/api/users/{user['id']}")).json()
        assert row["email"] == "cap@example.com" and row["avatar_url"] == "https://img/a.png"


async def test_sign_up_errors(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        r = await client.post("/api/auth/sign-up/email", json={"email": "nope", "password": PASSWORD, "name": "x"})
        assert (r.status_code, r.json()) == (
            400,
            {"message": "[body.email] Invalid email address", "code": "VALIDATION_ERROR"},
        )
        r = await client.post("/api/auth/sign-up/email", json={"email": "a@b.co", "password": PASSWORD})
        assert r.json() == {
            "message": "[body.name] Invalid input: expected string, received undefined",
            "code": "VALIDATION_ERROR",
        }
        r = await client.post("/api/auth/sign-up/email", json={"email": "a@b.co", "password": "short", "name": "x"})
        assert (r.status_code, r.json()) == (400, {"message": "Password too short", "code": "PASSWORD_TOO_SHORT"})
        r = await client.post("/api/auth/sign-up/email", json={"email": "a@b.co", "password": "x" * 129, "name": "x"})
        assert r.json()["code"] == "PASSWORD_TOO_LONG"
        r = await client.post(
            "/api/auth/sign-up/email", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert (r.status_code, r.json()) == (400, {"message": "Invalid JSON in request body", "code": "BAD_REQUEST"})
        r = await client.post("/api/auth/sign-up/email", json=[1, 2])
        assert r.status_code == 400 and r.json()["code"] == "BODY_MUST_BE_AN_OBJECT"
        r = await client.post("/api/auth/sign-up/email", json={"email": "a@b.co", "password": 12345678, "name": "x"})
        assert r.json()["message"] == "[body.password] Invalid input: expected string, received number"
        assert (await sign_up(client)).status_code == 200
        dup = await sign_up(client, email="CAP@example.com")
        assert (dup.status_code, dup.json()) == (
            422,
            {"message": "User already exists. Use another email.", "code": "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"},
        )
        # A form body works too, as with Better Auth.
        form = await client.post(
            "/api/auth/sign-up/email", data={"email": "form@b.co", "password": PASSWORD, "name": "Form"}, headers=ORIGIN
        )
        assert form.status_code == 200, form.text


async def test_duplicate_sign_up_is_hidden_when_verification_is_required(make_client) -> None:
    async with make_client(base_url=BASE) as client:
        first = await sign_up(client)
        assert first.status_code == 200 and first.json()["token"] is None and not set_cookies(first)
        again = await sign_up(client)
        assert again.status_code == 200 and again.json()["token"] is None
        assert again.json()["user"]["id"] != first.json()["user"]["id"]  # synthetic: reveals nothing
        assert len(await sql(client, "SELECT id FROM users")) == 1


async def test_sign_in(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        await sign_up(client)
        client.cookies.clear()
        wrong = await sign_in(client, password="Wrong-password-1")
        unknown = await sign_in(client, email="nobody@example.com")
        expected = {"message": "Invalid email or password", "code": "INVALID_EMAIL_OR_PASSWORD"}
        assert (wrong.status_code, wrong.json()) == (unknown.status_code, unknown.json()) == (401, expected)
        assert not set_cookies(wrong)
        ok = await sign_in(client, email="CAP@example.com")
        assert ok.status_code == 200
        assert list(ok.json()) == ["redirect", "token", "user"] and ok.json()["redirect"] is False
        redirect = await sign_in(client, callbackURL="/dashboard")
        assert redirect.json()["redirect"] is True and redirect.json()["url"] == "/dashboard"
        assert redirect.headers["location"] == "/dashboard" and redirect.status_code == 200
        bad = await sign_in(client, callbackURL="https://evil.example/steal")
        assert (bad.status_code, bad.json()["code"]) == (403, "INVALID_CALLBACK_URL")
        invalid = await sign_in(client, email="not-an-email")
        assert (invalid.status_code, invalid.json()["code"]) == (400, "INVALID_EMAIL")


async def test_remember_me_false(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        await sign_up(client)
        client.cookies.clear()
        r = await sign_in(client, rememberMe=False)
        headers = set_cookies(r)
        assert headers[0].endswith("; Path=/; HttpOnly; SameSite=Lax") and "Max-Age" not in headers[0]
        assert headers[1].startswith("better-auth.dont_remember=true.") and "Max-Age" not in headers[1]
        session = (await client.get("/api/auth/get-session")).json()["session"]
        expires = dt.datetime.fromisoformat(session["expiresAt"].replace("Z", "+00:00"))
        assert abs((expires - now()).total_seconds() - 86400) < 60


async def test_session_refresh_after_update_age(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        token = (await sign_up(client)).json()["token"]
        quiet = await client.get("/api/auth/get-session")
        assert not set_cookies(quiet)  # not due yet: no write, no new cookie
        # Pretend the session was issued two days ago: expiresAt = now + 5 d.
        await sql(
            client,
            "UPDATE auth_sessions SET expires_at = ? WHERE token = ?",
            ts(client, now() + dt.timedelta(days=5)),
            token,
        )
        no_refresh = await client.get("/api/auth/get-session", params={"disableRefresh": "true"})
        assert not set_cookies(no_refresh)
        refreshed = await client.get("/api/auth/get-session")
        assert cookie_value(refreshed) is not None and "Max-Age=604800" in set_cookies(refreshed)[0]
        expires = dt.datetime.fromisoformat(refreshed.json()["session"]["expiresAt"].replace("Z", "+00:00"))
        assert abs((expires - now()).total_seconds() - 7 * 86400) < 60
        assert refreshed.json()["session"]["token"] == token  # same token, extended


async def test_expired_and_revoked_sessions(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        token = (await sign_up(client)).json()["token"]
        await sql(
            client,
            "UPDATE auth_sessions SET expires_at = ? WHERE token = ?",
            ts(client, now() - dt.timedelta(seconds=1)),
            token,
        )
        r = await client.get("/api/auth/get-session")
        assert r.status_code == 200 and r.json() is None
        assert set_cookies(r) == [
            "better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
            "better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
            "better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
        ]
        assert await sql(client, "SELECT id FROM auth_sessions WHERE token = ?", token) == []
        # A forged signature is no session at all.
        client.cookies.set("better-auth.session_token", "abc.def")
        assert (await client.get("/api/auth/get-session")).json() is None
        assert (await client.post("/api/auth/get-session", headers=ORIGIN)).json()["code"] == (
            "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED"
        )


async def test_sign_out_revokes_immediately(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        await sign_up(client)
        cookie = client.cookies.get("better-auth.session_token")
        out = await client.post("/api/auth/sign-out", json={}, headers=ORIGIN)
        assert out.json() == {"success": True} and len(set_cookies(out)) == 3
        client.cookies.set("better-auth.session_token", cookie)
        assert (await client.get("/api/auth/get-session")).json() is None
        client.cookies.clear()
        assert (await client.post("/api/auth/sign-out", json={}, headers=ORIGIN)).json() == {"success": True}


async def test_bearer_token_on_auth_and_crud_routes(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE, TENANTRY_OPEN_API=False) as client:
        token = (await sign_up(client)).json()["token"]
        client.cookies.clear()
        assert (await client.get("/api/projects")).status_code == 401
        bearer = {"authorization": f"Bearer {token}"}
        assert (await client.get("/api/auth/get-session", headers=bearer)).json()["session"]["token"] == token
        no_org = await client.get("/api/projects", headers=bearer)
        assert (no_org.status_code, no_org.json()["code"]) == (403, "NO_ACTIVE_ORGANIZATION")
        created = await client.post("/api/organizations", json={"name": "Acme", "slug": "acme"}, headers=bearer)
        assert created.status_code == 201  # the creator becomes its admin, and it becomes active
        assert (await client.get("/api/projects", headers=bearer)).status_code == 200
        signed = {"authorization": f"Bearer {token}.{expected_signature(token)}"}
        assert (await client.get("/api/projects", headers=signed)).status_code == 200
        assert (await client.post("/api/auth/revoke-sessions", headers=bearer, json={})).json() == {"status": True}
        assert (await client.get("/api/projects", headers=bearer)).status_code == 401


async def test_cookie_writes_to_the_crud_api_need_a_trusted_origin(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE, TENANTRY_OPEN_API=False) as client:
        await sign_up(client)
        body = {"name": "Acme", "slug": "acme"}
        assert (await client.post("/api/organizations", json=body)).json()["code"] == "INVALID_ORIGIN"
        assert (
            await client.post("/api/organizations", json=body, headers={"origin": "https://evil.example"})
        ).status_code == 403
        assert (await client.post("/api/organizations", json=body, headers=ORIGIN)).status_code == 201
        assert (await client.get("/api/organizations")).status_code == 200  # reads need no origin


async def test_list_and_revoke_sessions(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        first = (await sign_up(client)).json()["token"]
        second = (await sign_in(client)).json()["token"]
        listed = (await client.get("/api/auth/list-sessions")).json()
        assert {s["token"] for s in listed} == {first, second}
        # Not fresh any more: created two days ago.
        await sql(
            client,
            "UPDATE auth_sessions SET created_at = ? WHERE token = ?",
            ts(client, now() - dt.timedelta(days=2)),
            second,
        )
        stale = await client.get("/api/auth/list-sessions")
        assert (stale.status_code, stale.json()) == (
            403,
            {"message": "Session is not fresh", "code": "SESSION_NOT_FRESH"},
        )
        # Someone else's token: "ok", and nothing happens.
        other = await client.post(
            "/api/auth/sign-up/email", json={"email": "o@b.co", "password": PASSWORD, "name": "O"}, headers=ORIGIN
        )
        other_token = other.json()["token"]
        client.cookies.clear()
        as_second = {"authorization": f"Bearer {second}"}
        r = await client.post("/api/auth/revoke-session", json={"token": other_token}, headers=as_second)
        assert r.json() == {"status": True}
        assert await sql(client, "SELECT id FROM auth_sessions WHERE token = ?", other_token) != []
        r = await client.post("/api/auth/revoke-session", json={"token": first}, headers=as_second)
        assert r.json() == {"status": True}
        assert await sql(client, "SELECT id FROM auth_sessions WHERE token = ?", first) == []
        third = (await sign_in(client)).json()["token"]
        client.cookies.clear()
        r = await client.post("/api/auth/revoke-other-sessions", json={}, headers={"authorization": f"Bearer {third}"})
        assert r.json() == {"status": True}
        rows = await sql(client, "SELECT token FROM auth_sessions WHERE token IN (?, ?)", second, third)
        assert [r[0] for r in rows] == [third]


async def test_update_user_and_change_password(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        await sign_up(client)
        r = await client.post(
            "/api/auth/update-user", json={"name": "New Name", "avatar_url": "https://i/b.png"}, headers=ORIGIN
        )
        assert r.json() == {"status": True} and cookie_value(r) is not None
        user = (await client.get("/api/auth/get-session")).json()["user"]
        assert (user["name"], user["avatar_url"]) == ("New Name", "https://i/b.png")
        r = await client.post("/api/auth/update-user", json={"email": "x@y.co"}, headers=ORIGIN)
        assert r.json() == {"message": "Email can not be updated", "code": "EMAIL_CAN_NOT_BE_UPDATED"}
        r = await client.post("/api/auth/update-user", json={"role": "admin"}, headers=ORIGIN)
        assert (r.status_code, r.json()["message"]) == (400, "No fields to update")
        wrong = await client.post(
            "/api/auth/change-password",
            json={"currentPassword": "nope-nope", "newPassword": "Another-Pass-2"},
            headers=ORIGIN,
        )
        assert (wrong.status_code, wrong.json()) == (400, {"message": "Invalid password", "code": "INVALID_PASSWORD"})
        other_device = (await sign_in(client)).json()["token"]
        changed = await client.post(
            "/api/auth/change-password",
            json={"currentPassword": PASSWORD, "newPassword": "Another-Pass-2", "revokeOtherSessions": True},
            headers=ORIGIN,
        )
        assert changed.status_code == 200 and changed.json()["token"] and cookie_value(changed)
        assert await sql(client, "SELECT id FROM auth_sessions WHERE token = ?", other_device) == []
        assert (await sign_in(client)).status_code == 401
        assert (await sign_in(client, password="Another-Pass-2")).status_code == 200


async def test_unknown_routes(make_client) -> None:
    async with make_client(base_url=BASE) as client:
        for method, path in (("GET", "/api/auth/nope"), ("GET", "/api/auth/ok/"), ("GET", "/api/auth/sign-in/email")):
            r = await client.request(method, path)
            assert (r.status_code, r.content, r.headers.get("content-type")) == (404, b"", None)
        assert (await client.get("/api/auth/ok")).json() == {"ok": True}
