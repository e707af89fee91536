"""Traces through the real app and the OTLP exporter, received by the OTLP emulator over HTTP."""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any

import httpx
import pytest

from tenantry.emulators.otlp import OtlpEmulator, ReceivedSpan
from tenantry.events import DomainEvent
from tenantry.logs import LogSettings
from tenantry.tracing import Tracing, TracingSettings
from tenantry.tracing.queries import StatementRecorder
from tests.auth.helpers import BASE, NO_VERIFICATION, ORIGIN, runtime, sign_up, sql


def traced(url: str, rate: float = 1.0) -> TracingSettings:
    return TracingSettings(OTEL_EXPORTER_OTLP_ENDPOINT=url, TENANTRY_TRACES_SAMPLE_RATE=rate, OTEL_SERVICE_NAME="shop")


def flush(client: httpx.AsyncClient) -> None:
    assert runtime(client).get(Tracing).force_flush()


def server_span(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    return next(s for s in spans if s.kind == "server" and s.name == name)


async def test_a_request_is_one_trace_with_a_span_per_query(
    make_client: Any, otlp: OtlpEmulator, otlp_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with make_client(
        auth=NO_VERIFICATION, base_url=BASE, tracing=traced(otlp_url), logs=LogSettings(TENANTRY_LOG_FORMAT="json")
    ) as client:
        dialect = runtime(client).db.dialect_name
        capsys.readouterr()
        up = await sign_up(client)
        access = next(json.loads(line) for line in capsys.readouterr().err.splitlines() if "tenantry.access" in line)
        assert up.status_code == 200
        link = await client.get("/api/auth/reset-password/secret-token-123?callbackURL=/x&token=abc")
        assert link.status_code in (302, 400, 404)
        flush(client)

    spans = otlp.wait_for(lambda got: any(s.name == "GET /api/auth/reset-password/{token}" for s in got))
    request = server_span(spans, "POST /api/auth/sign-up/email")
    assert request.parent_span_id is None
    assert access["trace_id"] == request.trace_id  # the access line leads to the trace
    assert request.attributes["http.route"] == "/api/auth/sign-up/email"
    assert request.resource["service.name"] == "shop"
    queries = [s for s in spans if s.trace_id == request.trace_id and s.kind == "client"]
    # The user and its account are inserted, under the request's span, as children of one trace.
    assert len(queries) >= 2
    assert all(q.parent_span_id == request.span_id for q in queries)
    system = "postgresql" if dialect == "postgresql" else "sqlite"
    assert {q.attributes.get("db.system") or q.attributes.get("db.system.name") for q in queries} == {system}
    assert any("INSERT" in q.name.upper() or "INSERT" in str(q.attributes).upper() for q in queries)
    # A token in the path or the query never reaches the trace backend.
    reset = server_span(spans, "GET /api/auth/reset-password/{token}")
    assert "secret-token-123" not in str(reset.attributes) and "abc" not in str(reset.attributes.get("http.target"))
    # Queries outside any request (the outbox's polls) make no trace of their own.
    assert all(s.parent_span_id is not None or s.kind in ("server", "consumer") for s in spans)


async def test_a_statement_that_fails_is_a_span_with_an_error_status(
    make_client: Any, otlp: OtlpEmulator, otlp_url: str
) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE, tracing=traced(otlp_url)) as client:
        app = runtime(client)
        # The SDK's tracer has what a statement's span is recorded through (an SDK change that
        # removes it fails here, rather than every statement silently taking the slower live span).
        assert StatementRecorder.of(app.get(Tracing).tracer) is not None
        with app.get(Tracing).tracer.start_as_current_span("work") as work:
            await app.db.fetch("SELECT 1")
            with pytest.raises(Exception):  # noqa: B017 - each driver's own error: what matters is the span
                await app.db.fetch("SELECT * FROM no_such_table")
        await app.db.fetch("SELECT 2")  # outside any span: no trace of its own
        flush(client)
        dialect = app.db.dialect_name

    spans = otlp.wait_for(lambda got: any(s.name == "work" for s in got))
    work_id = format(work.get_span_context().span_id, "016x")
    # (PostgreSQL's connection may first send its role and acting user's settings: spans too.)
    ours = ("SELECT 1", "SELECT * FROM no_such_table")
    statements = [s for s in spans if s.parent_span_id == work_id and s.attributes["db.query.text"] in ours]
    assert [(s.name, s.kind, s.status_code) for s in statements] == [("SELECT", "client", 0), ("SELECT", "client", 2)]
    ok, failed = statements
    assert ok.attributes["db.query.text"] == "SELECT 1" and ok.attributes["db.operation.name"] == "SELECT"
    assert ok.attributes["db.system.name"] == dialect and "error.type" not in ok.attributes
    assert failed.attributes["error.type"] and failed.trace_id == ok.trace_id
    assert failed.start_ns <= failed.end_ns
    assert not [s for s in spans if s.attributes.get("db.query.text") == "SELECT 2"]
    if dialect == "postgresql":
        assert ok.attributes["server.port"] == 5432 and ok.attributes["db.namespace"]


async def test_a_delivery_links_to_the_request_that_published_its_event(
    make_client: Any, otlp: OtlpEmulator, otlp_url: str
) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE, tracing=traced(otlp_url)) as client:
        app = runtime(client)
        delivered = asyncio.Event()

        async def on_project(event: DomainEvent) -> None:
            await app.db.fetch("SELECT 1")  # the handler's own query: a child of the delivery's span
            delivered.set()

        app.events.subscribe("projects.created", on_project, name="trace-test")
        await sign_up(client)
        org = await client.post("/api/auth/organization/create", json={"name": "A", "slug": "a"}, headers=ORIGIN)
        created = await client.post("/api/projects", json={"name": "P", "org_id": org.json()["id"]}, headers=ORIGIN)
        assert created.status_code == 201, created.text
        await asyncio.wait_for(delivered.wait(), 10)
        stored = await sql(client, "SELECT trace_context FROM outbox_events WHERE topic = ?", "projects.created")
        flush(client)

    spans = otlp.wait_for(lambda got: any(s.kind == "consumer" for s in got))
    request = server_span(spans, "POST /api/projects")
    assert stored[0][0].startswith(f"00-{request.trace_id}-")
    delivery = next(
        s for s in spans if s.kind == "consumer" and s.attributes["messaging.consumer.group.name"] == "trace-test"
    )
    assert delivery.name == "deliver projects.created to trace-test"
    assert delivery.trace_id != request.trace_id  # a trace of its own ...
    assert [link.trace_id for link in delivery.links] == [request.trace_id]  # ... linked to the request's
    in_request = {s.span_id for s in spans if s.trace_id == request.trace_id}
    assert delivery.links[0].span_id in in_request
    handler_queries = [s for s in spans if s.parent_span_id == delivery.span_id and s.kind == "client"]
    assert handler_queries


