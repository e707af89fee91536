"""The pages pass the guard the ``/api/auth`` router passes, on SQLite and PostgreSQL: one rate limit
per action with the API's 429 and its retry delay, the API's origin rules and codes, the callback
URL checks, and the plugins' action checks (an impersonation changes no credentials through a page)."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.requests import Request

from tenantry.auth import Authentication, AuthSettings
from tenantry.auth.errors import AuthError
from tenantry.auth.guard import RATE_LIMIT_MESSAGE, RateLimited
from tenantry.auth.plugin import AuthPlugin, SessionSource
from tenantry.auth.plugins import PLUGINS
from tenantry.core import App
from tenantry.mail import list_outbox
from tests.admin.helpers import superuser
from tests.audit.helpers import person
from tests.auth.helpers import BASE, PASSWORD, runtime, sign_in
from tests.conftest import ClientFactory

pytestmark = pytest.mark.asyncio

FORM = {"origin": BASE}
RATE_LIMITED = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_RATE_LIMIT="on")


def retry_after(response: httpx.Response) -> int:
    """The delay a 429 asks for; a page sends it as the API does, and as ``Retry-After`` too."""
    assert response.status_code == 429, response.text
    value = response.headers["x-retry-after"]
    assert response.headers.get("retry-after", value) == value
    return int(value)


async def test_a_page_form_gets_the_apis_429_and_retry_delay(make_client: ClientFactory) -> None:
    async with make_client(auth=RATE_LIMITED, base_url=BASE) as client:
        wrong = {"email": "ada@example.com", "password": "wrong-password"}
        # The API uses up the sign-in budget (3 in 10 s); the page's sign-in is the same action.
        assert [(await sign_in(client, **wrong)).status_code for _ in range(3)] == [401, 401, 401]
        page = await client.post("/login", data=wrong, headers=FORM)
        delay = retry_after(page)
        assert 1 <= delay <= 10 and page.headers["retry-after"] == str(delay)
        assert re.search(r"Too many attempts\. Try again in (a second|\d+ seconds)\.", page.text)
        api = await sign_in(client, **wrong)
        assert api.json() == {"message": RATE_LIMIT_MESSAGE}
        assert abs(retry_after(api) - delay) <= 1
        assert "retry-after" not in api.headers  # the API's own answer is unchanged

        # E-mail sending actions: 3 a minute, counted across the API and the page.
        for _ in range(3):
            sent = await client.post(
                "/api/auth/request-password-reset", json={"email": "ada@example.com"}, headers=FORM
            )
            assert sent.status_code == 200
        forgot = await client.post("/forgot-password", data={"email": "ada@example.com"}, headers=FORM)
        assert 10 < retry_after(forgot) <= 60
        assert "Too many attempts" in forgot.text


async def test_the_page_limit_is_the_apis_whichever_door_comes_first(make_client: ClientFactory) -> None:
    async with make_client(auth=RATE_LIMITED, base_url=BASE) as client:
        await person(client, "ada@example.com", org="acme")
        pages = [
            (await client.post("/forgot-password", data={"email": "ada@example.com"}, headers=FORM)).status_code
            for _ in range(3)
        ]
        assert pages == [200, 200, 200]
        rt = runtime(client)
        assert len([m for m in await list_outbox(rt.db, rt.tables, to="ada@example.com")]) == 3
        api = await client.post("/api/auth/request-password-reset", json={"email": "ada@example.com"}, headers=FORM)
        assert api.json() == {"message": RATE_LIMIT_MESSAGE}
        assert 10 < retry_after(api) <= 60
        # Nothing more was sent.
        assert len([m for m in await list_outbox(rt.db, rt.tables, to="ada@example.com")]) == 3


async def test_page_forms_are_refused_by_the_apis_origin_rule(make_client: ClientFactory) -> None:
    async with make_client(auth=RATE_LIMITED, base_url=BASE) as client:
        await person(client, "ada@example.com")
        credentials = {"email": "ada@example.com", "password": PASSWORD}
        forged = await client.post("/login", data=credentials, headers={"origin": "https://evil.example"})
        assert forged.status_code == 403 and "Invalid origin" in forged.text
        assert "set-cookie" not in forged.headers
        # No Origin and no Referer, or a "null" origin: what the API answers a request with a cookie.
        for headers in ({}, {"origin": "null"}):
            missing = await client.post("/login", data=credentials, headers=headers)
            assert missing.status_code == 403 and "Missing or null Origin" in missing.text, headers

        # Refused forms never reached the action: the sign-in budget (3 in 10 s) is whole.
        referred = await client.post("/login", data=credentials, headers={"referer": f"{BASE}/login"})
        assert referred.status_code == 303 and referred.headers["location"] == "/dashboard"

        # The API refuses the same requests with the same codes.
        api = await client.post("/api/auth/sign-in/email", json=credentials, headers={"origin": "https://evil.example"})
        assert (api.status_code, api.json()["code"]) == (403, "INVALID_ORIGIN")
        api = await client.post("/api/auth/sign-out", json={})  # with the session cookie, without an origin
        assert (api.status_code, api.json()["code"]) == (403, "MISSING_OR_NULL_ORIGIN")
        signed_out = await client.post("/sign-out", data={})
        assert signed_out.status_code == 403 and "Missing or null Origin" in signed_out.text
        assert (await client.get("/api/auth/get-session")).json() is not None


async def test_the_guard_checks_the_urls_a_page_passes_on(make_client: ClientFactory) -> None:
    async with make_client(base_url=BASE) as client:
        guard = runtime(client).get(Authentication).ctx.guard
        request = Request({"type": "http", "method": "POST", "path": "/login", "headers": [], "query_string": b""})
        await guard.page_action(request, "/sign-in/email", urls={"callbackURL": "/dashboard"})
        await guard.page_action(request, "/sign-in/email", urls={"callbackURL": f"{BASE}/dashboard"})
        for key, code in (("callbackURL", "INVALID_CALLBACK_URL"), ("errorCallbackURL", "INVALID_ERROR_CALLBACK_URL")):
            with pytest.raises(AuthError) as refused:
                await guard.page_action(request, "/sign-in/social", urls={key: "https://evil.example/steal"})
            assert (refused.value.status, refused.value.code) == (403, code)


async def test_rate_limited_refusals_carry_no_code_as_in_better_auth() -> None:
    refused = RateLimited(7)
    assert (refused.status, refused.code, refused.body()) == (429, None, {"message": RATE_LIMIT_MESSAGE})
    assert refused.headers == {"x-retry-after": "7"}


async def test_an_impersonation_changes_no_credentials_through_the_pages(make_client: ClientFactory) -> None:
    async with make_client(auth=AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False), base_url=BASE) as client:
        await superuser(client)
        eve = await person(client, "eve@example.com", org="eve-co")
        login = {"email": "root@example.com", "password": PASSWORD, "from": "/dashboard"}
        assert (await client.post("/login", data=login, headers=FORM)).status_code == 303
        started = await client.post(f"/admin/users/{eve.id}/impersonate", data={}, headers=FORM)
        assert started.status_code == 303 and started.headers["location"] == "/dashboard"
        message = "This action is not allowed while impersonating a user"

        password = {"current_password": PASSWORD, "new_password": "Taken-Over-123"}
        changed = await client.post("/settings/account/password", data=password, headers=FORM)
        assert changed.status_code == 400 and message in changed.text
        enable = await client.post("/settings/account/two-factor/enable", data={"password": PASSWORD}, headers=FORM)
        assert enable.status_code == 303 and message.replace(" ", "%20") in enable.headers["set-cookie"]
        key = await client.post("/settings/account/api-keys/create", data={"name": "backdoor"}, headers=FORM)
        assert key.status_code == 303 and "backdoor" not in key.text

        # Nothing changed: Eve's password still works, and she has no enrolment and no key.
        client.cookies.clear()
        assert (await sign_in(client, "eve@example.com")).status_code == 200
        uri = await client.post("/api/auth/two-factor/get-totp-uri", json={"password": PASSWORD}, headers=FORM)
        assert (uri.status_code, uri.json()["code"]) == (400, "TOTP_NOT_ENABLED")
        keys = await client.get("/api/auth/api-key/list")
        assert keys.status_code == 200 and keys.json()["apiKeys"] == []


class FrozenProfiles(AuthPlugin):
    """A plugin with one action check: users called "Frozen" may not change their profile."""

    name = "frozen"

    def hook(self, app: App, auth: Authentication) -> None:
        async def refuse_frozen(method: str, action: str, session: SessionSource) -> None:
            current = await session()
            if action == "/update-user" and current is not None and current.user.core["name"] == "Frozen":
                raise AuthError(403, "PROFILE_FROZEN", "This profile is frozen")

        auth.ctx.hooks.action_checks.append(refuse_frozen)


async def test_a_plugins_action_check_refuses_the_api_and_the_page_alike(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(PLUGINS, "frozen", lambda: FrozenProfiles)
    settings = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_AUTH_PLUGINS="frozen")
    async with make_client(auth=settings, base_url=BASE) as client:
        body = {"email": "frozen@example.com", "password": PASSWORD, "name": "Frozen"}
        assert (await client.post("/api/auth/sign-up/email", json=body, headers=FORM)).status_code == 200
        api = await client.post("/api/auth/update-user", json={"name": "Thawed"}, headers=FORM)
        assert api.status_code == 403 and api.json() == {"message": "This profile is frozen", "code": "PROFILE_FROZEN"}
        page = await client.post("/settings/account/profile", data={"name": "Thawed"}, headers=FORM)
        assert page.status_code == 400 and "This profile is frozen" in page.text
        assert (await client.get("/api/auth/get-session")).json()["user"]["name"] == "Frozen"
