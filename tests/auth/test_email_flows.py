"""Flows that go through e-mail: verification, password reset, e-mail change, account deletion.

Links are read from the mail outbox, exactly as the dev outbox page and the mail subscriber see them.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import OctKey

from tenantry.config import DEV_SECRET
from tenantry.mail import list_outbox
from tests.auth.helpers import BASE, NO_VERIFICATION, ORIGIN, PASSWORD, runtime, set_cookies, sign_in, sign_up, sql


async def mails(client: httpx.AsyncClient, to: str) -> list[Any]:
    rt = runtime(client)
    return await list_outbox(rt.db, rt.tables, to=to)


async def last_link(client: httpx.AsyncClient, to: str, template: str) -> str:
    found = [m for m in await mails(client, to) if m.template == template]
    assert found, f"no {template} mail to {to}"
    assert found[0].url is not None
    return found[0].url


def path_of(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE
    return parts.path + ("?" + parts.query if parts.query else "")


async def test_sign_up_requires_verification(make_client) -> None:
    async with make_client(base_url=BASE) as client:
        r = await sign_up(client, callbackURL="/welcome")
        assert r.json()["token"] is None and not set_cookies(r)
        link = await last_link(client, "cap@example.com", "verify_email")
        assert link.startswith(f"{BASE}/api/auth/verify-email?token=") and link.endswith("&callbackURL=%2Fwelcome")
        refused = await sign_in(client)
        assert (refused.status_code, refused.json()) == (
            403,
            {"message": "Email not verified", "code": "EMAIL_NOT_VERIFIED"},
        )
        assert len([m for m in await mails(client, "cap@example.com") if m.template == "verify_email"]) == 2
        verified = await client.get(path_of(link))
        assert (verified.status_code, verified.headers["location"]) == (302, "/welcome")
        again = await client.get(path_of(link))  # a mail scanner opened it first: still fine
        assert again.status_code == 302 and "error" not in again.headers["location"]
        ok = await sign_in(client)
        assert ok.status_code == 200 and ok.json()["user"]["emailVerified"] is True


async def test_verify_email_errors(make_client) -> None:
    async with make_client(base_url=BASE) as client:
        bad = await client.get("/api/auth/verify-email", params={"token": "not-a-jwt"})
        assert (bad.status_code, bad.json()) == (401, {"message": "Invalid token", "code": "INVALID_TOKEN"})
        redirected = await client.get("/api/auth/verify-email", params={"token": "x", "callbackURL": "/done"})
        assert redirected.headers["location"] == "/done?error=INVALID_TOKEN"
        # A callback a header cannot carry as it is (non-ASCII, spaces) is percent-encoded, never a 500.
        odd = await client.get("/api/auth/verify-email", params={"token": "x", "callbackURL": "/漢 字"})
        assert (odd.status_code, odd.headers["location"]) == (302, "/%E6%BC%A2%20%E5%AD%97?error=INVALID_TOKEN")
        now = int(time.time())
        expired = jwt.encode(
            {"alg": "HS256"},
            {"email": "a@b.co", "iat": now - 7200, "exp": now - 3600},
            OctKey.import_key(DEV_SECRET.encode()),
        )
        r = await client.get("/api/auth/verify-email", params={"token": expired, "callbackURL": "/done"})
        assert r.headers["location"] == "/done?error=TOKEN_EXPIRED"
        forged = jwt.encode({"alg": "HS256"}, {"email": "a@b.co", "exp": now + 60}, OctKey.import_key(b"x" * 40))
        assert (await client.get("/api/auth/verify-email", params={"token": forged})).json()["code"] == "INVALID_TOKEN"
        untrusted = await client.get(
            "/api/auth/verify-email", params={"token": "x", "callbackURL": "https://evil.example"}
        )
        assert (untrusted.status_code, untrusted.json()["code"]) == (403, "INVALID_CALLBACK_URL")


async def test_send_verification_email(make_client) -> None:
    async with make_client(base_url=BASE) as client:
        unknown = await client.post("/api/auth/send-verification-email", json={"email": "nobody@example.com"})
        assert unknown.json() == {"status": True}
        assert await mails(client, "nobody@example.com") == []
        await sign_up(client)
        before = len(await mails(client, "cap@example.com"))
        r = await client.post(
            "/api/auth/send-verification-email", json={"email": "cap@example.com", "callbackURL": "/v"}
        )
        assert r.json() == {"status": True}
        assert len(await mails(client, "cap@example.com")) == before + 1
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:  # same database, second app
        await sign_up(client, email="second@example.com")
        mismatch = await client.post("/api/auth/send-verification-email", json={"email": "x@y.co"}, headers=ORIGIN)
        assert (mismatch.status_code, mismatch.json()["code"]) == (400, "EMAIL_MISMATCH")
        await client.post("/api/auth/send-verification-email", json={"email": "second@example.com"}, headers=ORIGIN)
        await client.get(path_of(await last_link(client, "second@example.com", "verify_email")))
        done = await client.post(
            "/api/auth/send-verification-email", json={"email": "second@example.com"}, headers=ORIGIN
        )
        assert (done.status_code, done.json()["code"]) == (400, "EMAIL_ALREADY_VERIFIED")


async def test_password_reset(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        await sign_up(client)
        client.cookies.clear()
        expected = {
            "status": True,
            "message": "If this email exists in our system, check your email for the reset link",
        }
        unknown = await client.post(
            "/api/auth/request-password-reset", json={"email": "nobody@example.com", "redirectTo": "/reset"}
        )
        assert unknown.json() == expected and await mails(client, "nobody@example.com") == []
        r = await client.post(
            "/api/auth/request-password-reset", json={"email": "cap@example.com", "redirectTo": "/reset"}
        )
        assert r.json() == expected
        link = await last_link(client, "cap@example.com", "reset_password")
        token = urlsplit(link).path.rsplit("/", 1)[1]
        assert len(token) == 24 and link.endswith("?callbackURL=%2Freset")
        landing = await client.get(path_of(link))
        assert (landing.status_code, landing.headers["location"]) == (302, f"{BASE}/reset?token={token}")
        wrong = await client.get("/api/auth/reset-password/nope", params={"callbackURL": "/reset"})
        assert wrong.headers["location"] == f"{BASE}/reset?error=INVALID_TOKEN"
        short = await client.post("/api/auth/reset-password", json={"newPassword": "short", "token": token})
        assert short.json()["code"] == "PASSWORD_TOO_SHORT"
        done = await client.post("/api/auth/reset-password", json={"newPassword": "Reset-Pass-77", "token": token})
        assert done.json() == {"status": True}
        reuse = await client.post("/api/auth/reset-password", json={"newPassword": "Reset-Pass-88", "token": token})
        assert (reuse.status_code, reuse.json()) == (400, {"message": "Invalid token", "code": "INVALID_TOKEN"})
        assert (await sign_in(client)).status_code == 401
        assert (await sign_in(client, password="Reset-Pass-77")).status_code == 200
        untrusted = await client.post(
            "/api/auth/request-password-reset",
            json={"email": "cap@example.com", "redirectTo": "https://evil.example/x"},
            headers=ORIGIN,
        )
        assert (untrusted.status_code, untrusted.json()["code"]) == (403, "INVALID_REDIRECT_URL")
        alias = await client.post("/api/auth/forget-password", json={"email": "cap@example.com"}, headers=ORIGIN)
        assert alias.json() == expected


async def test_change_email_through_both_mailboxes(make_client) -> None:
    async with make_client(base_url=BASE) as client:
        await sign_up(client)
        await client.get(path_of(await last_link(client, "cap@example.com", "verify_email")))
        await sign_in(client)
        same = await client.post("/api/auth/change-email", json={"newEmail": "cap@example.com"}, headers=ORIGIN)
        assert (same.status_code, same.json()["message"]) == (400, "Email is the same")
        r = await client.post(
            "/api/auth/change-email", json={"newEmail": "New@Example.com", "callbackURL": "/s"}, headers=ORIGIN
        )
        assert r.json() == {"status": True}
        confirm = await last_link(client, "cap@example.com", "change_email")  # to the current address first
        step = await client.get(path_of(confirm))
        assert (step.status_code, step.headers["location"]) == (302, "/s")
        assert (await client.get(path_of(confirm))).headers["location"] == "/s?error=INVALID_TOKEN"  # used up
        verify_new = await last_link(client, "new@example.com", "verify_email")
        assert (await client.get(path_of(verify_new))).headers["location"] == "/s"
        user = (await client.get("/api/auth/get-session")).json()["user"]
        assert (user["email"], user["emailVerified"]) == ("new@example.com", True)
        await client.post("/api/auth/sign-out", json={}, headers=ORIGIN)
        assert (await sign_in(client, email="new@example.com")).status_code == 200
        # Taken addresses answer the same, and nothing is sent.
        await client.post(
            "/api/auth/sign-up/email",
            json={"email": "taken@example.com", "password": PASSWORD, "name": "T"},
            headers=ORIGIN,
        )
        await sign_in(client, email="new@example.com")
        taken = await client.post("/api/auth/change-email", json={"newEmail": "taken@example.com"}, headers=ORIGIN)
        assert taken.json() == {"status": True}
        assert [m.template for m in await mails(client, "new@example.com") if m.template == "change_email"] == []


async def test_delete_user_confirmed_by_email(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        user_id = (await sign_up(client)).json()["user"]["id"]
        wrong = await client.post("/api/auth/delete-user", json={"password": "wrong-pass"}, headers=ORIGIN)
        assert (wrong.status_code, wrong.json()["code"]) == (400, "INVALID_PASSWORD")
        r = await client.post("/api/auth/delete-user", json={"callbackURL": "/bye"}, headers=ORIGIN)
        assert r.json() == {"success": True, "message": "Verification email sent"}
        link = await last_link(client, "cap@example.com", "delete_account")
        assert link.startswith(f"{BASE}/api/auth/delete-user/callback?token=")
        gone = await client.get(path_of(link))
        assert (gone.status_code, gone.headers["location"]) == (302, "/bye")
        assert len(set_cookies(gone)) == 3
        assert await sql(client, "SELECT id FROM users") == []
        assert await sql(client, "SELECT id FROM auth_sessions") == []
        client.cookies.clear()
        assert (await sign_in(client)).status_code == 401
        assert user_id


async def test_delete_user_that_owns_records_is_refused(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        user_id = (await sign_up(client)).json()["user"]["id"]
        org = (await client.post("/api/organizations", json={"name": "A", "slug": "a"}, headers=ORIGIN)).json()
        await client.post(
            "/api/projects", json={"name": "P", "org_id": org["id"], "created_by": user_id}, headers=ORIGIN
        )
        await client.post("/api/auth/delete-user", json={}, headers=ORIGIN)
        token = parse_qs(urlsplit(await last_link(client, "cap@example.com", "delete_account")).query)["token"][0]
        r = await client.post("/api/auth/delete-user", json={"token": token}, headers=ORIGIN)
        assert (r.status_code, r.json()["code"]) == (409, "USER_HAS_REFERENCES")
        assert len(await sql(client, "SELECT id FROM users")) == 1


async def test_mail_exists_only_when_the_action_committed(make_client) -> None:
    async with make_client(base_url=BASE) as client:
        await sign_up(client)
        count = len(await mails(client, "cap@example.com"))
        # A duplicate sign-up changes nothing, and sends nothing.
        await sign_up(client)
        assert len(await mails(client, "cap@example.com")) == count