async def test_sampled_at_zero_nothing_is_exported(make_client: Any, otlp: OtlpEmulator, otlp_url: str) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE, tracing=traced(otlp_url, rate=0.0)) as client:
        app = runtime(client)
        delivered = asyncio.Event()

        async def on_project(event: DomainEvent) -> None:
            delivered.set()

        app.events.subscribe("projects.created", on_project, name="unsampled")
        await sign_up(client)
        org = await client.post("/api/auth/organization/create", json={"name": "A", "slug": "a"}, headers=ORIGIN)
        await client.post("/api/projects", json={"name": "P", "org_id": org.json()["id"]}, headers=ORIGIN)
        await asyncio.wait_for(delivered.wait(), 10)
        flush(client)
    assert otlp.spans == [] and otlp.requests == 0


async def test_a_callers_sampled_trace_is_followed_whatever_the_rate(
    make_client: Any, otlp: OtlpEmulator, otlp_url: str
) -> None:
    # The sampling gate draws lots only for requests that start a trace: one that continues its
    # caller's sampled trace is traced (with its queries) even at rate 0, and one without is not.
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    traceparent = {"traceparent": f"00-{caller_trace}-{caller_span}-01"}
    async with make_client(auth=NO_VERIFICATION, base_url=BASE, tracing=traced(otlp_url, rate=0.0)) as client:
        assert (await sign_up(client, email="untraced@example.com")).status_code == 200
        body = {"email": "traced@example.com", "password": "a-long-enough-password", "name": "T"}
        traced_up = await client.post("/api/auth/sign-up/email", json=body, headers={**ORIGIN, **traceparent})
        assert traced_up.status_code == 200
        flush(client)
    spans = otlp.wait_for(lambda got: any(s.kind == "server" for s in got))
    [request] = [s for s in spans if s.kind == "server"]
    assert request.trace_id == caller_trace and request.parent_span_id == caller_span
    assert request.name == "POST /api/auth/sign-up/email"
    queries = [s for s in spans if s.kind == "client"]
    assert queries and all(q.trace_id == caller_trace for q in queries)
    # Everything else is the traced request's background work (its event's deliveries, if one ran
    # before the flush): a trace of its own, linked to the caller's. Nothing of the untraced sign-up.
    for span in spans:
        assert span.trace_id == caller_trace or {link.trace_id for link in span.links} == {caller_trace}, span


