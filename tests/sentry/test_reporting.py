"""Errors reach Sentry: the app's sentry-sdk sends to the Sentry emulator on a real port.

A route that raises is one event with the exception, release, environment, user and organization,
and nothing of the request's credentials or body; a 4xx is no event; a failing outbox delivery and
a failing background worker are events; the SDK is left as it was found when the app stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import orjson
import sentry_sdk

from tenantry.app import default_capabilities
from tenantry.config import Settings
from tenantry.emulators.sentry import SentryEmulator
from tenantry.events import DeliveryFailure
from tenantry.sentry import ErrorTracking, SentrySettings
from tenantry.sentry.client import default_release
from tests.auth.helpers import BASE, NO_VERIFICATION, ORIGIN, runtime, sign_up
from tests.sentry.boom import FLAKY, SUBSCRIBER, Boom

PASSWORD_IN_BODY = "body-password-Zx81!"
BEARER = "bearer-secret-Qw72"
API_KEY = "api-key-secret-Er63"
QUERY_TOKEN = "query-token-secret-Ty54"


def all_bytes(emulator: SentryEmulator) -> bytes:
    """Every envelope the emulator received, headers and payloads, as one string of bytes."""
    parts: list[bytes] = []
    for envelope in emulator.envelopes:
        parts.append(orjson.dumps(envelope.headers))
        parts.extend(orjson.dumps(item.headers) + item.payload for item in envelope.items)
    return b"\n".join(parts)


async def flush() -> None:
    """Wait until the SDK has sent what it queued (and the emulator answered)."""
    await asyncio.to_thread(sentry_sdk.flush, 5.0)


def reporting_app(
    make_client: Any, dsn: str, boom: Boom | None = None
) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    settings = Settings(auth=NO_VERIFICATION, sentry=SentrySettings(SENTRY_DSN=dsn))
    return make_client(
        auth=NO_VERIFICATION,
        base_url=BASE,
        sentry=settings.sentry,
        capabilities=[*default_capabilities(settings), boom or Boom()],
        TENANTRY_OPEN_API=False,
    )


@asynccontextmanager
async def lenient(client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the same app that gets the 500 response instead of the app's exception, as a browser would."""
    transport = httpx.ASGITransport(app=client.app, raise_app_exceptions=False)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url=BASE, cookies=client.cookies) as other:
        yield other


async def signed_up_with_org(client: httpx.AsyncClient) -> tuple[str, str]:
    user = (await sign_up(client, "sentry@example.com")).json()["user"]
    org = await client.post("/api/auth/organization/create", json={"name": "Acme", "slug": "acme"}, headers=ORIGIN)
    assert org.status_code == 200
    return user["id"], org.json()["id"]


async def test_a_failing_route_is_one_scrubbed_event_with_release_environment_user_and_org(
    make_client: Any, sentry: tuple[SentryEmulator, str]
) -> None:
    emulator, dsn = sentry
    async with reporting_app(make_client, dsn) as client:
        user_id, org_id = await signed_up_with_org(client)
        session_cookie = next(iter(client.cookies.values()))
        async with lenient(client) as browser:
            response = await browser.post(
                f"/api/boom?token={QUERY_TOKEN}&page=2",
                json={"email": "sentry@example.com", "password": PASSWORD_IN_BODY},
                headers=ORIGIN,
            )
            assert response.status_code == 500
            assert response.json()["code"] == "INTERNAL_ERROR"
            await flush()
            assert len(emulator.events) == 1
            # Credentials the authenticators would refuse: sent to a route that fails before asking them.
            early = await browser.post(
                "/api/boom/early",
                json={"password": PASSWORD_IN_BODY},
                headers={**ORIGIN, "Authorization": f"Bearer {BEARER}", "X-API-Key": API_KEY},
            )
            assert early.status_code == 500
        await flush()
    event, second = emulator.events
    assert second["exception"]["values"][-1]["value"] == "the route exploded early"
    assert "user" not in second or not second["user"]
    [exception] = event["exception"]["values"]
    assert exception["type"] == "BoomError"
    assert exception["value"] == "the route exploded"
    assert exception["stacktrace"]["frames"][-1]["function"] == "explode"
    # Reported by the Starlette integration as unhandled, although the app answered it with a 500.
    assert exception["mechanism"] == {"type": "starlette", "handled": False}
    assert event["release"] == default_release()
    assert event["environment"] == "development"
    assert event["user"] == {"id": user_id}
    assert event["tags"]["organization.id"] == org_id
    assert event["transaction"] == "/api/boom"
    assert event["request"]["method"] == "POST"
    assert "page=2" in event["request"]["query_string"]
    assert event["project_id"] == "42"
    # Nothing of the request's credentials or body, anywhere in what was sent.
    sent = all_bytes(emulator)
    for secret in (PASSWORD_IN_BODY, BEARER, API_KEY, QUERY_TOKEN, session_cookie, "sentry@example.com"):
        assert secret.encode() not in sent, secret
    for each in (event, second):
        assert {"data", "cookies", "env"}.isdisjoint(each["request"])
        assert {"authorization", "cookie", "x-api-key"}.isdisjoint(h.lower() for h in each["request"]["headers"])


async def test_client_errors_are_not_reported(make_client: Any, sentry: tuple[SentryEmulator, str]) -> None:
    emulator, dsn = sentry
    async with reporting_app(make_client, dsn) as client:
        await sign_up(client, "client-errors@example.com")
        refused = await client.post("/api/boom/client", json={}, headers=ORIGIN)
        assert refused.status_code == 400 and refused.json()["code"] == "BOOM_REFUSED"
        missing = await client.get("/api/no-such-entity")
        assert missing.status_code == 404
        malformed = await client.post(
            "/api/projects", content=b"{not json", headers={**ORIGIN, "content-type": "application/json"}
        )
        assert malformed.status_code == 400
        await flush()
    assert emulator.events == []


