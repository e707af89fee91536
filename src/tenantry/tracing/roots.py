"""The server span of a request the sampling gate chose: the SDK's own span, made without the tracer's
generic path.

``Tracer.start_span`` asks the sampler (for a root ``SERVER`` span ours always keeps it: the gate drew
the lot), reads the tracer's configuration, and cleans every attribute through ``BoundedAttributes``
(type checks per value, a lock per call): ~60 us per request on a 2-core machine, the largest part of
a traced request in the serving process. ``RootSpans`` makes the same SDK span (``Span``: what
``trace.get_current_span()`` gives a handler, with the SDK's own ``set_attribute``, ``add_event``,
``record_exception``, ``set_status`` and ``end``, so everything a user adds is cleaned and limited as
usual) with the ids, flags, resource, scope, limits and processors the tracer would give it, and the
request's attributes (strings and ints this package writes, valid by construction) stored as they are.
Its processors see ``on_start``, ``_on_ending`` and ``on_end`` as for any span. A request that
continues a caller's trace still goes through ``Tracer.start_span`` (the sampler follows the caller).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import Span, SpanLimits
from opentelemetry.sdk.trace.sampling import Decision, Sampler
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from tenantry.tracing.queries import StatementRecorder
from tenantry.tracing.sampler import TenantrySampler

# What the SDK's spans hold their attributes in, and the plain dict inside it.
_ATTRIBUTES, _PLAIN = "_attributes", "_dict"


class RequestSpan(Span):
    """The SDK's span, started by ``RootSpans`` (the SDK's ``Span`` is made only through a subclass)."""


class RootSpans:
    """Starts recording ``SERVER`` spans without a parent, for one SDK tracer."""

    __slots__ = ("enabled", "flags", "info", "limits", "metrics", "parts", "sampler")

    def __init__(
        self,
        *,
        parts: StatementRecorder,
        limits: SpanLimits,
        sampler: Sampler,
        info: Any,
        metrics: Any,
        enabled: Callable[[], bool],
    ) -> None:
        # The tracer's resource, scope, ids and processors: what statement spans take from it too.
        self.parts = parts
        self.limits = limits
        self.sampler = sampler
        self.info = info
        self.metrics = metrics
        self.enabled = enabled
        flags = TraceFlags.SAMPLED
        random_id = getattr(TraceFlags, "RANDOM_TRACE_ID", 0)  # W3C trace context level 2, newer SDKs
        if random_id and parts.ids.is_trace_id_random():
            flags |= random_id
        self.flags = TraceFlags(flags)

    @classmethod
    def of(cls, tracer: trace.Tracer) -> RootSpans | None:
        """The root spans of an SDK tracer sampling with ``TenantrySampler`` (None for another
        implementation or sampler, or an SDK whose tracer or span no longer has what this needs: its
        own ``start_span`` is used then)."""
        parts = StatementRecorder.of(tracer)
        limits = getattr(tracer, "_span_limits", None)
        sampler = getattr(tracer, "sampler", None)
        if not (
            parts is not None
            and isinstance(limits, SpanLimits)
            and isinstance(sampler, TenantrySampler)  # keeps every root SERVER span: no need to ask
        ):
            return None
        probe = RequestSpan("probe", trace.INVALID_SPAN_CONTEXT, limits=limits, resource=parts.resource)
        if not isinstance(getattr(getattr(probe, _ATTRIBUTES, None), _PLAIN, None), dict):
            return None
        metrics = getattr(tracer, "_tracer_metrics", None)
        enabled = getattr(tracer, "_is_enabled", None)  # a tracer switched off by configuration
        return cls(
            parts=parts,
            limits=limits,
            sampler=sampler,
            info=getattr(tracer, "instrumentation_info", None),
            metrics=metrics if callable(getattr(metrics, "start_span", None)) else None,
            enabled=enabled if callable(enabled) else _always,
        )

    def start(self, name: str, attributes: Mapping[str, str | int]) -> RequestSpan | None:
        """A started ``SERVER`` span named ``name``, a new trace's root, holding ``attributes`` (None
        while the tracer is switched off: its ``start_span`` answers then)."""
        if not self.enabled():
            return None
        parts = self.parts
        ids = parts.ids
        context = SpanContext(ids.generate_trace_id(), ids.generate_span_id(), is_remote=False, trace_flags=self.flags)
        record_end = self.metrics.start_span(None, Decision.RECORD_AND_SAMPLE) if self.metrics is not None else None
        span = RequestSpan(
            name,
            context,
            sampler=self.sampler,
            resource=parts.resource,
            kind=SpanKind.SERVER,
            span_processor=parts.processor,
            instrumentation_info=self.info,
            limits=self.limits,
            instrumentation_scope=parts.scope,
            record_end_metrics=record_end,
        )
        set_clean_attributes(span, attributes)
        span.start()
        return span


def _always() -> bool:
    return True


def set_clean_attributes(span: trace.Span, attributes: Mapping[str, str | int]) -> None:
    """Sets ``attributes`` on ``span``: stored as they are on an SDK span that records (strings and
    ints need no cleaning), through ``set_attributes`` when a limit could apply (the number of
    attributes, or a length limit on values) or the span is not the SDK's."""
    held = getattr(span, _ATTRIBUTES, None)
    plain = getattr(held, _PLAIN, None)
    limit = getattr(held, "maxlen", None)
    if (
        isinstance(plain, dict)
        and span.is_recording()
        and getattr(held, "_immutable", True) is False
        and getattr(held, "max_value_len", 0) is None
        and (limit is None or len(plain) + len(attributes) <= limit)
    ):
        plain.update(attributes)
        return
    span.set_attributes(attributes)
