"""The identity provider emulator, driven over real HTTP by Authlib's own clients.

The browser step is simulated with httpx: GET the sign-in page, submit its form as a browser
would (hidden fields, checked checkboxes, the clicked button), and read the 302 ``Location``.
The callback URL is never contacted.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urljoin, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.integrations.starlette_client import OAuth
from authlib.oidc.core import CodeIDToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tenantry.emulators.oidc import EmulatedUser, OIDCClient, create_oidc_app, start_oidc_emulator
from tenantry.emulators.server import RunningServer, bind_socket, run_in_thread

ROOT = Path(__file__).resolve().parents[2]
CALLBACK = "http://127.0.0.1:8000/api/auth/callback/dev"
GITHUB_CALLBACK = "http://127.0.0.1:8000/api/auth/callback/github"
SCOPE = "openid email profile"
# The markup in the name checks that the page escapes what it shows.
CLIENT = OIDCClient("tenantry-test", "s3cret", [CALLBACK, GITHUB_CALLBACK], "Acme <b>Workspace</b>")
OTHER = OIDCClient("other-app", "other-secret", ["http://127.0.0.1:9999/cb"], "Other app")


# -- fixtures and helpers -------------------------------------------------------------------------


class Clock:
    """A settable clock for the emulator, so tests can expire codes and tokens without sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def emulator(clock: Clock) -> Iterator[RunningServer]:
    with start_oidc_emulator([CLIENT, OTHER], clock=clock) as server:
        yield server


@pytest.fixture
async def metadata(emulator: RunningServer) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{emulator.base_url}/.well-known/openid-configuration")
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


@asynccontextmanager
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    """A user agent that, like a test reading redirects, does not follow them."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as http:
        yield http


@asynccontextmanager
async def oidc_client(**kwargs: Any) -> AsyncIterator[AsyncOAuth2Client]:
    options: dict[str, Any] = {
        "client_id": CLIENT.client_id,
        "client_secret": CLIENT.client_secret,
        "redirect_uri": CALLBACK,
        "scope": SCOPE,
        "code_challenge_method": "S256",
    }
    options.update(kwargs)
    async with AsyncOAuth2Client(**options) as client:
        yield client


@dataclass
class Field:
    type: str
    value: str
    checked: bool
    attrs: dict[str, str | None]


@dataclass
class Page:
    """What a browser would see of the sign-in page: its form, heading and alerts."""

    url: str
    status: int
    text: str
    action: str = ""
    method: str = ""
    heading: str = ""
    alerts: list[str] = field(default_factory=list)
    fields: dict[str, Field] = field(default_factory=dict)
    buttons: dict[str, dict[str, str | None]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


class _PageParser(HTMLParser):
    def __init__(self, page: Page) -> None:
        super().__init__()
        self.page = page
        self._capture: str | None = None
        self._label_for: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.page.action, self.page.method = a.get("action") or "", (a.get("method") or "get").lower()
        elif tag == "input" and a.get("name"):
            name = a["name"] or ""
            self.page.fields[name] = Field(a.get("type") or "text", a.get("value") or "", "checked" in a, a)
        elif tag == "button":
            self.page.buttons[a.get("value") or ""] = a
        elif tag == "h1" or (tag == "p" and a.get("role") == "alert"):
            self._capture, self._text = tag, []
        elif tag == "label":
            self._capture, self._text, self._label_for = "label", [], a.get("for")

    def handle_data(self, data: str) -> None:
        if self._capture:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._capture is None or tag not in (self._capture, "h1", "p", "label"):
            return
        text = " ".join("".join(self._text).split())
        if self._capture == "h1":
            self.page.heading = text
        elif self._capture == "label" and self._label_for:
            self.page.labels[self._label_for] = text
        elif self._capture == "p":
            self.page.alerts.append(text)
        self._capture = None


def parse_page(response: httpx.Response) -> Page:
    page = Page(url=str(response.url), status=response.status_code, text=response.text)
    _PageParser(page).feed(response.text)
    return page


async def open_signin(http: httpx.AsyncClient, url: str) -> Page:
    response = await http.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return parse_page(response)


async def submit(
    http: httpx.AsyncClient,
    page: Page,
    *,
    email: str | None = None,
    name: str | None = None,
    email_verified: bool = True,
    public_email: bool | None = None,
    action: str = "continue",
) -> httpx.Response:
    """Fill in and submit the sign-in form as a browser would."""
    assert page.method == "post" and action in page.buttons
    values = {key: f.value for key, f in page.fields.items() if f.type not in ("checkbox", "submit")}
    if email is not None:
        values["email"] = email
    if name is not None:
        values["name"] = name
    # A browser sends a checkbox only when it is checked.
    checks = {"email_verified": email_verified, "public_email": public_email}
    for key, checked in checks.items():
        if key in page.fields and (page.fields[key].checked if checked is None else checked):
            values[key] = page.fields[key].value
    values["action"] = action
    return await http.post(urljoin(page.url, page.action), data=values)


def redirect_params(response: httpx.Response, expected_base: str = CALLBACK) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.split("?", 1)[0] == expected_base
    return dict(parse_qsl(urlsplit(location).query))


async def sign_in(
    url: str, *, email: str = "ada.lovelace@example.com", name: str | None = None, **form: Any
) -> httpx.Response:
    """The browser step, from the authorization URL to the redirect back."""
    async with browser() as http:
        page = await open_signin(http, url)
        return await submit(http, page, email=email, name=name, **form)


async def verify_id_token(
    emulator: RunningServer, id_token: str, *, nonce: str | None, access_token: str | None
) -> dict[str, Any]:
    """Signature against the published JWKS, then the claims as Authlib's OpenID client checks them."""
    async with httpx.AsyncClient() as http:
        jwks = (await http.get(f"{emulator.base_url}/jwks")).json()
    decoded = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    assert decoded.header["alg"] == "RS256" and decoded.header["kid"] == jwks["keys"][0]["kid"]
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": emulator.base_url},
        aud={"essential": True, "value": CLIENT.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    ).validate(decoded.claims)
    params: dict[str, Any] = {"nonce": nonce, "client_id": CLIENT.client_id}
    if access_token is not None:
        params["access_token"] = access_token  # checks at_hash
    CodeIDToken(decoded.claims, decoded.header, {"iss": {"values": [emulator.base_url]}}, params).validate()
    return dict(decoded.claims)


