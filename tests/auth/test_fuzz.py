"""No request to ``/api/auth`` can produce a 500, whatever its body, query or headers."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.auth.helpers import BASE, NO_VERIFICATION, ORIGIN, sign_up

POST_PATHS = [
    "/sign-up/email",
    "/sign-in/email",
    "/sign-out",
    "/update-user",
    "/change-password",
    "/change-email",
    "/delete-user",
    "/request-password-reset",
    "/forget-password",
    "/reset-password",
    "/send-verification-email",
    "/revoke-session",
    "/revoke-sessions",
    "/revoke-other-sessions",
    "/sign-in/social",
    "/link-social",
    "/unlink-account",
    "/get-access-token",
    "/refresh-token",
]
GET_PATHS = [
    "/get-session",
    "/list-sessions",
    "/verify-email",
    "/reset-password/abc",
    "/delete-user/callback",
    "/list-accounts",
    "/callback/dev",
    "/callback/github",
    "/account-info",
    "/error",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "email",
        "password",
        "name",
        "token",
        "newPassword",
        "currentPassword",
        "callbackURL",
        "redirectTo",
        "provider",
        "newEmail",
        "rememberMe",
        "image",
        "providerId",
        "accountId",
        "idToken",
        "scopes",
        "x",
    ]
)
bodies = st.dictionaries(field_names, json_values, max_size=6) | json_values
queries = st.dictionaries(
    st.sampled_from(["token", "callbackURL", "code", "state", "error", "disableRefresh", "accountId"]),
    st.text(max_size=30),
    max_size=4,
)


def test_fuzz_auth_endpoints_never_fail_with_500(make_client) -> None:
    async def scenario(cases: list[tuple[str, str, Any, dict[str, str]]]) -> list[tuple[str, str, int]]:
        async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
            await sign_up(client)  # half the cases run signed in
            results = []
            for method, path, body, query in cases:
                if method == "GET":
                    r = await client.get(f"/api/auth{path}", params=query)
                else:
                    r = await client.post(f"/api/auth{path}", json=body, params=query, headers=ORIGIN)
                results.append((method, path, r.status_code))
                if path in ("/sign-out", "/revoke-sessions", "/delete-user"):
                    await sign_up(client, email=f"u{len(results)}@example.com")
            return results

    collected: list[tuple[str, str, Any, dict[str, str]]] = []

    @settings(
        max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(
        st.one_of(
            st.tuples(st.just("POST"), st.sampled_from(POST_PATHS), bodies, queries),
            st.tuples(st.just("GET"), st.sampled_from(GET_PATHS), st.none(), queries),
        )
    )
    def gather(case: tuple[str, str, Any, dict[str, str]]) -> None:
        collected.append(case)

    gather()
    # One app for all examples (startup per example would dominate); every status is checked.
    results = asyncio.run(scenario(collected))
    failures = [r for r in results if r[2] >= 500]
    assert not failures, failures
    assert len(results) >= 100


async def test_non_json_bodies(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        for content, ctype in (
            (b"\xff\xfe", "application/json"),
            (b"a=%ZZ&b", "application/x-www-form-urlencoded"),
            (b"x" * 70_000, "application/json"),
            (b"[]", "text/plain"),
        ):
            r = await client.post("/api/auth/sign-in/email", content=content, headers={"content-type": ctype})
            assert 400 <= r.status_code < 500, (content[:20], r.status_code, r.text)


async def test_oversize_values_are_refused_in_better_auths_shape(make_client) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        r = await client.post(
            "/api/auth/sign-up/email",
            json={"email": "long@example.com", "password": "Password-One-111", "name": "n" * 300},
        )
        assert (r.status_code, r.json()) == (
            400,
            {"message": "[body.name] Too big: expected string to have <=255 characters", "code": "VALIDATION_ERROR"},
        )
