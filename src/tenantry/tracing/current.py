"""OpenTelemetry's current context, read and set through its context variable.

Every request asks it at least three times (the sampling gate sets it, each statement asks for the
current span), and the API's functions reach the variable through three or four Python calls each
(``trace.get_current_span`` → ``get_value`` → ``get_current`` → the runtime context). With the
SDK's default runtime context (``contextvars``), this module holds that variable and answers in one
call: the same values, read from the same place.

``CurrentContext.of()`` finds the variable (None under another runtime context, configured by
``OTEL_PYTHON_CONTEXT``, or an API that no longer keeps it there: callers then use the API's
functions, slower and equal). ``tests/tracing/test_current.py`` fails if the installed API stops
providing it, rather than letting every request silently take the slower way.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context

# The key the API stores the current span under (its own is private): the one key of a context
# holding only a span.
_SPAN_KEY = next(iter(trace.set_span_in_context(trace.INVALID_SPAN, Context())))


class CurrentContext:
    """The context variable behind ``opentelemetry.context.get_current``/``attach``/``detach``."""

    __slots__ = ("variable",)

    def __init__(self, variable: ContextVar[Context]) -> None:
        self.variable = variable

    @classmethod
    def of(cls) -> CurrentContext | None:
        """The runtime context's variable, if it is the ``contextvars`` one this module knows."""
        runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
        variable = getattr(runtime, "_current_context", None)
        if not isinstance(variable, ContextVar) or variable.get() is not otel_context.get_current():
            return None
        return cls(variable)

    def get(self) -> Context:
        """``opentelemetry.context.get_current()``."""
        return self.variable.get()

    def attach(self, context: Context) -> Token[Context]:
        """``opentelemetry.context.attach(context)``."""
        return self.variable.set(context)

    def detach(self, token: Token[Context]) -> None:
        """``opentelemetry.context.detach(token)`` (its errors reported as the API reports them)."""
        try:
            self.variable.reset(token)
        except (ValueError, RuntimeError):  # another context's token, or used twice: the API logs it
            otel_context.detach(token)

    def span(self) -> trace.Span | None:
        """The current span, or None where ``trace.get_current_span()`` gives the invalid span."""
        span = self.variable.get().get(_SPAN_KEY)
        if span is None:  # no span (an untraced request): no ABC check, a fifth of this call
            return None
        return span if isinstance(span, trace.Span) else None


__all__ = ["CurrentContext"]
