"""Deliveries traced as caused by their request: the outbox's ``DeliveryObserver``.

At publish, the current span's context is written as a W3C ``traceparent`` (and ``tracestate``,
on a second line) beside the event. Around each delivery a ``CONSUMER`` span starts a trace of its
own with a Link to that context: the request's trace stays short, and the delivery (perhaps
minutes later, perhaps retried) is still one click away from the request that caused it. Only
the W3C trace context is carried, never baggage, which could hold user data.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tenantry.events import DomainEvent

_PROPAGATOR = TraceContextTextMapPropagator()


def current_trace_context() -> str | None:
    """The current span's context as ``traceparent[\\ntracestate]``; None outside any span."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    parent = carrier.get("traceparent")
    if parent is None:
        return None
    state = carrier.get("tracestate")
    return f"{parent}\n{state}" if state else parent


def linked_context(stored: str | None) -> trace.SpanContext | None:
    """The span context a stored ``current_trace_context`` names (None if absent or unreadable)."""
    if not stored:
        return None
    parent, _, state = stored.partition("\n")
    carrier = {"traceparent": parent, **({"tracestate": state} if state else {})}
    context = trace.get_current_span(_PROPAGATOR.extract(carrier)).get_span_context()
    return context if context.is_valid else None


class OutboxTracer:
    """Stores the trace context with each event, and traces each delivery linked to it."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer

    def publishing(self) -> str | None:
        return current_trace_context()

    @contextmanager
    def delivering(self, subscriber: str, event: DomainEvent, attempt: int) -> Iterator[object]:
        linked = linked_context(event.trace_context)
        links = [Link(linked)] if linked is not None else None
        # A new trace (no parent, whatever task runs the worker), linked to the request's.
        with self.tracer.start_as_current_span(
            f"deliver {event.topic} to {subscriber}",
            context=trace.set_span_in_context(trace.INVALID_SPAN),
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={
                "messaging.system": "tenantry.outbox",
                "messaging.operation.type": "process",
                "messaging.destination.name": event.topic,
                "messaging.consumer.group.name": subscriber,
                "messaging.message.id": event.id,
                "tenantry.delivery.attempt": attempt,
            },
            record_exception=True,
            set_status_on_exception=True,
        ) as span:
            try:
                yield span
            except BaseException as exc:
                if span.is_recording():
                    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:200]))
                raise