async def authorization_code(emulator: RunningServer, client: AsyncOAuth2Client, verifier: str, **kw: Any) -> str:
    """Run the browser step for ``client`` and return the redirect URL carrying the code."""
    url, state = client.create_authorization_url(f"{emulator.base_url}/authorize", code_verifier=verifier, **kw)
    response = await sign_in(url)
    assert redirect_params(response)["state"] == state
    return response.headers["location"]


# -- OpenID Connect ---------------------------------------------------------------------------------


async def test_discovery_document(emulator: RunningServer, metadata: dict[str, Any]) -> None:
    base = emulator.base_url
    assert metadata["issuer"] == base
    assert metadata["authorization_endpoint"] == f"{base}/authorize"
    assert metadata["token_endpoint"] == f"{base}/token"
    assert metadata["userinfo_endpoint"] == f"{base}/userinfo"
    assert metadata["jwks_uri"] == f"{base}/jwks"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert metadata["code_challenge_methods_supported"] == ["S256", "plain"]
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert metadata["scopes_supported"] == ["openid", "email", "profile"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {"client_secret_post", "client_secret_basic"}
    assert {"sub", "email", "email_verified", "name", "picture", "nonce"} <= set(metadata["claims_supported"])
    async with httpx.AsyncClient() as http:
        jwks = (await http.get(metadata["jwks_uri"])).json()
    (key,) = jwks["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["kid"]
    assert "d" not in key and "p" not in key  # public part only
    assert RSAKey.import_key(key).public_key.key_size == 2048


async def test_full_oidc_flow_with_pkce_and_nonce(emulator: RunningServer, metadata: dict[str, Any]) -> None:
    verifier, nonce = generate_token(48), generate_token(20)
    async with oidc_client() as client:
        url, state = client.create_authorization_url(
            metadata["authorization_endpoint"],
            code_verifier=verifier,
            nonce=nonce,
            login_hint="ada.lovelace@example.com",
        )
        assert "code_challenge_method=S256" in url
        async with browser() as http:
            page = await open_signin(http, url)
            assert page.heading == "Sign in to Acme <b>Workspace</b>"  # shown as text, not markup
            assert "<b>Workspace</b>" not in page.text and "&lt;b&gt;Workspace&lt;/b&gt;" in page.text
            email = page.fields["email"]
            assert email.type == "email" and "required" in email.attrs and email.value == "ada.lovelace@example.com"
            assert page.fields["name"].value == "Ada Lovelace"
            assert page.fields["email_verified"].checked and page.labels["email_verified"] == "Email verified"
            assert page.labels["email"] == "Email" and "public_email" not in page.fields
            assert set(page.buttons) == {"continue", "cancel"}
            assert "formnovalidate" in page.buttons["cancel"]  # Cancel works with an empty email
            response = await submit(http, page, name="Ada King Lovelace")
        params = redirect_params(response)
        assert params["state"] == state and params["iss"] == emulator.base_url and params["code"]

        token = await client.fetch_token(
            metadata["token_endpoint"], authorization_response=response.headers["location"], code_verifier=verifier
        )
    assert token["token_type"] == "Bearer" and token["scope"] == SCOPE
    assert token["expires_in"] == 3600 and token["refresh_token"] and token["access_token"]
    claims = await verify_id_token(emulator, token["id_token"], nonce=nonce, access_token=token["access_token"])
    assert claims["nonce"] == nonce and claims["aud"] == CLIENT.client_id and claims["azp"] == CLIENT.client_id
    assert claims["email"] == "ada.lovelace@example.com" and claims["email_verified"] is True
    assert claims["name"] == "Ada King Lovelace"
    assert (claims["given_name"], claims["family_name"]) == ("Ada", "King Lovelace")
    assert claims["sub"] == EmulatedUser("ada.lovelace@example.com", None).sub and claims["sub"].isdigit()
    assert claims["exp"] > claims["iat"] and abs(claims["auth_time"] - time.time()) < 60
    async with httpx.AsyncClient() as http:
        avatar = await http.get(claims["picture"])
    assert avatar.status_code == 200 and avatar.headers["content-type"] == "image/svg+xml"
    assert ">AK<" in avatar.text


async def test_sub_is_stable_per_email(emulator: RunningServer) -> None:
    subs = []
    for email in ("grace@example.com", "Grace@Example.com", "hopper@example.com"):
        verifier = generate_token(48)
        async with oidc_client() as client:
            url, _ = client.create_authorization_url(f"{emulator.base_url}/authorize", code_verifier=verifier)
            response = await sign_in(url, email=email)
            token = await client.fetch_token(
                f"{emulator.base_url}/token",
                authorization_response=response.headers["location"],
                code_verifier=verifier,
            )
        subs.append(jwt.decode(token["id_token"], KeySet.import_key_set(await _jwks(emulator))).claims["sub"])
    assert subs[0] == subs[1] != subs[2]


async def _jwks(emulator: RunningServer) -> Any:
    async with httpx.AsyncClient() as http:
        return (await http.get(f"{emulator.base_url}/jwks")).json()


async def test_authlib_starlette_integration_accepts_the_provider(emulator: RunningServer) -> None:
    """The path Tenantry's sign-in takes: an OAuth registry with server_metadata_url, then parse_id_token."""
    oauth = OAuth()
    oauth.register(
        "dev",
        client_id=CLIENT.client_id,
        client_secret=CLIENT.client_secret,
        server_metadata_url=f"{emulator.base_url}/.well-known/openid-configuration",
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"},
    )
    dev: Any = oauth.create_client("dev")
    request = await dev.create_authorization_url(CALLBACK, login_hint="lin@example.com")
    assert request["nonce"] and request["code_verifier"]
    response = await sign_in(request["url"], email="lin@example.com", name="Lin Wei")
    params = redirect_params(response)
    assert params["state"] == request["state"]
    token = await dev.fetch_access_token(
        redirect_uri=CALLBACK, code=params["code"], code_verifier=request["code_verifier"]
    )
    user = await dev.parse_id_token(token, nonce=request["nonce"])
    assert (user["email"], user["email_verified"], user["name"]) == ("lin@example.com", True, "Lin Wei")
    info = await dev.userinfo(token=token)
    assert info["sub"] == user["sub"] and info["email"] == "lin@example.com"
    with pytest.raises(Exception, match="nonce"):
        await dev.parse_id_token(token, nonce="a-different-nonce")


async def test_pkce_mismatch_is_invalid_grant(emulator: RunningServer) -> None:
    async with oidc_client() as client:
        location = await authorization_code(emulator, client, generate_token(48))
        with pytest.raises(OAuthError) as excinfo:
            await client.fetch_token(
                f"{emulator.base_url}/token", authorization_response=location, code_verifier=generate_token(48)
            )
    assert excinfo.value.error == "invalid_grant"
    assert "code_verifier" in (excinfo.value.description or "")


async def test_missing_verifier_and_pkce_downgrade_are_rejected(emulator: RunningServer) -> None:
    async with oidc_client() as client:
        location = await authorization_code(emulator, client, generate_token(48))
        with pytest.raises(OAuthError) as missing:
            await client.fetch_token(f"{emulator.base_url}/token", authorization_response=location)
    assert missing.value.error == "invalid_grant"
    # Without a challenge at /authorize, a verifier at /token is a downgrade attempt (RFC 9700).
    async with oidc_client(code_challenge_method=None) as client:
        url, _ = client.create_authorization_url(f"{emulator.base_url}/authorize")
        assert "code_challenge" not in url
        location = (await sign_in(url)).headers["location"]
        with pytest.raises(OAuthError) as downgrade:
            await client.fetch_token(
                f"{emulator.base_url}/token", authorization_response=location, code_verifier=generate_token(48)
            )
    assert downgrade.value.error == "invalid_grant"


async def test_plain_pkce(emulator: RunningServer) -> None:
    verifier = generate_token(50)
    async with oidc_client(code_challenge_method=None) as client:
        url, _ = client.create_authorization_url(
            f"{emulator.base_url}/authorize", code_challenge=verifier, code_challenge_method="plain"
        )
        location = (await sign_in(url)).headers["location"]
        token = await client.fetch_token(
            f"{emulator.base_url}/token", authorization_response=location, code_verifier=verifier
        )
    assert token["access_token"]


async def test_code_reuse_is_invalid_grant_and_revokes_the_first_tokens(emulator: RunningServer) -> None:
    verifier = generate_token(48)
    async with oidc_client() as client:
        location = await authorization_code(emulator, client, verifier)
        token = await client.fetch_token(
            f"{emulator.base_url}/token", authorization_response=location, code_verifier=verifier
        )
        assert (await client.get(f"{emulator.base_url}/userinfo")).status_code == 200
        with pytest.raises(OAuthError) as excinfo:
            await client.fetch_token(
                f"{emulator.base_url}/token", authorization_response=location, code_verifier=verifier
            )
        assert excinfo.value.error == "invalid_grant"
        assert "already used" in (excinfo.value.description or "")
    async with httpx.AsyncClient() as http:
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        assert (await http.get(f"{emulator.base_url}/userinfo", headers=headers)).status_code == 401
        refresh = await http.post(
            f"{emulator.base_url}/token",
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            auth=(CLIENT.client_id, CLIENT.client_secret),
        )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_wrong_client_secret_is_invalid_client(emulator: RunningServer, method: str) -> None:
    verifier = generate_token(48)
    async with oidc_client() as good:
        location = await authorization_code(emulator, good, verifier)
    async with oidc_client(client_secret="wrong", token_endpoint_auth_method=method) as client:
        with pytest.raises(OAuthError) as excinfo:
            await client.fetch_token(
                f"{emulator.base_url}/token", authorization_response=location, code_verifier=verifier
            )
    assert excinfo.value.error == "invalid_client"
    code = dict(parse_qsl(urlsplit(location).query))["code"]
    async with httpx.AsyncClient() as http:
        raw = await http.post(
            f"{emulator.base_url}/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
            auth=(CLIENT.client_id, "wrong"),
        )
        anonymous = await http.post(
            f"{emulator.base_url}/token", data={"grant_type": "authorization_code", "code": code}
        )
    assert raw.status_code == 401 and raw.json()["error"] == "invalid_client"
    assert raw.headers["www-authenticate"].startswith("Basic")
    assert raw.headers["cache-control"] == "no-store"
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_both_client_authentication_methods(emulator: RunningServer, method: str) -> None:
    verifier = generate_token(48)
    async with oidc_client(token_endpoint_auth_method=method) as client:
        location = await authorization_code(emulator, client, verifier)
        token = await client.fetch_token(
            f"{emulator.base_url}/token", authorization_response=location, code_verifier=verifier
        )
    assert token["id_token"]


async def test_code_is_bound_to_client_and_redirect_uri(emulator: RunningServer) -> None:
    verifier = generate_token(48)
    async with oidc_client() as client:
        location = await authorization_code(emulator, client, verifier)
    code = dict(parse_qsl(urlsplit(location).query))["code"]
    async with oidc_client(client_id=OTHER.client_id, client_secret=OTHER.client_secret) as other:
        with pytest.raises(OAuthError) as stolen:
            await other.fetch_token(f"{emulator.base_url}/token", code=code, code_verifier=verifier)
    assert stolen.value.error == "invalid_grant"

    async with oidc_client() as client:
        location = await authorization_code(emulator, client, verifier)
        client.redirect_uri = GITHUB_CALLBACK  # registered, but not the one the code was issued for
        with pytest.raises(OAuthError) as mismatch:
            await client.fetch_token(
                f"{emulator.base_url}/token", authorization_response=location, code_verifier=verifier
            )
    assert mismatch.value.error == "invalid_grant" and "redirect_uri" in (mismatch.value.description or "")


async def test_code_expires_after_60_seconds(emulator: RunningServer, clock: Clock) -> None:
    verifier = generate_token(48)
    async with oidc_client() as client:
        location = await authorization_code(emulator, client, verifier)
        clock.offset = 61
        try:
            with pytest.raises(OAuthError) as excinfo:
                await client.fetch_token(
                    f"{emulator.base_url}/token", authorization_response=location, code_verifier=verifier
                )
        finally:
            clock.offset = 0
    assert excinfo.value.error == "invalid_grant"


async def test_unregistered_redirect_uri_shows_an_error_page(emulator: RunningServer) -> None:
    base = f"{emulator.base_url}/authorize"
    common = {"response_type": "code", "scope": SCOPE, "state": "xyz"}
    async with browser() as http:
        evil = await http.get(
            base, params={**common, "client_id": CLIENT.client_id, "redirect_uri": "https://evil.example/cb"}
        )
        unknown = await http.get(base, params={**common, "client_id": "nobody", "redirect_uri": CALLBACK})
        missing = await http.get(base, params={**common, "client_id": CLIENT.client_id})
        posted = await http.post(
            base, data={**common, "client_id": CLIENT.client_id, "redirect_uri": "https://evil.example/cb"}
        )
        github = await http.get(
            f"{emulator.base_url}/github/login/oauth/authorize",
            params={"client_id": CLIENT.client_id, "redirect_uri": "https://evil.example/cb"},
        )
    for response in (evil, unknown, missing, posted, github):
        assert response.status_code == 400 and "location" not in response.headers
        assert response.headers["content-type"].startswith("text/html")
    assert "https://evil.example/cb" in parse_page(evil).alerts[0] and "is not registered" in evil.text
    assert "Unknown client_id" in parse_page(unknown).alerts[0]
    assert "redirect_uri parameter is missing" in missing.text


async def test_cancel_redirects_with_access_denied(emulator: RunningServer) -> None:
    async with oidc_client() as client:
        url, state = client.create_authorization_url(f"{emulator.base_url}/authorize", code_verifier=generate_token(48))
    async with browser() as http:
        page = await open_signin(http, url)
        response = await submit(http, page, email="", action="cancel")
    params = redirect_params(response)
    assert params["error"] == "access_denied" and params["state"] == state and "code" not in params


async def test_other_authorization_errors_redirect_with_state(emulator: RunningServer) -> None:
    base = f"{emulator.base_url}/authorize"
    ok = {"client_id": CLIENT.client_id, "redirect_uri": CALLBACK, "response_type": "code", "scope": SCOPE}
    cases = [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "email profile"}, "invalid_scope"),
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "S512"}, "invalid_request"),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request"),
        ({"prompt": "none"}, "login_required"),
    ]
    async with browser() as http:
        for change, error in cases:
            params = redirect_params(await http.get(base, params={**ok, **change, "state": "st8"}))
            assert (params["error"], params["state"], params["iss"]) == (error, "st8", emulator.base_url), change


