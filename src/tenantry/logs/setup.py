"""One configuration for structlog and the standard library's ``logging``: one renderer for every line.

Tenantry's own ``logging.getLogger(...)`` calls, uvicorn's and any library's records reach the root
logger's one handler, whose ``structlog.stdlib.ProcessorFormatter`` renders them exactly as lines
logged through structlog: the request's bound ids merged in, secrets redacted, then JSON (one
object a line, for a log shipper) or the readable console. Each line is formatted once, by that
handler.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from tenantry.core.http import LOG_FIELDS
from tenantry.logs.redact import SAFE_LINE_KEYS, redact_secrets
from tenantry.logs.settings import LogFormat
from tenantry.logs.structlog_without_rich import structlog

if TYPE_CHECKING:
    from structlog.typing import EventDict, Processor

# Loggers that configure handlers of their own (uvicorn's dictConfig): handed to the root's handler.
_ROUTED = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
# ``extra`` fields of standard-library records that become keys of the line (the access line's).
_EXTRA = ("method", "route", "status", "duration_ms", "request_id", "user_id", "organization_id", "trace_id")


_LEVEL_NAMES: dict[int, str] = {logging.INFO: "info", logging.WARNING: "warning", logging.ERROR: "error"}


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

    With ``flush_interval`` > 0, lines below WARNING written by ``write_line`` (access lines) wait
    in memory up to that many seconds (or until 64 KiB wait) and go out in one write, as nginx's
    ``access_log … buffer= flush=``: one system call per line cost the serving process more than
    the rest of the line. Any other line (a warning, an error, a 5xx's access line, a library's
    record) writes what waits first, so lines keep their order; so do ``flush`` (at shutdown, and
    ``logging.shutdown`` at exit) and a call outside an event loop.
    """

    # Waiting lines are written when they reach this size, whatever the interval.
    BUFFER_LIMIT = 64 * 1024

    def __init__(
        self, direct: Sequence[Processor] = (), *, json_lines: bool = False, flush_interval: float = 0.0
    ) -> None:
        super().__init__()
        self.direct = list(direct)
        # JSON lines: a line whose keys are all known safe (the access line) is written straight
        # with orjson, skipping the chain (see ``write_line``).
        self.json_lines = json_lines
        self.timestamp = next((p for p in self.direct if isinstance(p, UtcTimestamp)), UtcTimestamp())
        self.flush_interval = flush_interval
        self._waiting: list[str] = []
        self._waiting_size = 0
        # The event loop a flush is scheduled on (None: none is); a loop closed since counts as none.
        self._flush_loop: asyncio.AbstractEventLoop | None = None

    def write_line(self, logger: str, level: int, event: str, fields: dict[str, Any]) -> None:
        """Render ``event`` with ``fields`` as logger ``logger`` at ``level`` and write it (one line)."""
        method = _LEVEL_NAMES.get(level) or logging.getLevelName(level).lower()
        if self.json_lines and fields.keys() <= SAFE_LINE_KEYS and not bound_contextvars():
            # Once per request: with no bound context and only keys that never hold a secret (the
            # access line's; the event, logger and level are Tenantry's own words), the chain's
            # steps change nothing but the timestamp, so the line is rendered as ``JSONRenderer``
            # would, in one call.
            timestamp = self.timestamp.now()
            line_dict = {"event": event, **fields, "logger": logger, "level": method, "timestamp": timestamp}
            line = orjson.dumps(line_dict, default=str, option=orjson.OPT_APPEND_NEWLINE).decode()
        else:
            event_dict: Any = {"event": event, **fields, "logger": logger, "level": method}
            for processor in self.direct:
                event_dict = processor(None, method, event_dict)
            line = f"{event_dict}\n"
        with self.lock:  # type: ignore[union-attr]  # made by Handler.__init__
            if level < logging.WARNING and self.flush_interval > 0 and self._wait(line):
                return
            self._write_waiting()
            stream = self.stream
            stream.write(line)
            stream.flush()

    def _wait(self, line: str) -> bool:
        """Keep ``line`` for the next flush, scheduled on the running event loop; False (write it
        now) outside one. Called with the lock held."""
        loop = self._flush_loop
        if loop is None or loop.is_closed():
            # No flush pending (or its loop is gone): one is scheduled on the running loop. While
            # one is pending, lines only join the list (the flush takes whatever waits by then).
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return False
            loop.call_later(self.flush_interval, self.flush)
            self._flush_loop = loop
        self._waiting.append(line)
        self._waiting_size += len(line)
        if self._waiting_size >= self.BUFFER_LIMIT:
            self._write_waiting()
            self.stream.flush()
        return True

    def _write_waiting(self) -> None:
        """Write the lines that wait (lock held; the caller flushes the stream)."""
        if self._waiting:
            self.stream.write("".join(self._waiting))
            self._waiting.clear()
            self._waiting_size = 0

    def flush(self) -> None:
        """Write every line that waits, then flush the stream."""
        with self.lock:  # type: ignore[union-attr]
            self._flush_loop = None
            self._write_waiting()
            super().flush()

    def emit(self, record: logging.LogRecord) -> None:
        # A record of the standard library (any logger, any level): after the lines that wait.
        if self._waiting:
            with self.lock:  # type: ignore[union-attr]  # reentrant: ``handle`` holds it already
                self._write_waiting()
        super().emit(record)


