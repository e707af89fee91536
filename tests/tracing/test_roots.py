"""The request's server span made by ``RootSpans`` is the span the SDK's tracer would have made."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tenantry.tracing.middleware import ServerSpans
from tenantry.tracing.roots import RootSpans, set_clean_attributes
from tenantry.tracing.sampler import TenantrySampler


async def item(request: Request) -> JSONResponse:
    span = trace.get_current_span()
    span.set_attribute("app.item", request.path_params["id"])
    span.add_event("looked up", {"app.found": True})
    if request.path_params["id"] == "broken":
        raise RuntimeError("no such shelf")
    return JSONResponse({"id": request.path_params["id"]})


class StartSeen(SpanProcessor):
    """A user's processor: what it sees of a span when it starts."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, SpanKind, Any]] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.seen.append((span.name, span.kind, span.attributes.get("http.request.method")))
        span.set_attribute("app.started", True)


def provider(limits: SpanLimits | None = None) -> tuple[TracerProvider, InMemorySpanExporter, StartSeen]:
    exporter, seen = InMemorySpanExporter(), StartSeen()
    tracing = TracerProvider(sampler=TenantrySampler(1.0), span_limits=limits)
    tracing.add_span_processor(seen)
    tracing.add_span_processor(SimpleSpanProcessor(exporter))
    return tracing, exporter, seen