async def test_form_rejects_a_missing_email_and_escapes_input(emulator: RunningServer) -> None:
    async with oidc_client() as client:
        url, _ = client.create_authorization_url(f"{emulator.base_url}/authorize", code_verifier=generate_token(48))
    async with browser() as http:
        page = await open_signin(http, url)
        response = await submit(http, page, email="not-an-email", name='"><script>alert(1)</script>')
        assert response.status_code == 400
        again = parse_page(response)
        assert again.alerts == ["Enter an email address, like ada@example.com."]
        assert again.fields["email"].attrs.get("aria-invalid") == "true"
        assert again.fields["name"].value == '"><script>alert(1)</script>'  # kept, as text
        assert "<script>" not in response.text
        hinted = await open_signin(http, url + "&login_hint=%3Cimg%20src%3Dx%3E%40x.y")
        assert hinted.fields["email"].value == "<img src=x>@x.y" and "<img src=x>" not in hinted.text
        # Resubmitting the re-rendered form (its hidden fields carry the request) succeeds.
        assert redirect_params(await submit(http, again, email="fixed@example.com"))["code"]


async def test_unverified_email(emulator: RunningServer) -> None:
    verifier, nonce = generate_token(48), generate_token(20)
    async with oidc_client() as client:
        url, _ = client.create_authorization_url(f"{emulator.base_url}/authorize", code_verifier=verifier, nonce=nonce)
        response = await sign_in(url, email="unverified@example.com", email_verified=False)
        token = await client.fetch_token(
            f"{emulator.base_url}/token", authorization_response=response.headers["location"], code_verifier=verifier
        )
        info = (await client.get(f"{emulator.base_url}/userinfo")).json()
    claims = await verify_id_token(emulator, token["id_token"], nonce=nonce, access_token=token["access_token"])
    assert claims["email_verified"] is False and info["email_verified"] is False
    assert claims["email"] == info["email"] == "unverified@example.com"


