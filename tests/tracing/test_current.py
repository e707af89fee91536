"""``CurrentContext`` reads and sets what OpenTelemetry's context API does, and the hot path uses it."""

from __future__ import annotations

import asyncio

from opentelemetry import context, trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext

from tenantry.tracing.current import CurrentContext
from tenantry.tracing.gate import SamplingGate
from tenantry.tracing.queries import query_observer


def current() -> CurrentContext:
    found = CurrentContext.of()
    # The installed API keeps its context where this module reads it: else every request takes the
    # API's slower functions, which this test exists to notice.
    assert found is not None
    return found


def test_it_reads_what_the_api_reads() -> None:
    here = current()
    assert here.get() is context.get_current()
    assert here.span() is None and trace.get_current_span() is trace.INVALID_SPAN

    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("outer") as outer:
        assert here.span() is outer is trace.get_current_span()
        assert here.get() is context.get_current()
    dropped = NonRecordingSpan(SpanContext(1, 2, is_remote=False))
    with trace.use_span(dropped):
        assert here.span() is dropped is trace.get_current_span()
    with suppress_instrumentation():
        assert here.span() is None


def test_attach_and_detach_are_the_apis() -> None:
    here = current()
    before = context.get_current()
    marked = context.set_value("tenantry.test", 1)
    token = here.attach(marked)
    assert context.get_current() is marked and context.get_value("tenantry.test") == 1
    here.detach(token)
    assert context.get_current() is before
    # A token used twice is reported by the API's own detach (logged), not raised into a request.
    here.detach(token)
    assert context.get_current() is before


def test_the_gate_and_the_statement_observer_take_the_short_way() -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        seen.append(context.get_current())

    seen: list[context.Context] = []
    gate = SamplingGate(app, traced=app, rate=0.0)
    assert gate.current is not None
    asyncio.run(gate({"type": "http", "headers": []}, None, None))  # type: ignore[arg-type]
    assert seen == [gate.suppressed]
    assert context.get_current() == {}  # detached once the request ended

    observe = query_observer(TracerProvider().get_tracer("test"), {"db.system.name": "sqlite"})
    assert observe("SELECT 1") is None  # no span: nothing to record
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request"), observe("SELECT 1") as statement:  # type: ignore[union-attr]
        assert statement is not None
    with trace.use_span(NonRecordingSpan(SpanContext(1, 2, is_remote=False))):
        assert observe("SELECT 1") is None  # a span that does not record
