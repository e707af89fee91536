"""No request to the magic-link endpoints produces a 500, whatever its body or query: also when
the link is valid and only the callback URLs are odd (the answer is then a redirect to them)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.auth.helpers import BASE, ORIGIN
from tests.magic_link.test_endpoints import last_link

FIELDS = ["email", "name", "callbackURL", "newUserCallbackURL", "errorCallbackURL", "metadata", "token", "x"]
CALLBACK_KEYS = ["callbackURL", "newUserCallbackURL", "errorCallbackURL"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=10,
)
odd_urls = st.one_of(
    st.text(max_size=30),
    st.builds(lambda t: "/" + t, st.text(max_size=30)),
    st.sampled_from(["/é", "/漢字?x=%ZZ", "/a b#frag", "/%", "http://[::1", f"{BASE}/ok?error=x", "/\x00", "/a\r\nb"]),
)
bodies = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5) | json_values
queries = st.dictionaries(st.sampled_from(["token", *CALLBACK_KEYS]), st.text(max_size=30), max_size=4)
link_queries = st.dictionaries(st.sampled_from(CALLBACK_KEYS), odd_urls, max_size=3)


def test_fuzz_magic_link_endpoints_never_fail_with_500(make_client) -> None:
    cases: list[tuple[str, Any]] = []

    @settings(
        max_examples=120, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(
        st.one_of(
            st.tuples(st.just("request"), bodies),
            st.tuples(st.just("verify"), queries),
            st.tuples(st.just("follow"), link_queries),
        )
    )
    def gather(case: tuple[str, Any]) -> None:
        cases.append(case)

    gather()

    async def scenario() -> list[tuple[str, Any, int]]:
        results = []
        async with make_client(base_url=BASE, TENANTRY_OPEN_API=False) as client:
            for kind, data in cases:
                client.cookies.clear()
                if kind == "request":
                    r = await client.post("/api/auth/sign-in/magic-link", json=data, headers=ORIGIN)
                elif kind == "verify":
                    r = await client.get("/api/auth/magic-link/verify", params=data)
                else:
                    sent = await client.post("/api/auth/sign-in/magic-link", json={"email": "f@example.com"})
                    assert sent.status_code == 200
                    token = parse_qs(urlsplit(await last_link(client, "f@example.com")).query)["token"][0]
                    r = await client.get("/api/auth/magic-link/verify", params={"token": token, **data})
                    if r.status_code == 302:
                        assert r.headers["location"].isascii(), r.headers["location"]
                results.append((kind, data, r.status_code))
        return results

    results = asyncio.run(scenario())
    failures = [r for r in results if r[2] >= 500]
    assert not failures, failures
    assert len(results) >= 100