async def test_userinfo(emulator: RunningServer) -> None:
    verifier = generate_token(48)
    async with oidc_client() as client:
        location = await authorization_code(emulator, client, verifier)
        token = await client.fetch_token(
            f"{emulator.base_url}/token", authorization_response=location, code_verifier=verifier
        )
        response = await client.get(f"{emulator.base_url}/userinfo")
    assert response.status_code == 200
    info = response.json()
    assert info == {
        "sub": EmulatedUser("ada.lovelace@example.com", None).sub,
        "email": "ada.lovelace@example.com",
        "email_verified": True,
        "name": "Ada Lovelace",  # no name typed: made from the email
        "given_name": "Ada",
        "family_name": "Lovelace",
        "picture": f"{emulator.base_url}/avatars/{info['sub']}.svg",
    }
    async with httpx.AsyncClient() as http:
        anonymous = await http.get(f"{emulator.base_url}/userinfo")
        bad = await http.get(f"{emulator.base_url}/userinfo", headers={"Authorization": "Bearer nope"})
        posted = await http.post(
            f"{emulator.base_url}/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}
        )
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer realm=")
    assert "error=" not in anonymous.headers["www-authenticate"]
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]
    assert bad.json()["error"] == "invalid_token"
    assert posted.status_code == 200 and posted.json()["sub"] == info["sub"]


