"""The scrubber (the SDK's ``before_send``): what may leave the process in an error report."""

from __future__ import annotations

from typing import Any

from tenantry.sentry.scrub import FILTERED, scrub_event, scrub_path, scrub_query, scrub_url

TOKEN = "f3Kq9ZxV2mN8pL4tR7yW1cB6"


def event() -> dict[str, Any]:
    return {
        "request": {
            "method": "POST",
            "url": f"https://app.example.com/api/auth/reset-password/{TOKEN}",
            "query_string": f"callbackURL=%2Fhome&token={TOKEN}&limit=10",
            "headers": {
                "Authorization": "Bearer abc",
                "Cookie": "better-auth.session_token=xyz",
                "X-API-Key": "key",
                "X-Custom-Secret": "s",
                "Referer": "https://app.example.com/?token=abc",
                "User-Agent": "curl/8",
                "Content-Type": "application/json",
            },
            "cookies": {"better-auth.session_token": "xyz"},
            "data": {"password": "hunter2"},
            "env": {"REMOTE_ADDR": "203.0.113.9"},
        },
        "user": {"id": "u1", "email": "ada@example.com", "ip_address": "203.0.113.9"},
        "breadcrumbs": {"values": [{"category": "httplib", "data": {"url": f"https://x.test/v?code={TOKEN}"}}]},
    }


def test_requests_keep_method_path_and_harmless_headers_only() -> None:
    scrubbed = scrub_event(event())
    request = scrubbed["request"]
    assert request["method"] == "POST"
    assert request["url"] == f"https://app.example.com/api/auth/reset-password/{FILTERED}"
    assert request["headers"] == {"User-Agent": "curl/8", "Content-Type": "application/json"}
    assert set(request) == {"method", "url", "query_string", "headers"}
    assert request["query_string"] == "callbackURL=%2Fhome&token=[Filtered]&limit=10"
    assert scrubbed["user"] == {"id": "u1"}
    assert scrubbed["breadcrumbs"]["values"][0]["data"]["url"] == "https://x.test/v?code=[Filtered]"
    assert TOKEN not in str(scrubbed) and "hunter2" not in str(scrubbed) and "xyz" not in str(scrubbed)


def test_ids_and_words_in_paths_are_kept() -> None:
    assert scrub_path("/api/projects/0190a8f2-2c5e-7b7e-9a51-1f6c0d0e4a11") == (
        "/api/projects/0190a8f2-2c5e-7b7e-9a51-1f6c0d0e4a11"
    )
    assert scrub_path("/settings/members/remove-member-from-organization") == (
        "/settings/members/remove-member-from-organization"
    )
    assert scrub_path(f"/verify/{TOKEN}/done") == f"/verify/{FILTERED}/done"


def test_secret_looking_query_parameters_are_filtered() -> None:
    assert scrub_query("") == ""
    query = "state=s1&code=c1&apiKey=k&password=p&sort=-created_at&filter=name%3Dx"
    assert scrub_query(query) == (
        "state=[Filtered]&code=[Filtered]&apiKey=[Filtered]&password=[Filtered]&sort=-created_at&filter=name%3Dx"
    )
    assert scrub_url("http://h/p?session_id=cs_1#frag") == "http://h/p?session_id=[Filtered]"


def test_events_without_requests_or_users_pass() -> None:
    assert scrub_event({"message": "hi"}) == {"message": "hi"}
    assert scrub_event({"user": {"email": "a@b.c"}})["user"] == {}
