"""Redirect targets: one rule for every place a client names where it is to be sent.

The rule's cases first (no app needed), then every door over HTTP on both databases: the
``/api/auth`` bodies and queries (sign-in, reset, verification, magic link, OAuth) and the pages'
``from``. A target is decided on what a browser makes of it, and handed on as it was checked.
"""

from __future__ import annotations

import itertools

import pytest
from ada_url import URL
from hypothesis import given, settings
from hypothesis import strategies as st

from tenantry.auth import AuthSettings
from tenantry.auth.origin import OriginPolicy
from tenantry.auth.redirects import site_path
from tests.auth.helpers import BASE, ORIGIN, PASSWORD, sign_in, sign_up

POLICY = OriginPolicy(BASE, ["https://app.example.com", "https://*.example.org"])

# What a browser would reach from each of these is another site, or no web page at all.
OFF_SITE = [
    "/\t/evil.example",  # tabs are dropped: //evil.example
    "/\n/evil.example",
    "/\r/evil.example",
    " //evil.example",  # leading spaces are stripped
    "//evil.example",
    "/\\evil.example",  # a backslash is a slash: //evil.example
    "\\\\evil.example",
    "\\/evil.example",
    "/\\\t\\evil.example",
    "https://evil.example/",
    "https://app.example.com.evil.example/",
    "https://app.example.com@evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "blob:https://app.example.com/1",
    "ftp://app.example.com/",
    "/.//evil.example",  # dot segments resolve to a path beginning with //, which reads as a host
    "/%2e//evil.example",
    "/a/..//evil.example",
    "/a/%2E%2e//evil.example",
    "/./\\evil.example",
    "/%2F/evil.example",  # a client-side router may decode %2F into //
    "/%5c/evil.example",
    "/a\x00b",  # control characters are refused, whatever a browser would strip
    "/a\nb",
    "/ok\x7f",
    "/ok\x85",
    "dashboard",  # relative to whichever page the client is on: not a path of this site's
    "",
]

ALLOWED = {
    "/dashboard": "/dashboard",
    "/app/projects?sort=name,ASC#top": "/app/projects?sort=name,ASC#top",
    "/\u65e5\u672c": "/%E6%97%A5%E6%9C%AC",  # as a browser requests it: ASCII, fit for a header
    "/a b?q=x y": "/a%20b?q=x%20y",
    " /padded ": "/padded",
    "/a/../b": "/b",
    f"{BASE}/settings": f"{BASE}/settings",
    "https://app.example.com/welcome": "https://app.example.com/welcome",
    "HTTPS://APP.EXAMPLE.COM:443/x": "https://app.example.com/x",
    "https://eu.example.org/": "https://eu.example.org/",
}


@pytest.mark.parametrize("target", OFF_SITE)
def test_targets_off_the_site_are_refused(target: str) -> None:
    assert POLICY.redirects.resolve(target) is None
    assert site_path(target) is None


@pytest.mark.parametrize(("target", "handed_on"), ALLOWED.items())
def test_allowed_targets_are_handed_on_as_checked(target: str, handed_on: str) -> None:
    assert POLICY.redirects.resolve(target) == handed_on
    if handed_on.startswith("/"):
        assert site_path(target) == handed_on


# The pieces open redirects are made of.
PIECES = ["/", "//", "/.", "/..", "\\", "%2e", "%2F", "%5c", ":", "?", "#", "@", " ", "\t", "\x00", "\u3002"]
PIECES += ["http:", "https:", "javascript:", "evil.example", "app.example.com", BASE, "\u65e5"]


def assert_leads_where_the_browser_would_go(target: str) -> None:
    """An allowed target, read from any page of the site, reaches a trusted origin, and the very
    one a browser would reach from the value as the client sent it."""
    handed_on = POLICY.redirects.resolve(target)
    if handed_on is None:
        return
    handed_on.encode("ascii")  # fit for a Location header as it is
    for page in (f"{BASE}/", f"{BASE}/settings/account"):
        where = URL(handed_on, page).origin
        assert POLICY.is_trusted(where), (target, handed_on, where)
        assert URL(target, page).origin == where, (target, handed_on)


