"""Tenantry's OTLP encoding against the official encoder: the same message for every kind of span."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official_encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from tenantry.emulators.otlp import OtlpEmulator
from tenantry.tracing.encoding import encode_spans
from tenantry.tracing.exporter import TracesExporter


class Kept(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def provider(kept: Kept, resource: Resource, **limits: int) -> TracerProvider:
    made = TracerProvider(resource=resource, span_limits=SpanLimits(**limits))  # type: ignore[arg-type]
    made.add_span_processor(SimpleSpanProcessor(kept))
    return made


def varied_spans() -> list[ReadableSpan]:
    """Spans with every field the encoder writes: kinds, parents local and remote, trace state,
    attributes of each type (arrays, negatives, large numbers, unicode), events, links, statuses,
    dropped counts, two resources, scopes with versions, schema URLs and attributes."""
    kept = Kept()
    one = provider(kept, Resource.create({"service.name": "shop", "deployment.environment.name": "test"}))
    small = Resource({"service.name": "other", "pid": 7}, schema_url="https://schema/1")
    other = provider(kept, small, max_attributes=2)
    remote = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "x1"), ("other", "y2")]),
    )
    linked = SpanContext(trace_id=2**128 - 1, span_id=1, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    tracer = one.get_tracer("tenantry", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.26.0")
    attributes = {
        "text": "héllo ✓",
        "empty": "",
        "yes": True,
        "no": False,
        "one": 1,
        "negative": -42,
        "large": 2**62,
        "ratio": 0.25,
        "names": ["a", "b"],
        "numbers": [1, -2, 3],
        "flags": [True, False],
        "floats": [1.5, -0.0],
        "long": "x" * 300,
    }
    with tracer.start_as_current_span(
        "GET /api/projects/{id}", context=set_span_in_context(NonRecordingSpan(remote)), kind=SpanKind.SERVER
    ) as server:
        server.set_attributes(attributes)
        server.add_event("retried", {"attempt": 2, "why": "busy"})
        server.add_event("plain")
        with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes={"db.query.text": "SELECT 1"}):
            pass
        failing = tracer.start_span("INSERT", kind=SpanKind.CLIENT)
        failing.set_status(Status(StatusCode.ERROR, "duplicate key"))
        failing.end()
        ok = tracer.start_span("work")
        ok.set_status(Status(StatusCode.OK))
        ok.end()
    scopeless = one.get_tracer("with-attributes", attributes={"scope.kind": "test"})
    delivery = scopeless.start_span(
        "deliver projects.created to webhooks",
        kind=SpanKind.CONSUMER,
        links=[Link(remote, {"event.id": "e1"}), Link(linked)],
    )
    delivery.end()
    for kind in (SpanKind.PRODUCER, SpanKind.INTERNAL):
        one.get_tracer("").start_span("bare", kind=kind).end()
    crowded = other.get_tracer("small").start_span("crowded", attributes={"a": 1, "b": 2, "c": 3})
    crowded.end()
    return kept.spans


def test_the_encoding_is_the_official_encoders_message() -> None:
    spans = varied_spans()
    assert len(spans) == 8
    ours = ExportTraceServiceRequest.FromString(encode_spans(spans))
    official = official_encode_spans(spans)
    assert ours == official, (ours, official)
    # The comparison saw the fields: two resources, scopes with versions and schema URLs, links, events.
    assert len(ours.resource_spans) == 2 and ours.resource_spans[1].schema_url == "https://schema/1"
    assert ours.resource_spans[1].scope_spans[0].spans[0].dropped_attributes_count == 1
    first = ours.resource_spans[0].scope_spans[0]
    assert first.scope.version == "1.2.3" and first.schema_url.endswith("1.26.0")
    assert {len(span.links) for span in ours.resource_spans[0].scope_spans[1].spans} == {2}
    # Encoded twice (the second time from the cache of key-value pairs): the same bytes.
    assert encode_spans(spans) == encode_spans(spans)


def test_values_the_protocol_cannot_carry_are_left_out_as_the_official_encoder_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kept = Kept()
    tracer = provider(kept, Resource.create({})).get_tracer("t")
    span = tracer.start_span("odd", attributes={"fine": 1, "huge": 2**64, "surrogate": "\ud800", "one": True})
    span.end()
    with caplog.at_level(logging.WARNING, logger="tenantry.tracing"):
        ours = ExportTraceServiceRequest.FromString(encode_spans(kept.spans))
    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)  # the official encoder logs the same
    assert ours == official_encode_spans(kept.spans)
    assert [a.key for a in ours.resource_spans[0].scope_spans[0].spans[0].attributes] == ["fine", "one"]
    assert "huge" in caplog.text and "surrogate" in caplog.text


def test_the_exporter_sends_this_encoding_through_the_official_client(otlp: OtlpEmulator, otlp_url: str) -> None:
    exporter = TracesExporter(endpoint=f"{otlp_url}/v1/traces")
    # The installed SDK's exporter has the HTTP client this one hands its bytes to: the fast path is
    # taken (if an upgrade changes that, this fails rather than everything silently slowing down).
    assert exporter.encodes_itself
    spans = varied_spans()
    assert exporter.export(spans).name == "SUCCESS"
    received = otlp.wait_for(lambda got: len(got) == len(spans))
    assert {s.name for s in received} == {s.name for s in spans}
    server = next(s for s in received if s.kind == "server")
    assert server.attributes["text"] == "héllo ✓" and server.attributes["numbers"] == [1, -2, 3]
    exporter.shutdown()


def test_statement_and_request_spans_encode_as_the_official_encoder_does() -> None:
    from opentelemetry.trace import INVALID_SPAN_CONTEXT

    from tenantry.tracing import encoding
    from tenantry.tracing.queries import StatementRecorder, StatementSpan, describe
    from tenantry.tracing.roots import RootSpans

    # The fast path reads ``ReadableSpan``'s fields where the installed SDK keeps them.
    assert encoding._READS_FIELDS
    from tenantry.tracing.sampler import TenantrySampler

    kept = Kept()
    made = TracerProvider(resource=Resource.create({"service.name": "shop"}), sampler=TenantrySampler(1.0))
    made.add_span_processor(SimpleSpanProcessor(kept))
    tracer = made.get_tracer("tenantry")
    roots, recorder = RootSpans.of(tracer), StatementRecorder.of(tracer)
    assert roots is not None and recorder is not None
    request = roots.start("GET /api/projects/{id}", {"http.request.method": "GET", "server.port": 80})
    assert request is not None
    parent = request.get_span_context()
    name, shared = describe("SELECT id FROM projects WHERE id = $1", {"db.system.name": "postgresql"})
    for _ in range(2):  # two spans of one statement: one dict, its block encoded once
        with StatementSpan(recorder, name, shared, parent):
            pass
    with pytest.raises(ValueError), StatementSpan(recorder, name, shared, parent):
        raise ValueError("no such row")
    request.end()
    assert parent != INVALID_SPAN_CONTEXT and len(kept.spans) == 4
    for _ in range(2):
        assert ExportTraceServiceRequest.FromString(encode_spans(kept.spans)) == official_encode_spans(kept.spans)
    failed = ExportTraceServiceRequest.FromString(encode_spans(kept.spans)).resource_spans[0].scope_spans[0].spans[2]
    assert failed.status.code == 2 and any(a.key == "error.type" for a in failed.attributes)