async def test_claims_follow_the_scope(emulator: RunningServer) -> None:
    verifier = generate_token(48)
    async with oidc_client(scope="openid email") as client:
        location = await authorization_code(emulator, client, verifier)
        token = await client.fetch_token(
            f"{emulator.base_url}/token", authorization_response=location, code_verifier=verifier
        )
        info = (await client.get(f"{emulator.base_url}/userinfo")).json()
    assert set(info) == {"sub", "email", "email_verified"}
    claims = jwt.decode(token["id_token"], KeySet.import_key_set(await _jwks(emulator))).claims
    assert "name" not in claims and "picture" not in claims and claims["email"]


async def test_access_token_expires(emulator: RunningServer, clock: Clock) -> None:
    verifier = generate_token(48)
    async with oidc_client() as client:
        location = await authorization_code(emulator, client, verifier)
        token = await client.fetch_token(
            f"{emulator.base_url}/token", authorization_response=location, code_verifier=verifier
        )
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    async with httpx.AsyncClient() as http:
        clock.offset = 3601
        try:
            expired = await http.get(f"{emulator.base_url}/userinfo", headers=headers)
        finally:
            clock.offset = 0
    assert expired.status_code == 401 and expired.json()["error"] == "invalid_token"


async def test_refresh_token(emulator: RunningServer) -> None:
    verifier = generate_token(48)
    async with oidc_client() as client:
        location = await authorization_code(emulator, client, verifier)
        first = dict(
            await client.fetch_token(
                f"{emulator.base_url}/token", authorization_response=location, code_verifier=verifier
            )
        )
        refreshed = await client.refresh_token(f"{emulator.base_url}/token")
        assert refreshed["access_token"] != first["access_token"]
        assert refreshed["refresh_token"] == first["refresh_token"]  # not rotated, as at Google
        assert (await client.get(f"{emulator.base_url}/userinfo")).json()["email"] == "ada.lovelace@example.com"
        claims = await verify_id_token(
            emulator, refreshed["id_token"], nonce=None, access_token=refreshed["access_token"]
        )
        assert "nonce" not in claims and claims["email"] == "ada.lovelace@example.com"
        narrower = await client.refresh_token(f"{emulator.base_url}/token", scope="openid email")
        assert narrower["scope"] == "openid email"
        with pytest.raises(OAuthError) as wider:
            await client.refresh_token(f"{emulator.base_url}/token", scope="openid email profile admin")
        assert wider.value.error == "invalid_scope"
        with pytest.raises(OAuthError) as unknown:
            await client.refresh_token(f"{emulator.base_url}/token", refresh_token="not-a-refresh-token")
        assert unknown.value.error == "invalid_grant"
    async with oidc_client(client_id=OTHER.client_id, client_secret=OTHER.client_secret) as other:
        with pytest.raises(OAuthError) as stolen:
            await other.refresh_token(f"{emulator.base_url}/token", refresh_token=first["refresh_token"])
    assert stolen.value.error == "invalid_grant"


