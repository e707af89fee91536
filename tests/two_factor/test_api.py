"""Two-factor through ``/api/auth/two-factor/*`` on both databases: enrolment, sign-in with each
factor, single use, expiry, the account lockout, trusted devices, remember-me and disabling."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyotp
import pytest

from tenantry.auth import AuthSettings
from tenantry.mail import list_outbox
from tests.auth.helpers import (
    BASE,
    NO_VERIFICATION,
    ORIGIN,
    PASSWORD,
    cookie_value,
    runtime,
    set_cookies,
    sign_in,
    sign_up,
    sql,
    ts,
)
from tests.two_factor.helpers import (
    audit_actions,
    code,
    enrolled,
    enrolment_row,
    pending_sign_in,
    post,
    secret_of,
    table,
)

pytestmark = pytest.mark.asyncio


async def test_enrolment_is_not_active_until_a_code_confirms_it(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        await sign_up(client)
        wrong = await post(client, "enable", {"password": "not-the-password"})
        assert (wrong.status_code, wrong.json()["code"]) == (400, "INVALID_PASSWORD")
        enabled = await post(client, "enable", {"password": PASSWORD, "issuer": "Acme"})
        data = enabled.json()
        assert enabled.status_code == 200 and data["method"] == "totp"
        assert data["totpURI"].startswith("otpauth://totp/Acme:cap@example.com?secret=")
        assert data["totpURI"].endswith("&issuer=Acme&digits=6&period=30")
        assert len(data["backupCodes"]) == 10 and len(set(data["backupCodes"])) == 10
        assert all(len(c) == 11 and c[5] == "-" for c in data["backupCodes"])
        secret = secret_of(data["totpURI"])
        # Stored encrypted and hashed: neither the secret nor any code is in the row.
        row = await enrolment_row(client)
        assert secret not in row["secret"] and not any(c in row["backup_codes"] for c in data["backupCodes"])
        assert not row["verified"]
        session = (await client.get("/api/auth/get-session")).json()
        assert session["user"]["twoFactorEnabled"] is False
        # Not active yet: a password sign-in still gives a session at once.
        client.cookies.clear()
        plain = await sign_in(client)
        assert "token" in plain.json() and cookie_value(plain)
        bad = await post(client, "verify-totp", {"code": "000000" if code(secret) != "000000" else "111111"})
        assert (bad.status_code, bad.json()) == (401, {"message": "Invalid code", "code": "INVALID_CODE"})
        old_token = plain.json()["token"]
        ok = await post(client, "verify-totp", {"code": code(secret)})
        assert ok.status_code == 200 and ok.json()["user"]["twoFactorEnabled"] is True
        # The session rotated: a new cookie, the old token is gone.
        new_cookie = cookie_value(ok)
        assert new_cookie and not new_cookie.startswith(old_token)
        stale = await client.get("/api/auth/get-session", headers={"authorization": f"Bearer {old_token}"})
        assert stale.json() is None
        assert (await client.get("/api/auth/get-session")).json()["user"]["twoFactorEnabled"] is True
        again = await post(client, "enable", {"password": PASSWORD})
        assert again.json()["code"] == "TOTP_ALREADY_ENABLED"
        actions = await audit_actions(client)
        assert {"two_factor_enrolment", "two_factor_enable", "two_factor_failed"} <= set(actions)


async def test_sign_in_with_totp_and_replayed_code_refused(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        secret, _ = await enrolled(client)
        pending = await pending_sign_in(client)
        cookies = set_cookies(pending)
        assert any(c.startswith("better-auth.two_factor=2fa-") and "Max-Age=600" in c for c in cookies)
        assert not cookie_value(pending)  # no session
        assert (await client.get("/api/auth/get-session")).json() is None
        # The code that confirmed the enrolment was used: the same step is refused (read the step
        # from the row: the clock may have moved on to the next step since).
        table_name = await table(client)
        last_step = (await sql(client, f"SELECT last_totp_step FROM {table_name}"))[0][0]
        replay = await post(client, "verify-totp", {"code": pyotp.TOTP(secret).at(int(last_step) * 30)})
        assert replay.status_code == 401 and replay.json()["code"] == "INVALID_CODE"
        ok = await post(client, "verify-totp", {"code": code(secret, 1), "trustDevice": False})
        assert ok.status_code == 200, ok.text
        assert ok.status_code == 200 and ok.json()["user"]["email"] == "cap@example.com"
        assert cookie_value(ok) and any(c.startswith("better-auth.two_factor=;") for c in set_cookies(ok))
        session = (await client.get("/api/auth/get-session")).json()
        assert session["session"]["token"] == ok.json()["token"]
        # The challenge is used up with it.
        client.cookies.delete("better-auth.session_token")
        used = await post(client, "verify-totp", {"code": code(secret, 1)})
        assert (used.status_code, used.json()["code"]) == (401, "INVALID_TWO_FACTOR_COOKIE")
        assert "sign_in" in await audit_actions(client)


async def test_no_challenge_no_verification(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        r = await post(client, "verify-totp", {"code": "123456"})
        assert (r.status_code, r.json()["code"]) == (401, "INVALID_TWO_FACTOR_COOKIE")
        forged = await client.post(
            "/api/auth/two-factor/verify-totp",
            json={"code": "123456"},
            headers={**ORIGIN, "cookie": "better-auth.two_factor=2fa-aaaaaaaaaaaaaaaaaaaa.forged"},
        )
        assert forged.status_code == 401
        missing = await post(client, "verify-totp", {})
        assert (missing.status_code, missing.json()["code"]) == (400, "VALIDATION_ERROR")


async def test_backup_code_works_once(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        _, backup = await enrolled(client)
        await pending_sign_in(client)
        ok = await post(client, "verify-backup-code", {"code": backup[0]})
        assert ok.status_code == 200 and cookie_value(ok)
        client.cookies.clear()
        await pending_sign_in(client)
        reused = await post(client, "verify-backup-code", {"code": backup[0]})
        assert (reused.status_code, reused.json()["code"]) == (401, "INVALID_BACKUP_CODE")
        other = await post(client, "verify-backup-code", {"code": backup[1]})
        assert other.status_code == 200
        assert "two_factor_backup_code" in await audit_actions(client)


async def test_regenerated_backup_codes_replace_the_old_ones(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        _, backup = await enrolled(client)
        await pending_sign_in(client)
        await post(client, "verify-backup-code", {"code": backup[0]})
        wrong = await post(client, "generate-backup-codes", {"password": "nope-nope-nope"})
        assert wrong.json()["code"] == "INVALID_PASSWORD"
        fresh = await post(client, "generate-backup-codes", {"password": PASSWORD})
        assert fresh.status_code == 200 and fresh.json()["status"] is True and len(fresh.json()["backupCodes"]) == 10
        client.cookies.clear()
        await pending_sign_in(client)
        old = await post(client, "verify-backup-code", {"code": backup[1]})
        assert old.json()["code"] == "INVALID_BACKUP_CODE"
        new = await post(client, "verify-backup-code", {"code": fresh.json()["backupCodes"][0]})
        assert new.status_code == 200


async def test_emailed_code_through_the_outbox_and_its_expiry(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        await enrolled(client)
        await pending_sign_in(client)
        sent = await post(client, "send-otp")
        assert sent.json() == {"status": True}
        rt = runtime(client)
        mail = [m for m in await list_outbox(rt.db, rt.tables, to="cap@example.com") if m.template == "two_factor_otp"]
        otp = mail[0].subject.split(" ")[0]
        assert len(otp) == 6 and otp.isdigit() and otp in mail[0].text
        wrong = await post(client, "verify-otp", {"code": "000000" if otp != "000000" else "111111"})
        assert (wrong.status_code, wrong.json()["code"]) == (401, "INVALID_CODE")
        ok = await post(client, "verify-otp", {"code": otp})
        assert ok.status_code == 200 and cookie_value(ok)
        # Used once; and a code past its expiry is refused.
        client.cookies.clear()
        await pending_sign_in(client)
        assert (await post(client, "verify-otp", {"code": otp})).json()["code"] == "OTP_HAS_EXPIRED"
        await post(client, "send-otp")
        mail = [m for m in await list_outbox(rt.db, rt.tables, to="cap@example.com") if m.template == "two_factor_otp"]
        newest = max(mail, key=lambda m: m.created_at).subject.split(" ")[0]
        past = ts(client, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        await sql(client, "UPDATE auth_verifications SET expires_at = ? WHERE identifier LIKE '2fa-otp-%'", past)
        late = await post(client, "verify-otp", {"code": newest})
        assert (late.status_code, late.json()["code"]) == (400, "OTP_HAS_EXPIRED")


async def test_emailed_code_allows_five_tries(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        await enrolled(client)
        await pending_sign_in(client)
        await post(client, "send-otp")
        # The lockout would stop the sixth try first; lift it so the per-code limit shows.
        for _ in range(5):
            r = await post(client, "verify-otp", {"code": "abcdef"})
            assert r.json()["code"] == "INVALID_CODE"
            await sql(client, f"UPDATE {await table(client)} SET locked_until = NULL, failed_verification_count = 0")
        spent = await post(client, "verify-otp", {"code": "abcdef"})
        assert (spent.status_code, spent.json()["code"]) == (400, "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE")


async def test_lockout_after_five_wrong_codes_and_unlock(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        secret, backup = await enrolled(client)
        await pending_sign_in(client)
        for _ in range(5):
            r = await post(client, "verify-totp", {"code": "12345x"})
            assert r.json()["code"] == "INVALID_CODE"
        row = await enrolment_row(client)
        assert row["failed_verification_count"] == 5 and row["locked_until"] is not None
        # Locked: even the right code and a backup code are refused, with a stable code.
        for path, body in (("verify-totp", {"code": code(secret, 1)}), ("verify-backup-code", {"code": backup[0]})):
            locked = await post(client, path, body)
            assert (locked.status_code, locked.json()["code"]) == (429, "ACCOUNT_TEMPORARILY_LOCKED")
            assert int(locked.headers["x-retry-after"]) > 800
        assert "two_factor_lockout" in await audit_actions(client)
        # The lock runs out: the next right code signs in and clears the count.
        past = ts(client, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        await sql(client, f"UPDATE {await table(client)} SET locked_until = ?", past)
        ok = await post(client, "verify-totp", {"code": code(secret, 1)})
        assert ok.status_code == 200
        row = await enrolment_row(client)
        assert row["failed_verification_count"] == 0 and row["locked_until"] is None


async def test_a_lock_that_ran_out_counts_again_from_one(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        await enrolled(client)
        await pending_sign_in(client)
        for _ in range(5):
            await post(client, "verify-totp", {"code": "000000x"})
        past = ts(client, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        await sql(client, f"UPDATE {await table(client)} SET locked_until = ?", past)
        r = await post(client, "verify-totp", {"code": "000000x"})
        assert r.json()["code"] == "INVALID_CODE"
        row = await enrolment_row(client)
        assert row["failed_verification_count"] == 1 and row["locked_until"] is None


async def test_trusted_device_skips_the_second_step(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        secret, _ = await enrolled(client)
        await enrolled(client, "other@example.com")
        await pending_sign_in(client)
        ok = await post(client, "verify-totp", {"code": code(secret, 1), "trustDevice": True})
        trust = cookie_value(ok, "better-auth.trust_device")
        assert trust and "Max-Age=2592000" in next(c for c in set_cookies(ok) if c.startswith("better-auth.trust_dev"))
        client.cookies.delete("better-auth.session_token")
        direct = await sign_in(client)
        assert direct.status_code == 200 and direct.json()["token"] and cookie_value(direct)
        # Bound to its user: another account on the same device still needs its second step.
        client.cookies.delete("better-auth.session_token")
        await pending_sign_in(client, "other@example.com")
        # A forged cookie counts for nothing.
        client.cookies.clear()
        client.cookies.set("better-auth.trust_device", trust.replace("trust-device-", "trust-device-X", 1))
        await pending_sign_in(client)
        # A revoked record (signed cookie, no row any more) is refused and the cookie cleared.
        client.cookies.clear()
        client.cookies.set("better-auth.trust_device", trust)
        await sql(client, "DELETE FROM auth_verifications WHERE identifier LIKE 'trust-device-%'")
        revoked = await pending_sign_in(client)
        assert any(c.startswith("better-auth.trust_device=;") for c in set_cookies(revoked))


async def test_remember_me_survives_the_second_step(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        secret, _ = await enrolled(client)
        pending = await pending_sign_in(client, rememberMe=False)
        assert cookie_value(pending, "better-auth.dont_remember")
        ok = await post(client, "verify-totp", {"code": code(secret, 1)})
        session_cookie = next(c for c in set_cookies(ok) if c.startswith("better-auth.session_token="))
        assert "Max-Age" not in session_cookie
        session = (await client.get("/api/auth/get-session")).json()["session"]
        expires = dt.datetime.fromisoformat(session["expiresAt"].replace("Z", "+00:00"))
        assert expires - dt.datetime.now(dt.UTC) < dt.timedelta(days=1, minutes=1)
        # And a remembered sign-in clears a stale marker.
        client.cookies.clear()
        client.cookies.set("better-auth.dont_remember", "stale")
        remembered = await pending_sign_in(client)
        assert any(c.startswith("better-auth.dont_remember=;") for c in set_cookies(remembered))


async def test_disable_needs_the_password(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        secret, _ = await enrolled(client)
        await pending_sign_in(client)
        await post(client, "verify-totp", {"code": code(secret, 1), "trustDevice": True})
        refused = await post(client, "disable", {"password": "wrong-password-1"})
        assert (refused.status_code, refused.json()["code"]) == (400, "INVALID_PASSWORD")
        assert (await client.get("/api/auth/get-session")).json()["user"]["twoFactorEnabled"] is True
        ok = await post(client, "disable", {"password": PASSWORD})
        assert ok.json() == {"status": True} and cookie_value(ok)
        assert any(c.startswith("better-auth.trust_device=;") for c in set_cookies(ok))
        assert (await client.get("/api/auth/get-session")).json()["user"]["twoFactorEnabled"] is False
        assert not await sql(client, f"SELECT id FROM {await table(client)}")
        client.cookies.clear()
        plain = await sign_in(client)
        assert plain.json()["token"]
        assert "two_factor_disable" in await audit_actions(client)


async def test_get_totp_uri_and_unauthenticated_calls(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        for path in ("enable", "get-totp-uri", "generate-backup-codes", "disable"):
            r = await post(client, path, {"password": PASSWORD})
            assert r.status_code == 401, path
        await sign_up(client)
        none = await post(client, "get-totp-uri", {"password": PASSWORD})
        assert none.json()["code"] == "TOTP_NOT_ENABLED"
        enabled = await post(client, "enable", {"password": PASSWORD})
        uri = await post(client, "get-totp-uri", {"password": PASSWORD})
        assert secret_of(uri.json()["totpURI"]) == secret_of(enabled.json()["totpURI"])
        wrong = await post(client, "get-totp-uri", {"password": "wrong-password-1"})
        assert wrong.json()["code"] == "INVALID_PASSWORD"
        not_on = await post(client, "generate-backup-codes", {"password": PASSWORD})
        assert not_on.json()["code"] == "TWO_FACTOR_NOT_ENABLED"


async def test_rate_limits_on_two_factor_routes(make_client: Any) -> None:
    limited = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_RATE_LIMIT="on")
    async with make_client(auth=limited, base_url=BASE) as client:
        await enrolled(client)
        await pending_sign_in(client)
        # Better Auth's rule for /two-factor/*: 3 requests per 10 seconds per address and path.
        answers = [await post(client, "verify-backup-code", {"code": "nope"}) for _ in range(4)]
        assert [r.status_code for r in answers] == [401, 401, 401, 429]
        assert int(answers[-1].headers["x-retry-after"]) <= 10
        # Mailing a code: 3 a minute.
        sent = [await post(client, "send-otp") for _ in range(4)]
        assert [r.status_code for r in sent] == [200, 200, 200, 429]
        assert int(sent[-1].headers["x-retry-after"]) > 10
