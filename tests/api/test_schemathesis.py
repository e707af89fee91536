"""Property-based testing of the whole API from its own OpenAPI document (schemathesis).

Every operation of ``/api/openapi.json`` (the CRUD API, ``/api/auth`` with every plugin, billing,
webhooks, notifications …) is called with requests generated from its description, valid and
invalid, against a live server on each database, as a signed-in user with an organization (bearer
token). Each answer must be no 5xx, a documented status and content type, a body that matches its
documented schema, and the documented headers. The run is bounded (a few examples per operation)
and derandomized, so CI sees the same requests each time.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tenantry.auth import AuthSettings
from tests.auth.helpers import PASSWORD
from tests.conftest import PrepareDatabase
from tests.live_server import live_server

AUTH = AuthSettings(
    TENANTRY_AUTH_PLUGINS="admin,two-factor,magic-link,passkey,api-key",
    TENANTRY_REQUIRE_EMAIL_VERIFICATION=False,
    # Generated sign-ins would soon be refused with 429s (documented) instead of exercising sign-in.
    TENANTRY_RATE_LIMIT="off",
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Per operation, valid and invalid requests together: every operation is called, and the run stays
# within about 30 s per database on two cores.
EXAMPLES = 2
SECONDS = 40


class Caller:
    """A signed-in user with an active organization; made again when a generated request ended the
    session or left the organization (sign-out, delete-user, organization/leave …)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.Client(base_url=base, headers={"origin": base})
        self.made = 0
        self.token = ""

    def headers(self) -> dict[str, str]:
        if not self.token:
            self._sign_up()
        return {"authorization": f"Bearer {self.token}"}

    def answered(self, path: str, method: str, status: int) -> None:
        """After a call: one that changed something of /api/auth may have ended the session, rotated
        its token or left the organization (sign-out, change-password, leave …); check it."""
        if path.startswith("/api/auth/") and method == "POST" and status < 300 and not self._active():
            self.token = ""

    def _active(self) -> bool:
        r = self.http.get("/api/auth/get-session", headers={"authorization": f"Bearer {self.token}"})
        body = r.json() if r.status_code == 200 else None
        return bool(body and body["session"].get("activeOrganizationId"))

    def _sign_up(self) -> None:
        self.made += 1
        email = f"fuzz{self.made}@example.com"
        r = self.http.post("/api/auth/sign-up/email", json={"email": email, "password": PASSWORD, "name": "Fuzz"})
        assert r.status_code == 200, r.text
        self.token = r.json()["token"]
        auth = {"authorization": f"Bearer {self.token}"}
        org = {"name": f"Fuzz {self.made}", "slug": f"fuzz-{self.made}"}
        r = self.http.post("/api/auth/organization/create", json=org, headers=auth)
        assert r.status_code == 200, r.text
        r = self.http.post("/api/auth/organization/set-active", json={"organizationId": r.json()["id"]}, headers=auth)
        assert r.status_code == 200, r.text


def _run(base: str) -> tuple[list[str], int, int]:
    spec = httpx.get(base + "/api/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    caller = Caller(base)
    failures: list[str] = []
    operations = calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        strategy = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES * 2,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            nonlocal calls
            calls += 1
            try:
                response = case.call(base_url=base, headers=caller.headers())
                caller.answered(case.operation.path, case.method.upper(), response.status_code)
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as exc:
                for failure in exc.exceptions:
                    detail = " ".join(str(failure.message).split())[:300]
                    failures.append(f"{case.operation.label}: {failure.title}: {detail}")

        before = calls
        check()
        if calls == before:
            failures.append(f"{operation.label}: never called")
    return failures, operations, calls


@pytest.mark.slow(SECONDS)
def test_the_api_answers_as_its_document_says(prepare_database: PrepareDatabase) -> None:
    with live_server(prepare_database, AUTH) as base:
        failures, operations, calls = _run(base)
    assert operations > 150
    assert not failures, f"{len(failures)} failures in {calls} calls:\n" + "\n".join(failures[:30])