async def test_requests_start_no_sentry_transaction(
    make_client: Any, sentry: tuple[SentryEmulator, str], monkeypatch: Any
) -> None:
    # Tracing is OpenTelemetry's: the integration must not build a transaction per request (with
    # tracing off it still did, parsing trace headers and sampling: most of what error tracking
    # cost a request). Errors are still reported with the route's name (the test above).
    started: list[object] = []
    real = sentry_sdk.start_transaction

    def counting(*args: Any, **kwargs: Any) -> Any:
        started.append(args)
        return real(*args, **kwargs)

    emulator, dsn = sentry
    async with reporting_app(make_client, dsn) as client:
        monkeypatch.setattr(sentry_sdk, "start_transaction", counting)
        await signed_up_with_org(client)
        assert (await client.get("/api/projects")).status_code == 200
        assert (await client.post("/api/projects", json={"name": "Apollo"}, headers=ORIGIN)).status_code == 201
        await flush()
    assert started == []
    # Nor was one sent (the project's creation may report the test subscriber's failure: an error).
    assert not [item for e in emulator.envelopes for item in e.items if item.headers.get("type") == "transaction"]


async def test_a_failing_delivery_is_reported_at_each_attempt_an_expected_one_when_given_up(
    make_client: Any, sentry: tuple[SentryEmulator, str]
) -> None:
    emulator, dsn = sentry
    async with reporting_app(make_client, dsn) as client:
        app = runtime(client)
        failures: list[DeliveryFailure] = []
        told = asyncio.Condition()

        def heard(failure: DeliveryFailure) -> None:
            # Listeners are told in order: the error tracker's, registered at install, came first.
            failures.append(failure)
            asyncio.get_running_loop().create_task(notify())

        async def notify() -> None:
            async with told:
                told.notify_all()

        app.outbox.failure_listeners.append(heard)
        user_id, org_id = await signed_up_with_org(client)
        created = await client.post("/api/projects", json={"name": "Apollo", "org_id": org_id}, headers=ORIGIN)
        assert created.status_code == 201
        project_id = created.json()["id"]
        async with told:
            await asyncio.wait_for(told.wait_for(lambda: len(failures) >= 2), 10)
        # The second (last) attempts are due at once: deliver them here rather than wait for the next poll.
        await app.outbox.deliver_pending()
        async with told:
            await asyncio.wait_for(told.wait_for(lambda: len(failures) >= 4), 10)
        await flush()
    assert sorted((f.subscriber, f.attempt, f.given_up, f.expected) for f in failures) == [
        (FLAKY, 1, False, True),
        (FLAKY, 2, True, True),
        (SUBSCRIBER, 1, False, False),
        (SUBSCRIBER, 2, True, False),
    ]
    events = [e for e in emulator.events if e.get("transaction") == f"outbox:{SUBSCRIBER}"]
    assert [e["tags"]["outbox.given_up"] for e in events] == ["no", "yes"]
    for event in events:
        [exception] = event["exception"]["values"]
        assert exception["type"] == "BoomError"
        assert exception["value"] == f"the subscriber exploded on {project_id}"
        assert exception["mechanism"]["type"] == "tenantry.outbox"
        assert event["tags"]["outbox.topic"] == "projects.created"
        assert event["user"] == {"id": user_id}
        assert event["tags"]["organization.id"] == org_id
        assert event["contexts"]["outbox"]["row_id"] == project_id
        assert event["release"] == default_release()
    # An expected failure is reported once, when given up.
    [flaky] = [e for e in emulator.events if e.get("transaction") == f"outbox:{FLAKY}"]
    assert flaky["tags"]["outbox.given_up"] == "yes"
    assert flaky["exception"]["values"][-1]["type"] == "DeliveryError"
    assert len(emulator.events) == 3
    # The outbox's own "gave up" log lines are not second events: the listener reported them.
    assert not [e for e in emulator.events if e.get("logger") == "tenantry.events"]


async def test_a_failing_background_worker_is_reported(make_client: Any, sentry: tuple[SentryEmulator, str]) -> None:
    emulator, dsn = sentry
    async with reporting_app(make_client, dsn, Boom(fail_worker=True)) as client:
        boom = runtime(client).get(Boom)
        await asyncio.wait_for(boom.worker.recovered.wait(), 10)
        await flush()
    [event] = [e for e in emulator.events if e.get("logger") == "tests.sentry.boom"]
    assert event["exception"]["values"][-1]["type"] == "BoomError"
    assert event["exception"]["values"][-1]["value"] == "the worker's pass failed"
    assert event["logentry"]["message"] == "%s pass failed"


async def test_the_sdk_is_left_as_it_was_found(make_client: Any, sentry: tuple[SentryEmulator, str]) -> None:
    emulator, dsn = sentry
    assert not sentry_sdk.get_client().is_active()
    async with reporting_app(make_client, dsn) as client:
        tracking = runtime(client).get(ErrorTracking)
        assert sentry_sdk.get_client() is tracking.client
        assert sentry_sdk.get_client().options["traces_sample_rate"] is None
    assert not sentry_sdk.get_client().is_active()
    # An app without error tracking in the same process reports nothing.
    async with make_client(TENANTRY_OPEN_API=False, sentry=SentrySettings(TENANTRY_DEV_ERRORS=False)) as client:
        assert not sentry_sdk.get_client().is_active()
        await client.get("/api/projects")
    await flush()
    assert emulator.events == []
