"""The magic-link plugin over HTTP, on SQLite and PostgreSQL: links read from the mail outbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tenantry.auth import Authentication, AuthSettings
from tenantry.auth.errors import AuthError
from tenantry.auth.plugins.magic_link import MagicLinkSettings
from tenantry.auth.plugins.magic_link.tokens import identifier_of
from tenantry.auth.store import UserRecord
from tenantry.db import Connection
from tenantry.mail import list_outbox
from tests.audit.helpers import audit_rows
from tests.auth.helpers import BASE, NO_VERIFICATION, ORIGIN, cookie_value, runtime, sign_in, sign_up, sql, ts

SETTINGS: dict[str, Any] = {"base_url": BASE, "TENANTRY_OPEN_API": False}
ANN = "ann@example.com"


async def request_link(client: httpx.AsyncClient, email: str = ANN, **extra: Any) -> httpx.Response:
    return await client.post("/api/auth/sign-in/magic-link", json={"email": email, **extra}, headers=ORIGIN)


async def links(client: httpx.AsyncClient, to: str) -> list[str]:
    """Every magic link mailed to ``to``, newest first."""
    rt = runtime(client)
    return [m.url for m in await list_outbox(rt.db, rt.tables, to=to) if m.template == "magic_link" and m.url]


async def last_link(client: httpx.AsyncClient, to: str = ANN) -> str:
    found = await links(client, to)
    assert found, f"no magic link to {to}"
    return found[0]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE
    return f"{parts.path}?{parts.query}"


async def follow(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """Open the link as a browser without cookies would."""
    client.cookies.clear()
    return await client.get(path_of(url))


async def session_of(client: httpx.AsyncClient, response: httpx.Response) -> Any:
    token = cookie_value(response)
    assert token, response.headers
    client.cookies.clear()
    return (await client.get("/api/auth/get-session", headers={"cookie": f"better-auth.session_token={token}"})).json()


async def test_link_signs_in_once(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        ann = await sign_up(client, ANN, name="Ann")  # default settings: unverified until proven
        r = await request_link(client, callbackURL="/after")
        assert (r.status_code, r.json()) == (200, {"status": True})
        url = await last_link(client)
        assert re.fullmatch(rf"{BASE}/api/auth/magic-link/verify\?token=[A-Za-z]{{32}}&callbackURL=%2Fafter", url)

        used = await follow(client, url)
        assert (used.status_code, used.headers["location"]) == (302, f"{BASE}/after")
        session = await session_of(client, used)
        assert session["user"]["id"] == ann.json()["user"]["id"]
        assert session["user"]["emailVerified"] is True

        again = await follow(client, url)
        assert (again.status_code, again.headers["location"]) == (302, f"{BASE}/after?error=INVALID_TOKEN")
        assert cookie_value(again) is None


async def test_link_without_callback_answers_json(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        await request_link(client, name="Ann Example")
        token = parse_qs(urlsplit(await last_link(client)).query)["token"][0]
        client.cookies.clear()
        r = await client.get("/api/auth/magic-link/verify", params={"token": token})
        assert r.status_code == 200
        body = r.json()
        assert set(body) == {"token", "user", "session"}
        assert body["user"]["email"] == ANN and body["user"]["name"] == "Ann Example"
        assert body["session"]["token"] == body["token"] and body["session"]["userId"] == body["user"]["id"]
        assert (await session_of(client, r))["session"]["id"] == body["session"]["id"]
        # Used: without any callback, Better Auth sends the browser to the site's root with the error.
        client.cookies.clear()
        reused = await client.get("/api/auth/magic-link/verify", params={"token": token})
        assert (reused.status_code, reused.headers["location"]) == (302, f"{BASE}/?error=INVALID_TOKEN")
        unknown = await client.get("/api/auth/magic-link/verify", params={"token": "x" * 32, "callbackURL": "/a?b=1"})
        assert unknown.headers["location"] == f"{BASE}/a?b=1&error=INVALID_TOKEN"
        missing = await client.get("/api/auth/magic-link/verify")
        assert (missing.status_code, missing.json()["code"]) == (400, "VALIDATION_ERROR")


async def test_expired_link_refused(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        await request_link(client, callbackURL="/after", errorCallbackURL="/login")
        url = await last_link(client)
        table = runtime(client).get(Authentication).ctx.tables.verifications
        past = ts(client, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        token = parse_qs(urlsplit(url).query)["token"][0]
        await sql(client, f"UPDATE {table.name} SET expires_at = ? WHERE identifier = ?", past, identifier_of(token))
        r = await follow(client, url)
        assert (r.status_code, r.headers["location"]) == (302, f"{BASE}/login?error=INVALID_TOKEN")
        assert cookie_value(r) is None
        assert await sql(client, f"SELECT id FROM {table.name}") == []  # the expired row is gone
        assert await sql(client, "SELECT id FROM users") == []


async def test_expiry_is_configurable_and_token_hashed_at_rest(make_client) -> None:
    magic_link = MagicLinkSettings(TENANTRY_MAGIC_LINK_EXPIRES_IN=60)
    async with make_client(**SETTINGS, magic_link=magic_link) as client:
        before = dt.datetime.now(dt.UTC)
        await request_link(client)
        token = parse_qs(urlsplit(await last_link(client)).query)["token"][0]
        table = runtime(client).get(Authentication).ctx.tables.verifications
        [(identifier, value, expires)] = await sql(client, f"SELECT identifier, value, expires_at FROM {table.name}")
        assert identifier == identifier_of(token) and token not in identifier and token not in value
        expires_at = runtime(client).get(Authentication).ctx.store.ts_out(expires)
        assert expires_at is not None
        assert dt.timedelta(seconds=59) < expires_at - before < dt.timedelta(seconds=62)
        [mail] = await list_outbox(runtime(client).db, runtime(client).tables, to=ANN)
        assert "expires in 1 minute" in mail.text


async def test_new_user_created_verified(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        r = await request_link(client, "New@Example.com", name="Nia", callbackURL="/dash", newUserCallbackURL="/hello")
        assert r.json() == {"status": True}
        url = await last_link(client, "new@example.com")
        assert "newUserCallbackURL=%2Fhello" in url
        used = await follow(client, url)
        assert used.headers["location"] == f"{BASE}/hello"
        session = await session_of(client, used)
        user = session["user"]
        assert (user["email"], user["name"], user["emailVerified"]) == ("new@example.com", "Nia", True)
        accounts = await client.get(
            "/api/auth/list-accounts", headers={"cookie": f"better-auth.session_token={cookie_value(used)}"}
        )
        assert accounts.json() == []  # no password, no provider: the mailbox is the credential
        rows = await audit_rows(client)
        [signed_up] = [row for row in rows if row["action"] == "sign_up"]
        assert signed_up["new_values"] == {"email": "new@example.com", "name": "Nia", "method": "magic-link"}
        [signed_in] = [row for row in rows if row["action"] == "sign_in"]
        assert (signed_in["user_id"], signed_in["new_values"]) == (user["id"], {"method": "magic-link"})
        [requested] = [row for row in rows if row["action"] == "magic_link_request"]
        assert (requested["user_id"], requested["new_values"]) == (None, {"email": "new@example.com"})

        # The second time the user exists: callbackURL, not newUserCallbackURL.
        await request_link(client, "new@example.com", callbackURL="/dash", newUserCallbackURL="/hello")
        second = await follow(client, await last_link(client, "new@example.com"))
        assert second.headers["location"] == f"{BASE}/dash"
        assert len(await sql(client, "SELECT id FROM users")) == 1


async def test_existing_unverified_user_proven_and_stripped(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        # Someone registered Ann's address with their own password and never verified it.
        squatter = await sign_up(client, ANN, name="Not Ann")
        user_id = squatter.json()["user"]["id"]
        await request_link(client, callbackURL="/after", newUserCallbackURL="/new")
        used = await follow(client, await last_link(client))
        assert used.headers["location"] == f"{BASE}/after"  # an existing user, not a new one
        session = await session_of(client, used)
        assert session["user"]["id"] == user_id and session["user"]["emailVerified"] is True
        # The password set before the address was proven no longer signs in.
        client.cookies.clear()
        assert (await sign_in(client, ANN)).status_code == 401
        [proof] = [row for row in await audit_rows(client) if row["action"] == "email_verify"]
        assert proof["new_values"] == {"method": "magic-link", "removed": ["credential"]}


async def test_existing_verified_user_keeps_password(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, **SETTINGS) as client:
        await sign_up(client, ANN)
        await sql(client, "UPDATE users SET email_verified = ? WHERE email = ?", True, ANN)
        client.cookies.clear()
        await request_link(client)
        assert (await follow(client, await last_link(client))).status_code == 302
        client.cookies.clear()
        assert (await sign_in(client, ANN)).status_code == 200


async def test_sign_in_csrf_rules(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        body = {"email": ANN}
        path = "/api/auth/sign-in/magic-link"
        evil = await client.post(path, json=body, headers={"origin": "https://evil.example"})
        assert (evil.status_code, evil.json()["code"]) == (403, "INVALID_ORIGIN")
        navigate = {"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document"}
        blocked = await client.post(path, data=body, headers=navigate)
        assert (blocked.status_code, blocked.json()["code"]) == (403, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED")
        fetch_meta = await client.post(
            path, json=body, headers={"sec-fetch-site": "cross-site", "sec-fetch-mode": "cors"}
        )
        assert (fetch_meta.status_code, fetch_meta.json()["code"]) == (403, "INVALID_ORIGIN")
        with_cookie = await client.post(path, json=body, headers={"cookie": "a=b"})
        assert (with_cookie.status_code, with_cookie.json()["code"]) == (403, "MISSING_OR_NULL_ORIGIN")
        assert await links(client, ANN) == []  # nothing refused was mailed
        bare = await client.post(path, json=body)  # a server-side caller says nothing about origins
        assert bare.status_code == 200
        same_site = await client.post(
            path, json=body, headers={"referer": f"{BASE}/login", "sec-fetch-site": "same-origin"}
        )
        assert same_site.status_code == 200
        assert len(await links(client, ANN)) == 2


@pytest.mark.parametrize(
    ("field", "code"),
    [
        ("callbackURL", "INVALID_CALLBACK_URL"),
        ("newUserCallbackURL", "INVALID_NEW_USER_CALLBACK_URL"),
        ("errorCallbackURL", "INVALID_ERROR_CALLBACK_URL"),
    ],
)
async def test_callback_urls_checked(make_client, field: str, code: str) -> None:
    async with make_client(**SETTINGS) as client:
        for bad in ("https://evil.example/x", "//evil.example/x"):
            r = await request_link(client, **{field: bad})
            assert (r.status_code, r.json()["code"]) == (403, code)
        assert await links(client, ANN) == []
        ok = await request_link(client, **{field: f"{BASE}/fine"})
        assert ok.status_code == 200
        # The link's own parameters are checked again when it is followed, before the token is used.
        url = await last_link(client)
        forged = re.sub(rf"{field}=[^&]*", f"{field}=https%3A%2F%2Fevil.example%2F", url)
        if field not in url:
            forged = f"{url}&{field}=https%3A%2F%2Fevil.example%2F"
        refused = await follow(client, forged)
        assert (refused.status_code, refused.json()["code"]) == (403, code)
        assert (await follow(client, url)).status_code == 302  # still usable


async def test_no_enumeration(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        await sign_up(client, ANN, name="Ann")
        client.cookies.clear()
        known = await request_link(client, ANN)
        unknown = await request_link(client, "nobody@example.com")
        assert known.status_code == unknown.status_code == 200
        assert known.content == unknown.content
        assert sorted(known.headers.keys()) == sorted(unknown.headers.keys())
        assert cookie_value(known) is None and cookie_value(unknown) is None
        assert len(await links(client, ANN)) == 1 and len(await links(client, "nobody@example.com")) == 1


async def test_validation(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        for body, message in [
            ({}, "[body.email] Invalid input: expected string, received undefined"),
            ({"email": "not-an-address"}, "[body.email] Invalid email address"),
            ({"email": ANN, "name": 5}, "[body.name] Invalid input: expected string, received number"),
            ({"email": ANN, "name": "n" * 10_000}, None),
            ({"email": ANN, "metadata": "x"}, "[body.metadata] Invalid input: expected record, received string"),
        ]:
            r = await client.post("/api/auth/sign-in/magic-link", json=body, headers=ORIGIN)
            assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR"), r.text
            if message:
                assert r.json()["message"] == message


async def test_session_guard_refusal_redirects_and_uses_the_link(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        guards = runtime(client).get(Authentication).ctx.hooks.session_guards

        async def banned(conn: Connection | None, user: UserRecord) -> None:
            raise AuthError(403, "BANNED_USER", "You have been banned from this application")

        guards.append(banned)
        await sign_up(client, ANN)
        await request_link(client, callbackURL="/after", errorCallbackURL="/login")
        url = await last_link(client)
        refused = await follow(client, url)
        location = refused.headers["location"]
        assert (
            location.startswith(f"{BASE}/login?error=BANNED_USER&error_description=") and cookie_value(refused) is None
        )
        verified = await sql(client, "SELECT email_verified FROM users")
        assert [bool(v[0]) for v in verified] == [False]  # all or nothing: the refusal changed nothing
        guards.remove(banned)
        again = await follow(client, url)
        assert again.headers["location"] == f"{BASE}/login?error=INVALID_TOKEN"  # but the link is used up


async def test_sign_up_can_be_disabled(make_client) -> None:
    async with make_client(
        **SETTINGS, magic_link=MagicLinkSettings(TENANTRY_MAGIC_LINK_DISABLE_SIGN_UP=True)
    ) as client:
        r = await request_link(client, callbackURL="/after")
        assert r.json() == {"status": True}  # still no hint whether the address has an account
        used = await follow(client, await last_link(client))
        assert used.headers["location"] == f"{BASE}/after?error=new_user_signup_disabled"
        assert await sql(client, "SELECT id FROM users") == []


async def test_rate_limit(make_client) -> None:
    async with make_client(auth=AuthSettings(TENANTRY_RATE_LIMIT="on"), **SETTINGS) as client:
        statuses = [(await request_link(client)).status_code for _ in range(6)]
        # Better Auth's rule for this path (60 s / 5), not the sign-in rule (10 s / 3).
        assert statuses == [200] * 5 + [429]
        limited = await request_link(client)
        assert limited.headers["x-retry-after"] and int(limited.headers["x-retry-after"]) <= 60


async def test_banned_user_refused_by_the_admin_plugin(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        user_id = (await sign_up(client, ANN)).json()["user"]["id"]
        ctx = runtime(client).get(Authentication).ctx
        async with ctx.db.transaction() as conn:
            await ctx.store.update_user(conn, user_id, {"banned": True})
        client.cookies.clear()
        await request_link(client, callbackURL="/after")
        refused = await follow(client, await last_link(client))
        assert refused.headers["location"].startswith(f"{BASE}/after?error=BANNED_USER&error_description=")
        assert cookie_value(refused) is None


async def test_odd_urls_redirect_encoded_or_refused(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        unparsable = await request_link(client, callbackURL="http://[::1")
        assert (unparsable.status_code, unparsable.json()["code"]) == (403, "INVALID_CALLBACK_URL")
        odd_origin = await client.post(
            "/api/auth/sign-in/magic-link", json={"email": ANN}, headers={"origin": "http://[::1"}
        )
        assert (odd_origin.status_code, odd_origin.json()["code"]) == (403, "INVALID_ORIGIN")
        await request_link(client, callbackURL="/café/漢字 x")
        used = await follow(client, await last_link(client))
        assert used.headers["location"] == f"{BASE}/caf%C3%A9/%E6%BC%A2%E5%AD%97%20x"
        again = await follow(client, await last_link(client))
        assert again.headers["location"] == f"{BASE}/caf%C3%A9/%E6%BC%A2%E5%AD%97%20x?error=INVALID_TOKEN"


async def test_mail_greets_by_the_account_name_only(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        await sign_up(client, ANN, name="Ann Account")
        client.cookies.clear()
        await request_link(client, ANN, name="Someone Else")
        await request_link(client, "new@example.com", name="Visit evil.example now")
        rt = runtime(client)
        [known] = [m for m in await list_outbox(rt.db, rt.tables, to=ANN) if m.template == "magic_link"]
        [unknown] = await list_outbox(rt.db, rt.tables, to="new@example.com")
        assert "Hi Ann Account," in known.text and "Someone Else" not in known.text
        assert "Hi there," in unknown.text and "evil.example" not in unknown.text + unknown.html


async def test_racing_requests_use_a_link_once(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        await request_link(client, callbackURL="/after", name="Ann")
        path = path_of(await last_link(client))
        client.cookies.clear()
        answers = await asyncio.gather(*(client.get(path) for _ in range(5)))
        locations = sorted(r.headers["location"] for r in answers)
        assert locations == [f"{BASE}/after"] + [f"{BASE}/after?error=INVALID_TOKEN"] * 4
        assert len(await sql(client, "SELECT id FROM users")) == 1
        sessions = runtime(client).get(Authentication).ctx.tables.sessions.name
        assert len(await sql(client, f"SELECT id FROM {sessions}")) == 1


async def test_two_links_for_a_new_address_make_one_user(make_client) -> None:
    async with make_client(**SETTINGS) as client:
        for _ in range(2):
            await request_link(client, "new@example.com", callbackURL="/after", newUserCallbackURL="/hello")
        paths = [path_of(url) for url in await links(client, "new@example.com")]
        client.cookies.clear()
        answers = await asyncio.gather(*(client.get(p) for p in paths))
        assert sorted(r.headers["location"] for r in answers) == [f"{BASE}/after", f"{BASE}/hello"]
        assert all(cookie_value(r) for r in answers)
        assert len(await sql(client, "SELECT id FROM users")) == 1