async def test_unconfigured_there_is_no_tracing_at_all(make_client: Any) -> None:
    async with make_client(auth=NO_VERIFICATION, base_url=BASE) as client:
        app = runtime(client)
        assert app.find(Tracing) is None
        assert app.db.query_observer is None
        assert "gated" not in {getattr(m.cls, "__name__", "") for m in app.middleware()}  # type: ignore[attr-defined]
        await sign_up(client)
        org = await client.post("/api/auth/organization/create", json={"name": "A", "slug": "a"}, headers=ORIGIN)
        await client.post("/api/projects", json={"name": "P", "org_id": org.json()["id"]}, headers=ORIGIN)
        stored = await sql(client, "SELECT trace_context FROM outbox_events WHERE topic = ?", "projects.created")
    assert stored and all(row[0] is None for row in stored)


async def test_the_otlp_emulator_speaks_otlp_http(otlp: OtlpEmulator, otlp_url: str) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "hand-made"
    body = request.SerializeToString()
    headers = {"content-type": "application/x-protobuf"}
    async with httpx.AsyncClient(base_url=otlp_url) as http:
        plain = await http.post("/v1/traces", content=body, headers=headers)
        zipped = await http.post(
            "/v1/traces", content=gzip.compress(body), headers={**headers, "content-encoding": "gzip"}
        )
        as_json = await http.post("/v1/traces", json={}, headers={"content-type": "application/json"})
        garbage = await http.post("/v1/traces", content=b"\xff\xff\xff", headers=headers)
    assert (plain.status_code, zipped.status_code, as_json.status_code, garbage.status_code) == (200, 200, 415, 400)
    assert plain.headers["content-type"] == "application/x-protobuf"
    assert [s.name for s in otlp.spans] == ["hand-made", "hand-made"]
    assert otlp.spans[0].trace_id == "01" * 16
    assert otlp.received == 2 and otlp.wait_for_received(2) == 2

    # A benchmark's receiver counts spans without keeping them.
    counting = OtlpEmulator(keep_spans=False)
    two = ExportTraceServiceRequest()
    scope = two.resource_spans.add().scope_spans.add()
    scope.spans.add().name, scope.spans.add().name = "one", "two"
    transport = httpx.ASGITransport(app=counting.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://otlp.test") as http:
        answer = await http.post("/v1/traces", content=two.SerializeToString(), headers=headers)
    assert answer.status_code == 200
    assert (counting.received, counting.requests, counting.spans) == (2, 1, [])
    assert counting.wait_for_received(3, timeout=0.01) == 0