def test_every_short_combination_of_the_pieces_is_decided_safely() -> None:
    for combination in itertools.product(PIECES, repeat=3):
        assert_leads_where_the_browser_would_go("".join(combination))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=3)), max_size=8).map("".join))
def test_any_target_is_decided_safely(target: str) -> None:
    assert_leads_where_the_browser_would_go(target)


NO_VERIFICATION = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False)


async def test_every_auth_endpoint_applies_the_rule(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        await sign_up(client)
        client.cookies.clear()

        # Sign-in: a 403 with Better Auth's code for every off-site target, never a 500 or a dropped connection.
        for target in ["/\t/evil.example", "/a\nb", "/a\x00b", "/\\evil.example", "https://evil.example"]:
            r = await sign_in(client, callbackURL=target)
            refused = {"message": "Invalid callbackURL", "code": "INVALID_CALLBACK_URL"}
            assert (r.status_code, r.json()) == (403, refused)
            assert "set-cookie" not in r.headers  # refused before anything happened
        r = await sign_in(client, callbackURL="/\u65e5\u672c?x=\u00e9")
        assert r.status_code == 200, r.text
        assert r.json()["url"] == r.headers["location"] == "/%E6%97%A5%E6%9C%AC?x=%C3%A9"
        client.cookies.clear()

        # Each parameter has its own code, in a body or in a query.
        reset = await client.post(
            "/api/auth/request-password-reset",
            json={"email": "cap@example.com", "redirectTo": "/\t/evil.example"},
            headers=ORIGIN,
        )
        assert (reset.status_code, reset.json()["code"]) == (403, "INVALID_REDIRECT_URL")
        for key, code in [
            ("errorCallbackURL", "INVALID_ERROR_CALLBACK_URL"),
            ("newUserCallbackURL", "INVALID_NEW_USER_CALLBACK_URL"),
        ]:
            r = await client.post(
                "/api/auth/sign-in/magic-link",
                json={"email": "cap@example.com", key: "\\\\evil.example"},
                headers=ORIGIN,
            )
            assert (r.status_code, r.json()["code"]) == (403, code), key
        social = await client.post(
            "/api/auth/sign-in/social",
            json={"provider": "google", "callbackURL": " //evil.example"},
            headers=ORIGIN,
        )
        assert (social.status_code, social.json()["code"]) == (403, "INVALID_CALLBACK_URL")

        # The links mailed to users carry their target in the query: checked when followed.
        for link in (
            "/api/auth/verify-email?token=x&callbackURL=%2F%09%2Fevil.example",
            "/api/auth/reset-password/some-token?callbackURL=%2F%5Cevil.example",
            "/api/auth/magic-link/verify?token=x&callbackURL=%2F%0A%2Fevil.example",
            "/api/auth/delete-user/callback?token=x&callbackURL=%2F%2Fevil.example",
        ):
            r = await client.get(link)
            assert (r.status_code, r.json()["code"]) == (403, "INVALID_CALLBACK_URL"), link
        # An allowed one is followed as it was checked.
        r = await client.get("/api/auth/reset-password/some-token?callbackURL=%2F%E6%97%A5%E6%9C%AC")
        assert r.status_code == 302
        assert r.headers["location"] == f"{BASE}/%E6%97%A5%E6%9C%AC?error=INVALID_TOKEN"


async def test_the_sign_in_page_returns_only_to_this_site(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        await sign_up(client)
        client.cookies.clear()
        page = await client.get("/login", params={"from": "/\t/evil.example"})
        assert 'name="from" value="/dashboard"' in page.text
        for target, landing in [("/\t/evil.example", "/dashboard"), ("/\u65e5\u672c", "/%E6%97%A5%E6%9C%AC")]:
            form = {"email": "cap@example.com", "password": PASSWORD, "from": target}
            r = await client.post("/login", data=form, headers=ORIGIN)
            assert (r.status_code, r.headers["location"]) == (303, landing)
            client.cookies.clear()
