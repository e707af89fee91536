"""A magic link does not get past a second factor the user turned on (unlike Better Auth's, which
skips two-factor): the link is used up and the sign-in continues at the two-factor step."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from tenantry.auth import Authentication
from tests.auth.helpers import BASE, NO_VERIFICATION, ORIGIN, cookie_value, runtime, sql
from tests.magic_link.test_endpoints import SETTINGS, follow, last_link, request_link
from tests.two_factor.helpers import code, enrolled, post

CAP = "cap@example.com"


async def verified_and_enrolled(client: httpx.AsyncClient) -> str:
    secret, _ = await enrolled(client, CAP)
    await sql(client, "UPDATE users SET email_verified = ? WHERE email = ?", True, CAP)
    client.cookies.clear()
    return secret


async def test_link_without_callback_answers_the_two_factor_step(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, **SETTINGS) as client:
        secret = await verified_and_enrolled(client)
        await request_link(client, CAP)
        token = parse_qs(urlsplit(await last_link(client, CAP)).query)["token"][0]
        r = await client.get("/api/auth/magic-link/verify", params={"token": token})
        assert (r.status_code, r.json()) == (200, {"twoFactorRedirect": True, "twoFactorMethods": ["totp", "otp"]})
        assert cookie_value(r) in (None, "")  # no session yet
        assert cookie_value(r, "better-auth.two_factor")
        done = await post(client, "verify-totp", {"code": code(secret, 1)})
        assert done.status_code == 200 and cookie_value(done)
        assert done.json()["user"]["email"] == CAP
        client.cookies.clear()
        again = await client.get("/api/auth/magic-link/verify", params={"token": token})
        assert again.headers["location"] == f"{BASE}/?error=INVALID_TOKEN"  # the link was used up


async def test_followed_link_continues_on_the_two_factor_page(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, **SETTINGS) as client:
        secret = await verified_and_enrolled(client)
        await request_link(client, CAP, callbackURL="/app/projects")
        r = await follow(client, await last_link(client, CAP))
        assert (r.status_code, r.headers["location"]) == (302, f"{BASE}/two-factor?from=%2Fapp%2Fprojects")
        assert cookie_value(r) in (None, "") and cookie_value(r, "better-auth.two_factor")
        page = await client.get("/two-factor?from=%2Fapp%2Fprojects")
        assert page.status_code == 200
        form = {"code": code(secret, 1), "method": "totp", "from": "/app/projects"}
        done = await client.post("/two-factor", data=form, headers=ORIGIN)
        assert (done.status_code, done.headers["location"]) == (303, "/app/projects")
        me = await client.get("/api/auth/get-session")
        assert me.json()["user"]["email"] == CAP


async def test_without_two_factor_the_link_signs_in_at_once(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, **SETTINGS) as client:
        await request_link(client, CAP)
        token = parse_qs(urlsplit(await last_link(client, CAP)).query)["token"][0]
        r = await client.get("/api/auth/magic-link/verify", params={"token": token})
        assert r.status_code == 200 and r.json()["user"]["twoFactorEnabled"] is False
        assert runtime(client).get(Authentication).plugin("two-factor") is not None
