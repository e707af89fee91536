"""Social sign-in end to end: the app, a browser (httpx with a cookie jar) and the local identity provider.

Every test drives the real redirect flow over HTTP: ``POST /sign-in/social`` -> the emulator's
authorization endpoint (``prompt=none&login_hint=`` signs in with a verified e-mail; posting its
form without ``email_verified`` gives an unverified one) -> its redirect to
``/api/auth/callback/<provider>?code&state`` requested with the same cookie jar. The emulator
checks PKCE, client credentials and redirect URIs as a real provider does, and signs RS256 ID
tokens that the app verifies against its JWKS.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, urlsplit

import httpx
import pytest
from prometheus_client import REGISTRY

from tenantry.auth import Authentication, AuthSettings
from tenantry.emulators.oidc import EmulatedUser, OIDCClient, start_oidc_emulator
from tenantry.emulators.server import RunningServer
from tests.auth.helpers import BASE, ORIGIN, cookie_value, now, runtime, set_cookies, sign_in, sign_up, sql, ts

CLIENT_ID = "tenantry-test"
CLIENT_SECRET = "tenantry-test-secret"
CALLBACK = f"{BASE}/api/auth/callback"
STATE_COOKIE = "better-auth.state"
SESSION_COOKIE = "better-auth.session_token"


@pytest.fixture(scope="module")
def idp() -> Iterator[RunningServer]:
    """One emulator for the module, registered for the three providers' callbacks."""
    server = start_oidc_emulator(
        [OIDCClient(CLIENT_ID, CLIENT_SECRET, [f"{CALLBACK}/dev", f"{CALLBACK}/google", f"{CALLBACK}/github"])]
    )
    yield server
    server.stop()