async def request_spans(
    tracer: trace.Tracer, path: str, *, fast: bool, headers: dict[str, str] | None = None
) -> ServerSpans:
    middleware = ServerSpans(Starlette(routes=[Route("/items/{id}", item)]), tracer)
    if not fast:
        middleware.roots = None  # what the SDK's own ``start_span`` makes
    transport = httpx.ASGITransport(app=middleware, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
        await client.get(path, headers={"user-agent": "probe/1.0", **(headers or {})})
    return middleware


def comparable(span: ReadableSpan) -> dict[str, Any]:
    """What a span says, apart from its ids and times."""
    context = span.get_span_context()
    assert context is not None
    return {
        "name": span.name,
        "kind": span.kind,
        "parent": span.parent,
        "flags": context.trace_flags,
        "trace_state": context.trace_state,
        "attributes": dict(span.attributes or {}),
        "dropped_attributes": span.dropped_attributes,
        "events": [(e.name, dict(e.attributes or {})) for e in span.events],
        "status": (span.status.status_code, span.status.description),
        "resource": span.resource,
        "scope": span.instrumentation_scope,
    }


def finished(exporter: InMemorySpanExporter) -> Sequence[ReadableSpan]:
    spans = exporter.get_finished_spans()
    exporter.clear()
    return spans


@pytest.mark.parametrize("path", ["/items/7", "/items/broken", "/nowhere"])
async def test_the_root_span_is_the_one_the_sdk_makes(path: str) -> None:
    tracing, exporter, seen = provider()
    tracer = tracing.get_tracer("tenantry")
    assert RootSpans.of(tracer) is not None  # an SDK change that removes what it needs fails here
    made = await request_spans(tracer, path, fast=True)
    assert made.roots is not None
    (fast,) = finished(exporter)
    await request_spans(tracer, path, fast=False)
    (sdk,) = finished(exporter)

    assert comparable(fast) == comparable(sdk)
    assert isinstance(fast, ReadableSpan) and fast.kind is SpanKind.SERVER and fast.parent is None
    assert fast.get_span_context().trace_flags.sampled  # type: ignore[union-attr]
    assert fast.start_time is not None and fast.end_time is not None and fast.start_time <= fast.end_time
    assert fast.attributes is not None and fast.attributes["app.started"] is True
    # The user's processor saw each start, with the request's attributes already there.
    assert seen.seen == [("GET", SpanKind.SERVER, "GET")] * 2
    if path == "/items/7":
        assert fast.name == "GET /items/{id}" and fast.attributes["http.route"] == "/items/{id}"
        assert fast.attributes["app.item"] == "7" and fast.attributes["user_agent.original"] == "probe/1.0"
        assert fast.attributes["http.response.status_code"] == 200
    if path == "/items/broken":
        assert fast.status.status_code is StatusCode.ERROR
        assert [e.name for e in fast.events] == ["looked up", "exception"]
    if path == "/nowhere":
        assert fast.name == "GET" and fast.attributes["url.path"] == "/nowhere"


async def test_span_limits_apply_as_they_do_to_the_sdks_spans() -> None:
    tracing, exporter, _ = provider(SpanLimits(max_span_attributes=5, max_span_attribute_length=4))
    tracer = tracing.get_tracer("tenantry")
    await request_spans(tracer, "/items/12345678", fast=True)
    (fast,) = finished(exporter)
    await request_spans(tracer, "/items/12345678", fast=False)
    (sdk,) = finished(exporter)
    assert comparable(fast) == comparable(sdk)
    assert fast.dropped_attributes > 0 and len(fast.attributes or {}) == 5
    assert fast.attributes is not None and fast.attributes["app.item"] == "1234"


async def test_a_callers_trace_goes_on_through_the_sdks_tracer() -> None:
    tracing, exporter, _ = provider()
    tracer = tracing.get_tracer("tenantry")
    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    await request_spans(tracer, "/items/1", fast=True, headers={"traceparent": caller})
    (span,) = finished(exporter)
    assert span.parent is not None and span.parent.is_remote
    assert format(span.parent.span_id, "016x") == "b7ad6b7169203331"
    assert format(span.get_span_context().trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"  # type: ignore[union-attr]


def test_only_a_tracer_sampling_with_tenantrys_sampler_skips_the_sampler() -> None:
    # Another sampler may drop a root span: its tracer's own ``start_span`` asks it.
    assert RootSpans.of(TracerProvider().get_tracer("other")) is None
    assert RootSpans.of(trace.NoOpTracer()) is None


def test_attributes_go_through_the_sdk_once_the_span_ended_or_for_another_span() -> None:
    tracing, exporter, _ = provider()
    tracer = tracing.get_tracer("tenantry")
    span = tracer.start_span("work")
    set_clean_attributes(span, {"a": "1"})
    span.end()
    set_clean_attributes(span, {"b": "2"})  # ignored, as the SDK ignores it (with its warning)
    (done,) = finished(exporter)
    assert dict(done.attributes or {}) == {"app.started": True, "a": "1"}
    set_clean_attributes(trace.INVALID_SPAN, {"c": "3"})  # a span of no SDK: its own set_attributes


async def test_a_tracer_switched_off_by_configuration_records_nothing() -> None:
    from opentelemetry.sdk import trace as sdk_trace

    tracing, exporter, seen = provider()
    tracer = tracing.get_tracer("tenantry")
    switch = tracing._set_tracer_configurator  # the SDK's (experimental) tracer configuration
    switch(tracer_configurator=sdk_trace._disable_tracer_configurator)
    await request_spans(tracer, "/items/1", fast=True)
    assert finished(exporter) == () and seen.seen == []  # the fast path stepped aside; the SDK's made none
    switch(tracer_configurator=sdk_trace._default_tracer_configurator)
    await request_spans(tracer, "/items/1", fast=True)
    assert len(finished(exporter)) == 1


async def test_the_sdks_own_span_metrics_count_root_spans_as_its_tracer_does(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")

    async def counted(fast: bool) -> dict[str, int]:
        reader = InMemoryMetricReader()
        tracing = TracerProvider(sampler=TenantrySampler(1.0), meter_provider=MeterProvider(metric_readers=[reader]))
        await request_spans(tracing.get_tracer("tenantry"), "/items/1", fast=fast)
        data = reader.get_metrics_data()
        assert data is not None
        return {
            metric.name: sum(int(point.value) for point in metric.data.data_points)  # type: ignore[union-attr]
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }

    fast, sdk = await counted(True), await counted(False)
    assert fast == sdk and fast["otel.sdk.span.started"] == 1 and fast.get("otel.sdk.span.live", 0) == 0