async def test_token_endpoint_errors_are_rfc6749_json(emulator: RunningServer) -> None:
    async with httpx.AsyncClient() as http:
        auth = (CLIENT.client_id, CLIENT.client_secret)
        unsupported = await http.post(f"{emulator.base_url}/token", data={"grant_type": "password"}, auth=auth)
        no_grant = await http.post(f"{emulator.base_url}/token", data={}, auth=auth)
        bad_code = await http.post(
            f"{emulator.base_url}/token",
            data={"grant_type": "authorization_code", "code": "nope", "redirect_uri": CALLBACK},
            auth=auth,
        )
    assert unsupported.status_code == 400 and unsupported.json()["error"] == "unsupported_grant_type"
    assert no_grant.status_code == 400 and no_grant.json()["error"] == "invalid_request"
    assert bad_code.status_code == 400 and set(bad_code.json()) == {"error", "error_description"}
    assert bad_code.json()["error"] == "invalid_grant"


async def test_prompt_none_with_login_hint_signs_in_directly(emulator: RunningServer) -> None:
    verifier, nonce = generate_token(48), generate_token(20)
    async with oidc_client() as client:
        url, state = client.create_authorization_url(
            f"{emulator.base_url}/authorize",
            code_verifier=verifier,
            nonce=nonce,
            login_hint="robot@example.com",
            prompt="none",
        )
        async with browser() as http:
            response = await http.get(url)  # no page: straight back with a code
        assert redirect_params(response)["state"] == state
        token = await client.fetch_token(
            f"{emulator.base_url}/token", authorization_response=response.headers["location"], code_verifier=verifier
        )
    claims = await verify_id_token(emulator, token["id_token"], nonce=nonce, access_token=token["access_token"])
    assert (claims["email"], claims["email_verified"], claims["name"]) == ("robot@example.com", True, "Robot")


async def test_signing_key_from_pem(tmp_path: Path) -> None:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with start_oidc_emulator([CLIENT], key_path=pem) as first, start_oidc_emulator([CLIENT], key_path=pem) as second:
        keys = [(await _jwks(server))["keys"][0] for server in (first, second)]
        verifier = generate_token(48)
        async with oidc_client() as client:
            url, _ = client.create_authorization_url(f"{first.base_url}/authorize", code_verifier=verifier)
            location = (await sign_in(url)).headers["location"]
            token = await client.fetch_token(
                f"{first.base_url}/token", authorization_response=location, code_verifier=verifier
            )
    assert keys[0] == keys[1]  # same key, same kid: stable across restarts
    public = private_key.public_key().public_numbers()
    assert base64.urlsafe_b64decode(keys[0]["n"] + "==") == public.n.to_bytes(256, "big")
    jwt.decode(token["id_token"], RSAKey.import_key(private_key.public_key()))
    with pytest.raises(BadSignatureError):
        jwt.decode(token["id_token"], RSAKey.generate_key(2048))
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_pem = tmp_path / "ec.pem"
    ec_pem.write_bytes(
        ec_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ValueError, match="RSA"):
        create_oidc_app("http://127.0.0.1:1", [CLIENT], key_path=ec_pem)


def test_configuration_errors() -> None:
    with pytest.raises(ValueError, match="issuer"):
        create_oidc_app("127.0.0.1:9400", [CLIENT])
    with pytest.raises(ValueError, match="twice"):
        create_oidc_app("http://127.0.0.1:9400", [CLIENT, CLIENT])
    with pytest.raises(ValueError, match="no redirect URI"):
        create_oidc_app("http://127.0.0.1:9400", [OIDCClient("a", "b", [], "c")])


# -- GitHub-shaped OAuth 2.0 ------------------------------------------------------------------------


def github_url(emulator: RunningServer, path: str) -> str:
    return f"{emulator.base_url}/github{path}"


@asynccontextmanager
async def github_client(**kwargs: Any) -> AsyncIterator[AsyncOAuth2Client]:
    options: dict[str, Any] = {
        "client_id": CLIENT.client_id,
        "client_secret": CLIENT.client_secret,
        "redirect_uri": GITHUB_CALLBACK,
        "scope": "read:user user:email",
        "code_challenge_method": "S256",
        "token_endpoint_auth_method": "client_secret_post",  # what GitHub documents
    }
    options.update(kwargs)
    async with AsyncOAuth2Client(**options) as client:
        yield client


async def github_code(emulator: RunningServer, client: AsyncOAuth2Client, verifier: str, **form: Any) -> str:
    form.setdefault("email", "octo.cat@example.com")
    url, state = client.create_authorization_url(github_url(emulator, "/login/oauth/authorize"), code_verifier=verifier)
    async with browser() as http:
        page = await open_signin(http, url)
        assert page.heading == "Sign in to Acme <b>Workspace</b>" and "public_email" in page.fields
        assert page.fields["public_email"].checked and page.labels["public_email"] == "Public email"
        response = await submit(http, page, **form)
    params = redirect_params(response, GITHUB_CALLBACK)
    assert params["state"] == state and "iss" not in params  # GitHub sends no iss
    return params["code"]


async def test_github_flow_with_authlib(emulator: RunningServer) -> None:
    verifier = generate_token(48)
    async with github_client() as client:
        code = await github_code(emulator, client, verifier, email="octo.cat@example.com", name="The Octocat")
        token = await client.fetch_token(
            github_url(emulator, "/login/oauth/access_token"), code=code, code_verifier=verifier
        )
        assert token["token_type"] == "bearer" and token["access_token"].startswith("gho_")
        assert token["scope"] == "read:user,user:email"  # comma-separated, as GitHub does
        assert "refresh_token" not in token and "expires_in" not in token
        user_response = await client.get(github_url(emulator, "/api/user"))
        emails_response = await client.get(github_url(emulator, "/api/user/emails"))
    user = user_response.json()
    expected = EmulatedUser("octo.cat@example.com", "The Octocat")
    assert user["id"] == expected.github_id and isinstance(user["id"], int)
    assert (user["login"], user["name"], user["email"]) == ("octo-cat", "The Octocat", "octo.cat@example.com")
    assert user["avatar_url"].startswith(emulator.base_url) and user["type"] == "User"
    assert user_response.headers["x-oauth-scopes"] == "read:user, user:email"
    emails = emails_response.json()
    assert emails[0] == {"email": "octo.cat@example.com", "primary": True, "verified": True, "visibility": "public"}
    assert emails[1]["email"] == f"{user['id']}+octo-cat@users.noreply.github.com"
    assert (emails[1]["primary"], emails[1]["verified"]) == (False, True)