def providers(idp: RunningServer, **extra: Any) -> AuthSettings:
    """Google, GitHub and a generic OIDC provider ("dev"), all served by the emulator."""
    issuer = idp.base_url
    settings: dict[str, Any] = {
        "TENANTRY_REQUIRE_EMAIL_VERIFICATION": False,
        "GOOGLE_CLIENT_ID": CLIENT_ID,
        "GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
        "GOOGLE_ISSUER": issuer,
        "GITHUB_CLIENT_ID": CLIENT_ID,
        "GITHUB_CLIENT_SECRET": CLIENT_SECRET,
        "GITHUB_AUTHORIZE_URL": f"{issuer}/github/login/oauth/authorize",
        "GITHUB_TOKEN_URL": f"{issuer}/github/login/oauth/access_token",
        "GITHUB_API_URL": f"{issuer}/github/api",
        "TENANTRY_OIDC_PROVIDERS": [
            {"id": "dev", "name": "Dev", "issuer": issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        ],
    }
    settings.update(extra)
    return AuthSettings(**settings)


# -- the browser --------------------------------------------------------------------------------


async def begin(client: httpx.AsyncClient, provider: str, **body: Any) -> httpx.Response:
    """``POST /sign-in/social`` as the JS client sends it."""
    return await client.post("/api/auth/sign-in/social", json={"provider": provider, **body}, headers=ORIGIN)


async def authorize(url: str, email: str, *, form: dict[str, str] | None = None) -> str:
    """At the provider: sign in (``prompt=none``, or by posting the page's form); the redirect back."""
    async with httpx.AsyncClient() as browser:
        if form is None:
            response = await browser.get(f"{url}&prompt=none&login_hint={quote(email)}")
        else:
            parts = urlsplit(url)
            fields = dict(parse_qsl(parts.query))
            fields.update({"email": email, **form})
            response = await browser.post(f"{parts.scheme}://{parts.netloc}{parts.path}", data=fields)
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def come_back(client: httpx.AsyncClient, location: str) -> httpx.Response:
    """The provider's redirect, followed in the browser that started the flow."""
    assert location.startswith(CALLBACK + "/"), location
    return await client.get(location[len(BASE) :])


async def social_sign_in(
    client: httpx.AsyncClient,
    provider: str,
    email: str,
    *,
    form: dict[str, str] | None = None,
    **body: Any,
) -> httpx.Response:
    started = await begin(client, provider, **body)
    assert started.status_code == 200, started.text
    return await come_back(client, await authorize(started.json()["url"], email, form=form))


UNVERIFIED = {"name": "Una Verified", "action": "continue"}  # the form without email_verified


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def session_user(client: httpx.AsyncClient) -> dict[str, Any] | None:
    data = (await client.get("/api/auth/get-session")).json()
    return None if data is None else data["user"]


async def account_rows(client: httpx.AsyncClient, provider: str) -> list[dict[str, Any]]:
    columns = ("user_id", "account_id", "access_token", "refresh_token", "id_token", "access_token_expires_at", "scope")
    rows = await sql(client, f"SELECT {', '.join(columns)} FROM auth_accounts WHERE provider_id = ?", provider)
    return [dict(zip(columns, row, strict=True)) for row in rows]


async def providers_of(client: httpx.AsyncClient) -> list[str]:
    listed = await client.get("/api/auth/list-accounts")
    assert listed.status_code == 200, listed.text
    return sorted(a["providerId"] for a in listed.json())


async def verify_email_in_db(client: httpx.AsyncClient, email: str) -> None:
    true = True if runtime(client).db.dialect_name == "postgresql" else 1
    await sql(client, "UPDATE users SET email_verified = ? WHERE email = ?", true, email)


@asynccontextmanager
async def other_browser(client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser on the same app: its own, empty cookie jar."""
    transport = httpx.ASGITransport(app=client.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as other:
        yield other


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


# -- sign-in: the three kinds of provider ----------------------------------------------------------


async def test_new_user_via_generic_oidc(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        started = await begin(client, "dev", callbackURL="/dashboard")
        assert started.status_code == 200, started.text
        body = started.json()
        assert list(body) == ["url", "redirect"] and body["redirect"] is True
        assert started.headers["location"] == body["url"]
        url = body["url"]
        assert url.startswith(f"{idp.base_url}/authorize?")
        params = query_of(url)
        assert params["response_type"] == "code" and params["client_id"] == CLIENT_ID
        assert params["redirect_uri"] == f"{CALLBACK}/dev"
        assert params["scope"].split() == ["openid", "email", "profile"]
        assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
        assert len(params["state"]) == 32 and len(params["nonce"]) == 32
        # The state is stored (10 minutes) and bound to this browser by a signed cookie.
        state_cookie = next(h for h in set_cookies(started) if h.startswith(STATE_COOKIE + "="))
        assert state_cookie.endswith("; Max-Age=600; Path=/; HttpOnly; SameSite=Lax")
        assert cookie_value(started, STATE_COOKIE).startswith(params["state"] + ".")  # type: ignore[union-attr]
        stored = await sql(client, "SELECT value FROM auth_verifications WHERE identifier = ?", params["state"])
        value = json.loads(stored[0][0])
        assert value["callbackURL"] == "/dashboard" and value["idTokenNonce"] == params["nonce"]
        assert s256(value["codeVerifier"]) == params["code_challenge"]  # PKCE S256
        assert abs(value["expiresAt"] / 1000 - (now().timestamp() + 600)) < 30

        location = await authorize(url, "ada.lovelace@example.com")
        assert query_of(location)["state"] == params["state"]
        done = await come_back(client, location)
        assert done.status_code == 302, done.text
        assert done.headers["location"] == f"{BASE}/dashboard"
        assert cookie_value(done, SESSION_COOKIE)
        assert f"{STATE_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax" in set_cookies(done)
        user = await session_user(client)
        assert user is not None
        assert user["email"] == "ada.lovelace@example.com" and user["emailVerified"] is True
        assert user["name"] == "Ada Lovelace"
        sub = EmulatedUser("ada.lovelace@example.com", None).sub
        assert user["image"] == f"{idp.base_url}/avatars/{sub}.svg"
        [account] = await account_rows(client, "dev")
        assert str(account["user_id"]) == user["id"] and account["account_id"] == sub
        assert account["access_token"] and account["refresh_token"] and account["id_token"]
        assert account["scope"] == "openid,email,profile"
        expires = runtime(client).get(Authentication).ctx.store.ts_out(account["access_token_expires_at"])
        assert abs((expires - now()).total_seconds() - 3600) < 60
        # The state was used up.
        assert await sql(client, "SELECT id FROM auth_verifications WHERE identifier = ?", params["state"]) == []


async def test_google_first_sign_in_goes_to_new_user_url_then_returning_user(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        first = await social_sign_in(
            client, "google", "grace@example.com", callbackURL="/home", newUserCallbackURL="/welcome"
        )
        assert first.status_code == 302 and first.headers["location"] == f"{BASE}/welcome"
        user = await session_user(client)
        assert user is not None and user["email"] == "grace@example.com" and user["emailVerified"] is True
        [account] = await account_rows(client, "google")
        first_token = account["access_token"]

        client.cookies.clear()
        again = await social_sign_in(
            client, "google", "Grace@Example.com", callbackURL="/home", newUserCallbackURL="/welcome"
        )
        # A returning user goes to callbackURL, as the same user, with the account's tokens renewed.
        assert again.status_code == 302 and again.headers["location"] == f"{BASE}/home"
        returning = await session_user(client)
        assert returning is not None and returning["id"] == user["id"]
        [account] = await account_rows(client, "google")
        assert account["access_token"] != first_token
        assert len(await sql(client, "SELECT id FROM users")) == 1


async def test_github_new_user(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        started = await begin(client, "github")
        url = started.json()["url"]
        assert url.startswith(f"{idp.base_url}/github/login/oauth/authorize?")
        params = query_of(url)
        assert params["scope"].split() == ["read:user", "user:email"] and "nonce" not in params
        assert params["code_challenge_method"] == "S256"
        done = await come_back(client, await authorize(url, "linus@example.com"))
        # No callbackURL: Better Auth's default is the app's base URL.
        assert done.status_code == 302 and done.headers["location"] == BASE
        user = await session_user(client)
        assert user is not None
        assert (user["email"], user["emailVerified"], user["name"]) == ("linus@example.com", True, "Linus")
        emulated = EmulatedUser("linus@example.com", "Linus")
        assert user["image"] == f"{idp.base_url}/avatars/{emulated.sub}.svg"
        [account] = await account_rows(client, "github")
        assert account["account_id"] == str(emulated.github_id)
        assert account["access_token"].startswith("gho_") and account["refresh_token"] is None
        assert account["id_token"] is None and account["scope"] == "read:user,user:email"


async def test_github_private_email_comes_from_user_emails(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        form = {"name": "", "email_verified": "true", "action": "continue"}  # public_email unchecked
        done = await social_sign_in(client, "github", "hidden@example.com", form=form)
        assert done.status_code == 302, done.text
        user = await session_user(client)
        # /user says "email": null and "name": null; /user/emails has the verified primary.
        assert user is not None and user["email"] == "hidden@example.com" and user["emailVerified"] is True
        assert user["name"] == "hidden"  # the GitHub login, as Better Auth falls back to


# -- account linking ---------------------------------------------------------------------------------


async def test_existing_verified_user_is_linked_by_verified_provider_email(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        owner = (await sign_up(client, email="cap@example.com")).json()["user"]
        await verify_email_in_db(client, "cap@example.com")
        client.cookies.clear()
        done = await social_sign_in(client, "dev", "cap@example.com", callbackURL="/app")
        assert done.status_code == 302 and done.headers["location"] == f"{BASE}/app"
        user = await session_user(client)
        assert user is not None and user["id"] == owner["id"] and user["name"] == "Cap User"
        assert await providers_of(client) == ["credential", "dev"]
        # The password still works: linking added an account, it replaced nothing.
        client.cookies.clear()
        assert (await sign_in(client)).status_code == 200


def failed_sign_ins(method: str, reason: str) -> float:
    """The process's count of refused sign-ins by ``method`` and ``reason`` (what ``/metrics`` shows)."""
    labels = {"method": method, "reason": reason}
    return REGISTRY.get_sample_value("tenantry_sign_in_failures_total", labels) or 0.0


async def test_unverified_provider_email_is_not_linked(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        await sign_up(client, email="victim@example.com")
        await verify_email_in_db(client, "victim@example.com")
        client.cookies.clear()
        refusals = failed_sign_ins("dev", "account_not_linked")
        done = await social_sign_in(client, "dev", "victim@example.com", form=UNVERIFIED, errorCallbackURL="/oops")
        assert done.status_code == 302
        assert done.headers["location"] == f"{BASE}/oops?error=account_not_linked"
        assert failed_sign_ins("dev", "account_not_linked") == refusals + 1  # counted for /metrics
        assert cookie_value(done, SESSION_COOKIE) is None and await session_user(client) is None
        assert await account_rows(client, "dev") == []


async def test_unverified_local_user_is_not_linked(make_client, idp) -> None:
    # Better Auth's requireLocalEmailVerified: whoever registered the address first without
    # proving it must not gain the provider's account (nor the provider user theirs).
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        await sign_up(client, email="squatter@example.com")
        client.cookies.clear()
        done = await social_sign_in(client, "dev", "squatter@example.com")
        assert query_of(done.headers["location"]) == {"error": "account_not_linked"}
        assert done.headers["location"].startswith(f"{BASE}/api/auth/error?")
        assert await account_rows(client, "dev") == []


async def test_trusted_provider_links_unverified_email_and_linking_can_be_disabled(make_client, idp) -> None:
    async with make_client(auth=providers(idp, TENANTRY_TRUSTED_PROVIDERS="dev"), base_url=BASE) as client:
        await sign_up(client, email="trust@example.com")
        await verify_email_in_db(client, "trust@example.com")
        client.cookies.clear()
        done = await social_sign_in(client, "dev", "trust@example.com", form=UNVERIFIED)
        assert done.status_code == 302 and done.headers["location"] == BASE
        assert await providers_of(client) == ["credential", "dev"]
    async with make_client(auth=providers(idp, TENANTRY_ACCOUNT_LINKING=False), base_url=BASE) as client:
        await sign_up(client, email="solo@example.com")
        await verify_email_in_db(client, "solo@example.com")
        client.cookies.clear()
        done = await social_sign_in(client, "dev", "solo@example.com")
        assert query_of(done.headers["location"])["error"] == "account_not_linked"


async def test_new_user_with_unverified_email(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        done = await social_sign_in(client, "dev", "fresh@example.com", form=UNVERIFIED)
        assert done.status_code == 302 and cookie_value(done, SESSION_COOKIE)
        user = await session_user(client)
        assert user is not None and user["emailVerified"] is False and user["name"] == "Una Verified"
    # When the app requires verified e-mails: the user is created and mailed, but not signed in.
    required = providers(idp, TENANTRY_REQUIRE_EMAIL_VERIFICATION=True)
    async with make_client(auth=required, base_url=BASE) as client:
        done = await social_sign_in(client, "dev", "fresh@example.com", form=UNVERIFIED, errorCallbackURL="/oops")
        assert done.headers["location"] == f"{BASE}/oops?error=email_not_verified"
        assert cookie_value(done, SESSION_COOKIE) is None
        assert len(await sql(client, "SELECT id FROM users WHERE email = 'fresh@example.com'")) == 1
        pending = await sql(client, "SELECT identifier FROM auth_verifications")
        assert [row[0].split(":")[0] for row in pending] == ["email-verification"]


# -- state, PKCE, nonce ---------------------------------------------------------------------------


async def test_state_is_single_use(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        started = await begin(client, "dev", errorCallbackURL="/oops")
        location = await authorize(started.json()["url"], "once@example.com")
        assert (await come_back(client, location)).status_code == 302
        assert await session_user(client) is not None
        replay = await come_back(client, location)
        # The state is gone: the default error page (its errorCallbackURL went with it).
        assert replay.headers["location"] == f"{BASE}/api/auth/error?error=state_mismatch"
        assert cookie_value(replay, SESSION_COOKIE) is None
        missing = await client.get("/api/auth/callback/dev?code=abc")
        assert missing.headers["location"] == f"{BASE}/api/auth/error?error=state_not_found"
        unknown = await client.get("/api/auth/callback/dev?code=abc&state=" + "x" * 32)
        assert unknown.headers["location"] == f"{BASE}/api/auth/error?error=state_mismatch"


async def test_state_from_another_browser_is_refused(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        started = await begin(client, "dev", errorCallbackURL="/oops")
        location = await authorize(started.json()["url"], "mallory@example.com")
        async with other_browser(client) as victim:
            hijacked = await come_back(victim, location)
            assert hijacked.headers["location"] == f"{BASE}/oops?error=state_mismatch"
            assert cookie_value(hijacked, SESSION_COOKIE) is None
            assert await session_user(victim) is None
        # A forged callback does not use up the state: the browser that started can finish.
        done = await come_back(client, location)
        assert done.status_code == 302 and done.headers["location"] == BASE
        assert await session_user(client) is not None


async def test_expired_state_is_refused(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        started = await begin(client, "dev", errorCallbackURL="/oops")
        state = query_of(started.json()["url"])["state"]
        past = ts(client, now() - dt.timedelta(seconds=1))
        await sql(client, "UPDATE auth_verifications SET expires_at = ? WHERE identifier = ?", past, state)
        location = await authorize(started.json()["url"], "late@example.com")
        late = await come_back(client, location)
        assert late.headers["location"] == f"{BASE}/oops?error=state_mismatch"


async def test_pkce_verifier_is_sent_and_checked(make_client, idp) -> None:
    # The successful flows above already prove the emulator accepted our verifier; here a wrong
    # verifier in the stored state makes the emulator refuse the code.
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        started = await begin(client, "dev", errorCallbackURL="/oops")
        state = query_of(started.json()["url"])["state"]
        [(raw,)] = await sql(client, "SELECT value FROM auth_verifications WHERE identifier = ?", state)
        value = json.loads(raw)
        value["codeVerifier"] = secrets.token_urlsafe(64)
        await sql(client, "UPDATE auth_verifications SET value = ? WHERE identifier = ?", json.dumps(value), state)
        done = await come_back(client, await authorize(started.json()["url"], "pkce@example.com"))
        assert done.headers["location"] == f"{BASE}/oops?error=invalid_code"
        assert await sql(client, "SELECT id FROM users") == []


async def test_id_token_nonce_and_issuer_are_checked(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        started = await begin(client, "google", errorCallbackURL="/oops")
        state = query_of(started.json()["url"])["state"]
        [(raw,)] = await sql(client, "SELECT value FROM auth_verifications WHERE identifier = ?", state)
        value = json.loads(raw)
        value["idTokenNonce"] = "another-nonce-than-the-one-sent"
        await sql(client, "UPDATE auth_verifications SET value = ? WHERE identifier = ?", json.dumps(value), state)
        done = await come_back(client, await authorize(started.json()["url"], "nonce@example.com"))
        assert done.headers["location"] == f"{BASE}/oops?error=unable_to_get_user_info"
        # RFC 9207: a response naming another issuer is refused before the code is used.
        started = await begin(client, "google", errorCallbackURL="/oops")
        location = await authorize(started.json()["url"], "mixup@example.com")
        forged = location.replace(quote(idp.base_url, safe=""), quote("https://evil.example", safe=""))
        assert forged != location
        done = await come_back(client, forged)
        assert done.headers["location"] == f"{BASE}/oops?error=issuer_mismatch"


# -- errors ------------------------------------------------------------------------------------------


async def test_provider_errors_and_bad_requests(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        unknown = await begin(client, "facebook")
        assert (unknown.status_code, unknown.json()) == (
            404,
            {"message": "Provider not found", "code": "PROVIDER_NOT_FOUND"},
        )
        missing = await client.post("/api/auth/sign-in/social", json={}, headers=ORIGIN)
        assert (missing.status_code, missing.json()["code"]) == (400, "VALIDATION_ERROR")
        evil = await begin(client, "dev", callbackURL="https://evil.example/steal")
        assert (evil.status_code, evil.json()["code"]) == (403, "INVALID_CALLBACK_URL")
        evil = await begin(client, "dev", errorCallbackURL="https://evil.example/steal")
        assert (evil.status_code, evil.json()["code"]) == (403, "INVALID_ERROR_CALLBACK_URL")
        no_id_token = await begin(client, "github", idToken={"token": "x"})
        assert (no_id_token.status_code, no_id_token.json()["code"]) == (404, "ID_TOKEN_NOT_SUPPORTED")
        quiet = await begin(client, "dev", disableRedirect=True)
        assert quiet.json()["redirect"] is False and "location" not in quiet.headers
    # A provider without a client id is not enabled.
    async with make_client(auth=AuthSettings(GOOGLE_CLIENT_SECRET="x"), base_url=BASE) as client:
        assert (await begin(client, "google")).status_code == 404


async def test_cancel_at_the_provider_goes_to_error_callback(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        started = await begin(client, "dev", errorCallbackURL="/sign-in?tab=social")
        location = await authorize(started.json()["url"], "", form={"action": "cancel"})
        done = await come_back(client, location)
        target = done.headers["location"]
        assert target.startswith(f"{BASE}/sign-in?tab=social&error=access_denied&error_description=")
        assert cookie_value(done, SESSION_COOKIE) is None
        assert f"{STATE_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax" in set_cookies(done)


async def test_form_post_callback_redirects_to_get(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        posted = await client.post("/api/auth/callback/dev?iss=x", data={"code": "c0de", "state": "s1", "ignored": "y"})
        assert posted.status_code == 302
        assert posted.headers["location"] == f"{CALLBACK}/dev?code=c0de&state=s1&iss=x"


# -- link-social, unlink-account --------------------------------------------------------------------


async def test_link_social_for_signed_in_user(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        owner = (await sign_up(client, email="linker@example.com")).json()["user"]
        session_token = cookie_value(await sign_in(client, email="linker@example.com"), SESSION_COOKIE)
        unauthenticated = await other_browser_post(client, "/api/auth/link-social", {"provider": "github"})
        assert unauthenticated.status_code == 401

        started = await client.post(
            "/api/auth/link-social", json={"provider": "github", "callbackURL": "/settings"}, headers=ORIGIN
        )
        assert started.status_code == 200, started.text
        assert started.json()["redirect"] is True
        state = query_of(started.json()["url"])["state"]
        [(raw,)] = await sql(client, "SELECT value FROM auth_verifications WHERE identifier = ?", state)
        assert json.loads(raw)["link"] == {"userId": str(owner["id"]), "email": "linker@example.com"}
        done = await come_back(client, await authorize(started.json()["url"], "linker@example.com"))
        assert done.status_code == 302 and done.headers["location"] == f"{BASE}/settings"
        assert cookie_value(done, SESSION_COOKIE) is None  # linking keeps the current session
        assert client.cookies.get(SESSION_COOKIE) == session_token
        assert await providers_of(client) == ["credential", "github"]
        [account] = await account_rows(client, "github")
        assert str(account["user_id"]) == str(owner["id"])

        # Another e-mail at the provider is not linked.
        started = await client.post(
            "/api/auth/link-social", json={"provider": "dev", "errorCallbackURL": "/settings"}, headers=ORIGIN
        )
        done = await come_back(client, await authorize(started.json()["url"], "someone.else@example.com"))
        assert done.headers["location"] == f"{BASE}/settings?error=email_does_not_match"
        assert await providers_of(client) == ["credential", "github"]


async def other_browser_post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    async with other_browser(client) as other:
        return await other.post(path, json=body, headers=ORIGIN)


async def test_unlink_account(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        await social_sign_in(client, "github", "two@example.com")
        # The same verified e-mail at another provider links to the same user.
        client.cookies.clear()
        await social_sign_in(client, "dev", "two@example.com")
        assert await providers_of(client) == ["dev", "github"]

        async def unlink(**body: Any) -> httpx.Response:
            return await client.post("/api/auth/unlink-account", json=body, headers=ORIGIN)

        absent = await unlink(providerId="google")
        assert (absent.status_code, absent.json()) == (
            400,
            {"message": "Account not found", "code": "ACCOUNT_NOT_FOUND"},
        )
        wrong_id = await unlink(providerId="github", accountId="123")
        assert wrong_id.json()["code"] == "ACCOUNT_NOT_FOUND"
        github_id = str(EmulatedUser("two@example.com", None).github_id)
        ok = await unlink(providerId="github", accountId=github_id)
        assert (ok.status_code, ok.json()) == (200, {"status": True})
        assert await providers_of(client) == ["dev"]
        last = await unlink(providerId="dev")
        assert (last.status_code, last.json()) == (
            400,
            {"message": "You can't unlink your last account", "code": "FAILED_TO_UNLINK_LAST_ACCOUNT"},
        )
        assert await providers_of(client) == ["dev"]
        anonymous = await other_browser_post(client, "/api/auth/unlink-account", {"providerId": "dev"})
        assert anonymous.status_code == 401


# -- the provider's tokens ---------------------------------------------------------------------------


async def test_get_access_token_refreshes_when_expired(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        await social_sign_in(client, "dev", "tokens@example.com")
        [account] = await account_rows(client, "dev")

        async def get_token(**body: Any) -> httpx.Response:
            return await client.post("/api/auth/get-access-token", json=body, headers=ORIGIN)

        current = await get_token(providerId="dev")
        assert current.status_code == 200, current.text
        data = current.json()
        assert list(data) == ["accessToken", "accessTokenExpiresAt", "scopes", "idToken"]
        assert data["accessToken"] == account["access_token"] and data["idToken"] == account["id_token"]
        assert data["scopes"] == ["openid", "email", "profile"]
        assert data["accessTokenExpiresAt"].endswith("Z")

        # Expired: refreshed with the refresh token, stored, and the new token works at the provider.
        past = ts(client, now() - dt.timedelta(minutes=1))
        await sql(client, "UPDATE auth_accounts SET access_token_expires_at = ? WHERE provider_id = 'dev'", past)
        refreshed = (await get_token(providerId="dev", accountId=account["account_id"])).json()
        assert refreshed["accessToken"] != account["access_token"]
        [stored] = await account_rows(client, "dev")
        assert stored["access_token"] == refreshed["accessToken"]
        assert stored["refresh_token"] == account["refresh_token"]  # not rotated, kept
        async with httpx.AsyncClient() as api:
            info = await api.get(
                f"{idp.base_url}/userinfo", headers={"authorization": f"Bearer {refreshed['accessToken']}"}
            )
        assert info.status_code == 200 and info.json()["email"] == "tokens@example.com"

        forced = await client.post("/api/auth/refresh-token", json={"providerId": "dev"}, headers=ORIGIN)
        assert forced.status_code == 200, forced.text
        body = forced.json()
        assert body["accessToken"] not in (refreshed["accessToken"], account["access_token"])
        assert body["refreshToken"] == account["refresh_token"] and body["providerId"] == "dev"
        assert body["accountId"] == account["account_id"] and body["scope"] == "openid,email,profile"

        unknown = await get_token(providerId="nope")
        assert (unknown.status_code, unknown.json()["code"]) == (400, "PROVIDER_NOT_SUPPORTED")
        unlinked = await get_token(providerId="github")
        assert (unlinked.status_code, unlinked.json()["code"]) == (400, "ACCOUNT_NOT_FOUND")
        no_refresh = await social_sign_in(client, "github", "tokens@example.com")
        assert no_refresh.status_code == 302
        github = await client.post("/api/auth/refresh-token", json={"providerId": "github"}, headers=ORIGIN)
        assert (github.status_code, github.json()["code"]) == (400, "REFRESH_TOKEN_NOT_FOUND")
        anonymous = await other_browser_post(client, "/api/auth/get-access-token", {"providerId": "dev"})
        assert anonymous.status_code == 401


async def test_account_info(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        await social_sign_in(client, "github", "octo.cat@example.com")
        [account] = await account_rows(client, "github")
        info = await client.get("/api/auth/account-info", params={"accountId": account["account_id"]})
        assert info.status_code == 200, info.text
        body = info.json()
        assert body["user"] == {
            "id": account["account_id"],
            "name": "Octo Cat",
            "email": "octo.cat@example.com",
            "image": body["data"]["avatar_url"],
            "emailVerified": True,
        }
        assert body["data"]["login"] == "octo-cat"
        missing = await client.get("/api/auth/account-info", params={"accountId": "nope"})
        assert (missing.status_code, missing.json()["code"]) == (400, "ACCOUNT_NOT_FOUND")


# -- idToken sign-in (Google One Tap and the like) ------------------------------------------------------


async def id_token_from(idp: RunningServer, email: str, nonce: str) -> str:
    """An ID token for our client, obtained as a front end would, straight from the provider."""
    verifier = secrets.token_urlsafe(48)
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": f"{CALLBACK}/google",
        "scope": "openid email profile",
        "state": "s",
        "nonce": nonce,
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
        "prompt": "none",
        "login_hint": email,
    }
    async with httpx.AsyncClient() as front_end:
        authorized = await front_end.get(f"{idp.base_url}/authorize", params=params)
        code = query_of(authorized.headers["location"])["code"]
        token = await front_end.post(
            f"{idp.base_url}/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": f"{CALLBACK}/google"}
            | {"code_verifier": verifier, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        )
    return str(token.json()["id_token"])


async def test_sign_in_with_id_token(make_client, idp) -> None:
    async with make_client(auth=providers(idp), base_url=BASE) as client:
        id_token = await id_token_from(idp, "onetap@example.com", "n-0123456789")
        wrong_nonce = await begin(client, "google", idToken={"token": id_token, "nonce": "other"})
        assert (wrong_nonce.status_code, wrong_nonce.json()["code"]) == (401, "INVALID_TOKEN")
        head, payload, signature = id_token.split(".")
        forged = f"{head}.{payload}.{signature[::-1]}"
        assert (await begin(client, "google", idToken={"token": forged})).json()["code"] == "INVALID_TOKEN"

        ok = await begin(client, "google", idToken={"token": id_token, "nonce": "n-0123456789"})
        assert ok.status_code == 200, ok.text
        body = ok.json()
        assert list(body) == ["redirect", "token", "user"] and body["redirect"] is False
        assert body["user"]["email"] == "onetap@example.com" and body["user"]["emailVerified"] is True
        assert cookie_value(ok, SESSION_COOKIE)
        user = await session_user(client)
        assert user is not None and user["id"] == body["user"]["id"]
        [account] = await account_rows(client, "google")
        assert account["id_token"] == id_token and account["access_token"] is None
