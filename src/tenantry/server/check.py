"""The start-up check a node waits for before it serves: settings valid, database at the code's head.

``tenantry serve`` becomes the node without checking anything but the schema file, so that the
app is imported once, by the process that serves it. The check runs beside the app being built,
in a process forked from a worker once the app's modules are loaded: it adds only Alembic and the
comparison, and never leaves Alembic in the worker. With several workers the first one checks and
reports to its supervisor, which forwards the verdict to the others. Nothing is served before the
verdict: a refusal has been explained on the terminal by the check itself, and the node exits
with its status (2: settings, 1: the database), as the command line did when it checked first.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

# A check that died without a verdict (an unexpected error, already printed) refuses with this.
UNEXPLAINED = 1


@dataclass(frozen=True)
class Verdict:
    """The check's answer: ``status`` 0 to serve, else the exit status of a node that refuses."""

    status: int
    heads: tuple[str, ...] = ()  # the code's migration heads, for readiness (spares each worker Alembic)
    grace: float = 30.0  # TENANTRY_SHUTDOWN_GRACE, read with the rest of the settings


@dataclass(frozen=True)
class CheckRequest:
    """What the check needs from the node: whether to migrate first, and what the banner shows."""

    migrate: bool
    host: str
    port: int
    workers: int


class VerdictSource:
    """Where a worker learns the verdict: a check of its own, or its supervisor."""

    def begin(self) -> None:
        """Called once the app's modules are loaded, before the app is built (nothing to start here)."""

    def wait(self) -> Verdict:
        """Block until the verdict is known."""
        raise NotImplementedError


class CheckHere(VerdictSource):
    """The check, forked from this worker; its verdict is also sent to ``report`` (a supervisor), if any."""

    def __init__(self, request: CheckRequest, report: Connection | None = None) -> None:
        self.request = request
        self.report = report
        self.receive: Connection | None = None
        self.process: BaseProcess | None = None

    def begin(self) -> None:
        """Fork the check now: it shares every module loaded so far, and no thread has started yet."""
        context = multiprocessing.get_context("fork")
        self.receive, send = context.Pipe(duplex=False)
        self.process = context.Process(target=_check_main, args=(send, self.request), name="tenantry-check")
        self.process.start()
        send.close()  # the child holds the only writer: its exit ends the pipe

    def wait(self) -> Verdict:
        """The check's verdict (a check that died without answering refuses), reported to the supervisor first."""
        assert self.receive is not None and self.process is not None, "begin() first"
        try:
            verdict: Verdict = self.receive.recv()
        except EOFError:  # it printed why
            verdict = Verdict(status=UNEXPLAINED)
        self.receive.close()
        self.process.join()
        if self.report is not None:
            self.report.send(verdict)
            self.report.close()
            self.report = None
        return verdict


class Forwarded(VerdictSource):
    """A supervised worker's verdict, sent by its supervisor once the checking worker reported it."""

    def __init__(self, receive: Connection) -> None:
        self.receive = receive

    def wait(self) -> Verdict:
        """Block until the supervisor forwards the verdict."""
        verdict: Verdict = self.receive.recv()
        self.receive.close()
        return verdict


class Given(VerdictSource):
    """A verdict already known (a worker that replaces one that died)."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict

    def wait(self) -> Verdict:
        """The verdict, at once."""
        return self.verdict


def _check_main(send: Connection, request: CheckRequest) -> None:
    # Only here does the node reach the command line: its settings and migration messages are the
    # ones ``tenantry serve`` has always printed, and this process exits once it has answered.
    try:
        from tenantry.cli import check_before_serving

        verdict = check_before_serving(request)
    except KeyboardInterrupt:  # Ctrl-C reached the whole node: its worker stops too
        return
    sys.stdout.flush()
    sys.stderr.flush()
    # Nobody to tell when the worker that asked was killed while starting: its replacement checks.
    with contextlib.suppress(BrokenPipeError):
        send.send(verdict)
    send.close()
