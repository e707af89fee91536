"""Which spans are kept: a share of requests, the deliveries of the kept ones, no query on its own.

- A span with a parent follows its parent's choice (a query inside a kept request is kept).
- A query with no parent (the outbox's polls, a sweeper's deletes) is dropped: traced alone it would
  be one trace a second of noise.
- A delivery (no parent, linked to the request that published its event) is kept when that request
  was, so a kept request's background work is there to follow.
- A request's server span is kept: the sampling gate (``tenantry.tracing.gate``) drew the lot at the
  configured ratio before OpenTelemetry's middleware opened it, and sends only the chosen ones.
- Anything else (spans of one's own without a parent) is kept at the configured ratio, decided by
  the trace id.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes


class TenantrySampler(Sampler):
    """Parent-based at ``rate``, with the two rules above for spans without a parent."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._inner = ParentBased(TraceIdRatioBased(rate))

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if not parent.is_valid:
            if kind == SpanKind.CLIENT:
                return SamplingResult(Decision.DROP)
            if links:
                follow = ALWAYS_ON if any(link.context.trace_flags.sampled for link in links) else ALWAYS_OFF
                return follow.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
            if kind == SpanKind.SERVER:
                return ALWAYS_ON.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        return self._inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"TenantrySampler{{{self.rate}}}"