async def test_github_token_response_is_form_encoded_unless_json_is_asked(emulator: RunningServer) -> None:
    responses = {}
    for accept in ("*/*", "application/json"):
        verifier = generate_token(48)
        async with github_client() as client:
            code = await github_code(emulator, client, verifier)
        async with httpx.AsyncClient() as http:
            responses[accept] = await http.post(
                github_url(emulator, "/login/oauth/access_token"),
                data={
                    "client_id": CLIENT.client_id,
                    "client_secret": CLIENT.client_secret,
                    "code": code,
                    "redirect_uri": GITHUB_CALLBACK,
                    "code_verifier": verifier,
                },
                headers={"Accept": accept},
            )
    form = responses["*/*"]
    assert form.status_code == 200
    assert form.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert form.text.startswith("access_token=gho_") and form.text.endswith("&token_type=bearer")
    assert parse_qs(form.text)["scope"] == ["read:user,user:email"]
    as_json = responses["application/json"]
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_json.json()["token_type"] == "bearer" and as_json.json()["access_token"].startswith("gho_")


async def test_github_errors_come_with_status_200(emulator: RunningServer) -> None:
    verifier = generate_token(48)
    async with github_client() as client:
        code = await github_code(emulator, client, verifier)
    url = github_url(emulator, "/login/oauth/access_token")
    good = {"client_id": CLIENT.client_id, "client_secret": CLIENT.client_secret, "code_verifier": verifier}
    json_accept = {"Accept": "application/json"}
    async with httpx.AsyncClient() as http:
        wrong_secret = await http.post(url, data={**good, "client_secret": "x", "code": code}, headers=json_accept)
        bad_code = await http.post(url, data={**good, "code": "nope"}, headers=json_accept)
        as_form = await http.post(url, data={**good, "code": "nope"})
        mismatch = await http.post(
            url, data={**good, "code": code, "redirect_uri": CALLBACK}, headers=json_accept
        )  # wrong_secret did not spend the code: client authentication comes first
        reused = await http.post(url, data={**good, "code": code}, headers=json_accept)
    for response in (wrong_secret, bad_code, as_form, mismatch, reused):
        assert response.status_code == 200
    assert wrong_secret.json()["error"] == "incorrect_client_credentials"
    assert bad_code.json() == {
        "error": "bad_verification_code",
        "error_description": "The code passed is incorrect or expired.",
        "error_uri": "https://docs.github.com/apps/managing-oauth-apps/"
        "troubleshooting-oauth-app-access-token-request-errors/bad_verification_code",
    }
    assert parse_qs(as_form.text)["error"] == ["bad_verification_code"]
    assert mismatch.json()["error"] == "redirect_uri_mismatch"
    assert reused.json()["error"] == "bad_verification_code"

    async with github_client() as client:
        with pytest.raises(OAuthError) as excinfo:  # Authlib sees the error despite the 200
            await client.fetch_token(url, code="nope")
    assert excinfo.value.error == "bad_verification_code"


async def test_github_private_email_and_unverified_flags(emulator: RunningServer) -> None:
    verifier = generate_token(48)
    async with github_client() as client:
        code = await github_code(
            emulator, client, verifier, email="quiet@example.com", name="", public_email=False, email_verified=False
        )
        await client.fetch_token(github_url(emulator, "/login/oauth/access_token"), code=code, code_verifier=verifier)
        user = (await client.get(github_url(emulator, "/api/user"))).json()
        emails = (await client.get(github_url(emulator, "/api/user/emails"))).json()
    assert user["email"] is None and user["name"] is None and user["login"] == "quiet"
    primary = [e for e in emails if e["primary"]]
    assert primary == [{"email": "quiet@example.com", "primary": True, "verified": False, "visibility": "private"}]


async def test_github_api_authentication_and_scopes(emulator: RunningServer) -> None:
    verifier = generate_token(48)
    async with github_client(scope="read:user") as client:  # no user:email
        code = await github_code(emulator, client, verifier)
        token = await client.fetch_token(
            github_url(emulator, "/login/oauth/access_token"), code=code, code_verifier=verifier
        )
    access = token["access_token"]
    async with httpx.AsyncClient() as http:
        as_token = await http.get(github_url(emulator, "/api/user"), headers={"Authorization": f"token {access}"})
        as_bearer = await http.get(github_url(emulator, "/api/user"), headers={"Authorization": f"Bearer {access}"})
        emails = await http.get(github_url(emulator, "/api/user/emails"), headers={"Authorization": f"token {access}"})
        anonymous = await http.get(github_url(emulator, "/api/user"))
        bad = await http.get(github_url(emulator, "/api/user/emails"), headers={"Authorization": "token gho_nope"})
        oidc_token_for_github = await http.get(
            github_url(emulator, "/api/user"), headers={"Authorization": "Bearer " + await _oidc_access_token(emulator)}
        )
    assert as_token.status_code == as_bearer.status_code == 200 and as_token.json() == as_bearer.json()
    assert emails.status_code == 404 and emails.json()["message"] == "Not Found"
    assert emails.headers["x-accepted-oauth-scopes"] == "user, user:email"
    assert anonymous.status_code == 401 and anonymous.json()["message"] == "Requires authentication"
    assert bad.status_code == 401 and bad.json()["message"] == "Bad credentials"
    assert oidc_token_for_github.status_code == 401


