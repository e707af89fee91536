"""Origin checks (CSRF), rate limits, and passwords carried over from Better Auth databases."""

from __future__ import annotations

import hashlib
import os
import uuid

from tenantry.auth import AuthSettings
from tenantry.auth.errors import AuthError
from tenantry.auth.passwords import verify_password
from tests.auth.helpers import BASE, NO_VERIFICATION, ORIGIN, PASSWORD, sign_in, sign_up, sql
from tests.conftest import ClientFactory


async def test_origin_rules_for_requests_with_cookies(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        await sign_up(client)
        path = "/api/auth/update-user"
        body = {"name": "x"}
        missing = await client.post(path, json=body)
        assert (missing.status_code, missing.json()) == (
            403,
            {"message": "Missing or null Origin", "code": "MISSING_OR_NULL_ORIGIN"},
        )
        null = await client.post(path, json=body, headers={"origin": "null"})
        assert null.json()["code"] == "MISSING_OR_NULL_ORIGIN"
        foreign = await client.post(path, json=body, headers={"origin": "https://evil.example"})
        assert (foreign.status_code, foreign.json()) == (403, {"message": "Invalid origin", "code": "INVALID_ORIGIN"})
        referer = await client.post(path, json=body, headers={"referer": f"{BASE}/settings"})
        assert referer.status_code == 200
        # GET is never origin-checked.
        assert (await client.get("/api/auth/get-session")).status_code == 200


async def test_origin_rules_for_sign_in_without_cookies(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        await sign_up(client)
        client.cookies.clear()
        body = {"email": "cap@example.com", "password": PASSWORD}
        blocked = await client.post(
            "/api/auth/sign-in/email", json=body, headers={"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"}
        )
        assert (blocked.status_code, blocked.json()["code"]) == (403, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED")
        foreign = await client.post("/api/auth/sign-in/email", json=body, headers={"origin": "https://evil.example"})
        assert foreign.json()["code"] == "INVALID_ORIGIN"
        fetch_only = await client.post("/api/auth/sign-in/email", json=body, headers={"sec-fetch-site": "same-origin"})
        assert fetch_only.json()["code"] == "INVALID_ORIGIN"  # says where it is from, but not a trusted origin
        client.cookies.clear()
        plain = await client.post("/api/auth/sign-in/email", json=body)  # curl, scripts: no browser headers
        assert plain.status_code == 200


async def test_trusted_origins_with_wildcards(make_client) -> None:
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_TRUSTED_ORIGINS="https://*.example.com")
    async with make_client(auth=auth, base_url=BASE) as client:
        await sign_up(client)
        ok = await client.post(
            "/api/auth/update-user", json={"name": "y"}, headers={"origin": "https://app.example.com"}
        )
        assert ok.status_code == 200
        bad = await client.post("/api/auth/update-user", json={"name": "y"}, headers={"origin": "https://example.org"})
        assert bad.status_code == 403
        allowed = await sign_in(client, callbackURL="https://app.example.com/welcome")
        assert allowed.status_code == 200


async def test_rate_limits(make_client) -> None:
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_RATE_LIMIT="on")
    async with make_client(auth=auth, base_url=BASE) as client:
        attempts = [await sign_in(client, password="wrong-password") for _ in range(4)]
        assert [r.status_code for r in attempts] == [401, 401, 401, 429]
        limited = attempts[-1]
        assert limited.json() == {"message": "Too many requests. Please try again later."}
        assert limited.headers["x-retry-after"] == "10"
        # No proxy is trusted unless configured: a forwarded address from the same host is no way
        # around the limit.
        spoofed = await client.post(
            "/api/auth/sign-in/email",
            json={"email": "a@b.co", "password": "wrong-password"},
            headers={"x-forwarded-for": "203.0.113.7", **ORIGIN},
        )
        assert spoofed.status_code == 429
        # The default rule is 100 per 10 seconds.
        statuses = [(await client.get("/api/auth/ok")).status_code for _ in range(101)]
        assert statuses.count(200) == 100 and statuses[-1] == 429


async def test_a_configured_proxy_names_the_client(make_client) -> None:
    auth = AuthSettings(
        TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_RATE_LIMIT="on", TENANTRY_TRUSTED_PROXIES="127.0.0.1"
    )
    async with make_client(auth=auth, base_url=BASE) as client:
        forwarded = {"x-forwarded-for": "203.0.113.7, 127.0.0.1", **ORIGIN}
        body = {"email": "a@b.co", "password": "wrong-password"}
        attempts = [await client.post("/api/auth/sign-in/email", json=body, headers=forwarded) for _ in range(4)]
        assert [r.status_code for r in attempts] == [401, 401, 401, 429]
        # The proxy's own address and another forwarded client each have their own budget.
        assert (await sign_in(client, password="wrong-password")).status_code == 401
        other = {"x-forwarded-for": "198.51.100.9", **ORIGIN}
        assert (await client.post("/api/auth/sign-in/email", json=body, headers=other)).status_code == 401


async def test_rate_limits_are_off_in_development_by_default(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        statuses = {(await sign_in(client, password="wrong-password")).status_code for _ in range(6)}
        assert statuses == {401}


def _better_auth_scrypt(password: str) -> str:
    """A hash exactly as Better Auth stores it (@better-auth/utils/password)."""
    salt = os.urandom(16).hex()
    key = hashlib.scrypt(password.encode(), salt=salt.encode(), n=16384, r=16, p=1, dklen=64, maxmem=64 * 1024 * 1024)
    return f"{salt}:{key.hex()}"


async def test_better_auth_scrypt_hashes_sign_in_and_are_upgraded(make_client, production_password_cost) -> None:
    """Upgraded to argon2id at OWASP's cost: the production parameters (the suite hashes at a lower
    cost, see tests/conftest.py)."""
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        await sign_up(client)
        scrypt_hash = _better_auth_scrypt("Imported-Pass-9")
        await sql(client, "UPDATE auth_accounts SET password = ? WHERE provider_id = 'credential'", scrypt_hash)
        client.cookies.clear()
        assert (await sign_in(client, password="wrong-password")).status_code == 401
        assert (await sign_in(client, password="Imported-Pass-9")).status_code == 200
        stored = (await sql(client, "SELECT password FROM auth_accounts WHERE provider_id = 'credential'"))[0][0]
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert verify_password(stored, "Imported-Pass-9")
        client.cookies.clear()
        assert (await sign_in(client, password="Imported-Pass-9")).status_code == 200


async def test_old_hashes_are_upgraded_before_a_second_factor(make_client) -> None:
    from tests.two_factor.helpers import enrolled

    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        await enrolled(client)
        scrypt_hash = _better_auth_scrypt(PASSWORD)
        await sql(client, "UPDATE auth_accounts SET password = ? WHERE provider_id = 'credential'", scrypt_hash)
        pending = await sign_in(client)
        assert pending.json()["twoFactorRedirect"] is True
        stored = (await sql(client, "SELECT password FROM auth_accounts WHERE provider_id = 'credential'"))[0][0]
        assert stored.startswith("$argon2id$") and verify_password(stored, PASSWORD)


def test_scrypt_verification_matches_better_auth_vector() -> None:
    # Same construction as Better Auth: the hex salt string itself is the salt, NFKC-normalised password.
    salt = uuid.uuid4().hex
    key = hashlib.scrypt("pässword".encode(), salt=salt.encode(), n=16384, r=16, p=1, dklen=64, maxmem=2**26)
    assert verify_password(f"{salt}:{key.hex()}", "pässword")
    assert not verify_password(f"{salt}:{key.hex()}", "password")
    assert not verify_password("garbage", "password")


async def test_every_auth_error_has_a_stable_code(make_client: ClientFactory) -> None:
    """Errors Better Auth words without a code carry the code derived from their message (found by
    the schemathesis run: ``{"message": "Email is the same"}`` had none); the rate limit's has none."""
    assert AuthError(400, None, "Email is the same").body() == {
        "message": "Email is the same",
        "code": "EMAIL_IS_THE_SAME",
    }
    assert "code" not in AuthError(429, None, "Too many requests. Please try again later.").body()
    admin = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_AUTH_PLUGINS="admin")
    async with make_client(auth=admin, base_url=BASE) as client:
        token = (await sign_up(client, "same@example.com")).json()["token"]
        bearer = {"authorization": f"Bearer {token}", **ORIGIN}
        r = await client.post("/api/auth/change-email", json={"newEmail": "same@example.com"}, headers=bearer)
        assert (r.status_code, r.json()) == (400, {"message": "Email is the same", "code": "EMAIL_IS_THE_SAME"})
        r = await client.post("/api/auth/admin/stop-impersonating", json={}, headers=bearer)
        assert r.status_code == 400 and r.json()["code"] == "YOU_ARE_NOT_IMPERSONATING_ANYONE", r.text