def bound_contextvars() -> bool:
    """Whether anything was ever bound with ``structlog.contextvars`` in this process (its variables
    are made on first bind): until then, ``merge_contextvars`` adds nothing to a line."""
    registry = getattr(structlog.contextvars, "_CONTEXT_VARS", None)
    return registry is None or bool(registry)  # structlog's internals changed: assume so


def add_request_fields(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """The fields of the request being served (``LOG_FIELDS``: its id, user, organization, trace), where
    the line has none of its own by those names."""
    fields = LOG_FIELDS.get()
    if fields:
        for key, value in fields.items():
            event_dict.setdefault(key, value)
    return event_dict


class UtcTimestamp:
    """A processor adding ``timestamp`` as structlog's ``TimeStamper(fmt="iso", utc=True)`` writes it
    (``2026-12-06T08:17:51.295527Z``), at a quarter of its cost: the date and time to the second are
    formatted once a second, not once a line (that formatting was a fifth of an access line's cost).
    Always six digits of microseconds (``TimeStamper`` leaves them out at ``.000000``): one width
    for every line."""

    __slots__ = ("_second",)

    def __init__(self) -> None:
        # One attribute holding both, so a thread never pairs one second with another's text.
        self._second: tuple[int, str] = (-1_000_000, "")

    def __call__(self, _logger: Any, _method: str, event_dict: EventDict) -> EventDict:
        event_dict["timestamp"] = self.now()
        return event_dict

    def now(self) -> str:
        """The time now, as the processor writes it."""
        micros = time.time_ns() // 1000
        start, prefix = self._second  # the second's first microsecond, and its text
        if not 0 <= micros - start < 1_000_000:  # another second (or the clock went back)
            start = micros - micros % 1_000_000
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(start // 1_000_000))
            self._second = (start, prefix)
        return f"{prefix}{micros - start:06d}Z"


def shared_processors() -> list[Processor]:
    """What every line gets, whether logged through structlog or the standard library."""
    return [
        add_request_fields,
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.PositionalArgumentsFormatter(),
        UtcTimestamp(),
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
    return orjson.dumps(value, default=str).decode()


class _AlembicSetUp(logging.Filter):
    """Drops Alembic's "Context impl …" and "Will assume … DDL" lines, which say nothing was done."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl", "Will assume"))


def configure_logging(level: str, fmt: LogFormat, *, flush_interval: float = 0.0) -> TenantryHandler:
    """Route every logger through one handler on the root logger rendering ``fmt`` at ``level``
    (access lines wait up to ``flush_interval`` seconds to be written together, see ``TenantryHandler``).

    Idempotent: a second call (another app in the same process, a reload) replaces the handler
    installed before; handlers others installed (a test runner's) stay.
    """
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared_processors(), structlog.stdlib.ExtraAdder(allow=_EXTRA)],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer(fmt)],
    )
    direct: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        UtcTimestamp(),
        *renderer(fmt),
    ]
    handler = TenantryHandler(direct, json_lines=fmt == "json", flush_interval=flush_interval)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, TenantryHandler)]:
        old.flush()
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _ROUTED:
        routed = logging.getLogger(name)
        routed.handlers.clear()
        routed.propagate = True
    # Alembic describes its set-up at INFO on every comparison (each start of `tenantry dev`):
    # kept to what it did ("Running upgrade …").
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    migration = logging.getLogger("alembic.runtime.migration")
    if not any(isinstance(f, _AlembicSetUp) for f in migration.filters):
        migration.addFilter(_AlembicSetUp())
    structlog.configure(
        processors=[*shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return handler
