"""One configuration for structlog and the standard library's ``logging``: one renderer for every line.

Tenantry's own ``logging.getLogger(...)`` calls, uvicorn's and any library's records reach the root
logger's one handler, whose ``structlog.stdlib.ProcessorFormatter`` renders them exactly as lines
logged through structlog: the request's bound ids merged in, secrets redacted, then JSON (one
object a line, for a log shipper) or the readable console. Each line is formatted once, by that
handler.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import structlog
from structlog.typing import Processor

from tenantry.logs.redact import redact_secrets
from tenantry.logs.settings import LogFormat

# Loggers that configure handlers of their own (uvicorn's dictConfig): handed to the root's handler.
_ROUTED = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
# ``extra`` fields of standard-library records that become keys of the line (the access line's).
_EXTRA = ("method", "route", "status", "duration_ms", "request_id", "user_id", "organization_id", "trace_id")


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when the line is written (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # always the current sys.stderr


class TenantryHandler(_StderrHandler):
    """The root logger's handler this module installs (found again and replaced on reconfiguration).

    ``write_line`` renders a line of Tenantry's own straight to the stream, through the same
    processors, without a standard-library record: the access line, once per request, where the
    record, its copy in the formatter and the caller lookup would cost more than the line itself.
    """

    def __init__(self, direct: Sequence[Processor] = ()) -> None:
        super().__init__()
        self.direct = list(direct)

    def write_line(self, logger: str, level: int, event: str, fields: dict[str, Any]) -> None:
        """Render ``event`` with ``fields`` as logger ``logger`` at ``level`` and write it (one line)."""
        method = logging.getLevelName(level).lower()
        event_dict: Any = {"event": event, **fields, "logger": logger, "level": method}
        for processor in self.direct:
            event_dict = processor(None, method, event_dict)
        self.acquire()
        try:
            self.stream.write(f"{event_dict}{self.terminator}")
            self.flush()
        finally:
            self.release()


def shared_processors() -> list[Processor]:
    """What every line gets, whether logged through structlog or the standard library."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def renderer(fmt: LogFormat) -> list[Processor]:
    """The last steps: exceptions as text (JSON), secrets redacted, then the line itself."""
    if fmt == "json":
        return [
            structlog.processors.format_exc_info,
            redact_secrets,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ]
    return [
        structlog.processors.format_exc_info,
        redact_secrets,
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback),
    ]


def _dumps(value: Any, **_: Any) -> str:
    import orjson

    return orjson.dumps(value, default=str).decode()


def configure_logging(level: str, fmt: LogFormat) -> TenantryHandler:
    """Route every logger through one handler on the root logger rendering ``fmt`` at ``level``.

    Idempotent: a second call (another app in the same process, a reload) replaces the handler
    installed before; handlers others installed (a test runner's) stay.
    """
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared_processors(), structlog.stdlib.ExtraAdder(allow=_EXTRA)],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer(fmt)],
    )
    direct: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        *renderer(fmt),
    ]
    handler = TenantryHandler(direct)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, TenantryHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _ROUTED:
        routed = logging.getLogger(name)
        routed.handlers.clear()
        routed.propagate = True
    structlog.configure(
        processors=[*shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return handler