async def _oidc_access_token(emulator: RunningServer) -> str:
    verifier = generate_token(48)
    async with oidc_client() as client:
        location = await authorization_code(emulator, client, verifier)
        token = await client.fetch_token(
            f"{emulator.base_url}/token", authorization_response=location, code_verifier=verifier
        )
    return str(token["access_token"])


async def test_github_authorize_defaults_and_shortcut(emulator: RunningServer) -> None:
    verifier = generate_token(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    authorize = github_url(emulator, "/login/oauth/authorize")
    async with browser() as http:
        # No redirect_uri: GitHub uses the app's first registered callback.
        shortcut = await http.get(
            authorize,
            params={
                "client_id": CLIENT.client_id,
                "scope": "user:email",
                "state": "s",
                "login": "bot@example.com",
                "prompt": "none",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        plain = await http.get(
            authorize,
            params={
                "client_id": CLIENT.client_id,
                "redirect_uri": GITHUB_CALLBACK,
                "code_challenge": verifier,
                "code_challenge_method": "plain",
            },
        )
        cancelled = await submit(
            http,
            await open_signin(http, f"{authorize}?client_id={CLIENT.client_id}&redirect_uri={GITHUB_CALLBACK}&state=q"),
            action="cancel",
        )
    code = redirect_params(shortcut, CALLBACK)["code"]  # CALLBACK is CLIENT's first redirect URI
    assert redirect_params(plain, GITHUB_CALLBACK)["error"] == "invalid_request"  # GitHub: S256 only
    denied = redirect_params(cancelled, GITHUB_CALLBACK)
    assert (denied["error"], denied["state"]) == ("access_denied", "q")
    assert denied["error_description"] == "The user has denied your application access."
    async with github_client() as client:
        token = await client.fetch_token(
            github_url(emulator, "/login/oauth/access_token"), code=code, code_verifier=verifier, redirect_uri=None
        )
        user = (await client.get(github_url(emulator, "/api/user"))).json()
    assert token["scope"] == "user:email"
    assert (user["email"], user["name"]) == ("bot@example.com", "Bot")


async def test_github_codes_do_not_work_at_the_oidc_token_endpoint(emulator: RunningServer) -> None:
    verifier = generate_token(48)
    async with github_client() as client:
        code = await github_code(emulator, client, verifier)
    async with oidc_client(redirect_uri=GITHUB_CALLBACK) as client:
        with pytest.raises(OAuthError) as excinfo:
            await client.fetch_token(f"{emulator.base_url}/token", code=code, code_verifier=verifier)
    assert excinfo.value.error == "invalid_grant"


# -- run_in_thread and the standalone runner --------------------------------------------------------


def test_run_in_thread_runs_the_lifespan_and_stops_cleanly() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/", hello)], lifespan=lifespan)
    with run_in_thread(app) as server:
        assert events == ["startup"] and server.running and server.port > 0
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        with httpx.Client(base_url=server.base_url) as http:  # a kept-alive connection must not block stop()
            assert http.get("/").text == "hello"
            server.stop()
    assert events == ["startup", "shutdown"] and not server.running
    server.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.base_url)


def test_run_in_thread_reports_a_failed_startup() -> None:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    with pytest.raises(RuntimeError, match="failed to start"):
        run_in_thread(Starlette(lifespan=lifespan))


def test_bind_socket_then_run_on_it() -> None:
    sock = bind_socket()
    port = sock.getsockname()[1]
    with pytest.raises(OSError), socket.create_server(("127.0.0.1", port)):
        pass  # the port is taken from the moment it is bound
    with run_in_thread(Starlette(routes=[Route("/", lambda r: PlainTextResponse("ok"))]), sock=sock) as server:
        assert server.port == port and httpx.get(server.base_url).text == "ok"


def test_standalone_runner(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tenantry.emulators.oidc",
            "--port",
            "0",
            "--client-id",
            "dev",
            "--client-secret",
            "dev-secret",
            "--redirect-uri",
            "http://127.0.0.1:8000/api/auth/callback/dev",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        first = process.stdout.readline()
        if not first:  # the process ended: show why
            pytest.fail(f"the runner exited with {process.wait()}: {process.stderr.read()}")
        assert first.startswith("OIDC discovery: http://127.0.0.1:"), first
        discovery_url = first.split(": ", 1)[1].strip()
        issuer = discovery_url.removesuffix("/.well-known/openid-configuration")
        lines = []
        while (line := process.stdout.readline()) and "Development only" not in line:
            lines.append(line.strip())
        assert "http://127.0.0.1:8000/api/auth/callback/github" in lines  # the GitHub sibling is registered
        metadata = httpx.get(discovery_url).json()
        assert metadata["issuer"] == issuer
        response = httpx.get(
            f"{issuer}/github/login/oauth/authorize",
            params={"client_id": "dev", "redirect_uri": "http://127.0.0.1:8000/api/auth/callback/github"},
        )
        assert response.status_code == 200 and "Sign in to Tenantry" in response.text
    finally:
        process.terminate()
        process.wait(timeout=10)
