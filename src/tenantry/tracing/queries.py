"""A span per SQLite statement, opened on the event loop (``tenantry.db``'s ``QueryObserver``).

Why not OpenTelemetry's sqlite3 instrumentation: aiosqlite runs each statement on a thread of its
own, fed through a queue, where the request's context (its current span) is not. Spans made there
would have no parent, so they are made here, around the awaited call, where the parent is right.
PostgreSQL is instrumented by ``opentelemetry-instrumentation-asyncpg`` instead, on the event loop too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind

from tenantry.db import QueryObserver


def sqlite_query_observer(tracer: trace.Tracer, database: str) -> QueryObserver:
    """A ``QueryObserver`` opening a client span per statement (no parameters recorded: they hold data)."""

    @contextmanager
    def observe(sql: str) -> Iterator[object]:
        if not is_instrumentation_enabled():  # a request the sampling gate did not choose
            yield None
            return
        # Queries outside any request (polls) are dropped by the sampler before anything is recorded.
        operation = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "SQL"
        with tracer.start_as_current_span(
            operation,
            kind=SpanKind.CLIENT,
            attributes={"db.system": "sqlite", "db.name": database, "db.statement": sql},
        ) as span:
            yield span

    return observe
