"""One node of ``tenantry serve``: a listening socket and one or more worker processes serving it.

With one worker the app is served in this process. With several, this process binds the socket,
starts the workers (forked from it, which holds nothing of the app: each builds its own) and
watches them: a worker that dies (a crash, SIGKILL) is replaced, and the others serve meanwhile
since they share the socket. SIGTERM or SIGINT is passed on to every worker at once; each stops
as ``DrainingServer`` describes (the first to get it shuts the shared socket down, so the node
refuses new connections at once). The exit status is the same either way: 0 once every worker has
finished gracefully, 1 if one had to be killed after the grace period.

No worker serves before the start-up check (``tenantry.server.check``) has answered; a refusal
stops the node with the check's status.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import FrameType

from tenantry.server.check import CheckHere, CheckRequest, Forwarded, Given, Verdict, VerdictSource

log = logging.getLogger("tenantry.server")

# Beyond the grace period: the app's own shutdown (the outbox's handlers, closing the pool).
SHUTDOWN_MARGIN = 15.0
# How often the supervisor looks for dead workers.
WATCH_INTERVAL = 0.2
# The signals the supervisor passes on to its workers.
_FORWARDED = {signal.SIGTERM, signal.SIGINT}


@dataclass(frozen=True)
class NodeOptions:
    """What ``tenantry serve`` asks for; the app itself comes from the environment in each worker."""

    host: str
    port: int
    workers: int = 1
    migrate: bool = False  # apply pending migrations before serving (``--migrate``)
    log_level: str = "info"

    def check_request(self) -> CheckRequest:
        """What the start-up check of this node is asked."""
        return CheckRequest(migrate=self.migrate, host=self.host, port=self.port, workers=self.workers)


def bind(host: str, port: int) -> socket.socket:
    """The node's listening socket (IPv6 when ``host`` is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_node(options: NodeOptions, sock: socket.socket) -> int:
    """Serve ``sock`` (see ``bind``) until SIGTERM/SIGINT; returns the exit status (0: stopped gracefully)."""
    if options.workers == 1:
        return run_worker(options, sock, CheckHere(options.check_request()))
    return Supervisor(options, sock).run()


def run_worker(options: NodeOptions, sock: socket.socket, verdict: VerdictSource) -> int:
    """Build the app from the environment and serve ``sock`` with it once ``verdict`` allows, until told to stop."""
    # Collections while the app's thousand modules load find nothing to free (they live as long as
    # the process) and cost a tenth of the start: off until ``served_app`` collects once and freezes.
    gc.disable()
    try:
        # Here, not at the top: a supervising node (several workers) serves nothing, and loads neither.
        import uvicorn

        from tenantry.app import served_app
        from tenantry.health import hand_down_heads
        from tenantry.server.drain import DrainingServer

        verdict.begin()
        try:
            app = served_app()
        except (Exception, SystemExit):  # not Ctrl-C: that stops the node at once
            # Invalid settings fail the build too: the check explains them, without a traceback.
            refused = verdict.wait()
            if refused.status:
                return refused.status
            raise
    finally:
        gc.enable()
    config = uvicorn.Config(
        app,
        # The app believes the trusted proxies' forwarded headers itself (uvicorn would trust
        # 127.0.0.1 by default, and replace the peer before the app's request id check).
        proxy_headers=False,
        access_log=False,
        log_level=options.log_level,
    )
    # Loaded (its protocol modules imported) while the check may still be running, not after it.
    config.load()
    answer = verdict.wait()
    if answer.status:
        return answer.status
    hand_down_heads(answer.heads)
    server = DrainingServer(config, grace=answer.grace, on_drain=app.state.tenantry.drain)
    server.run(sockets=[sock])
    return 0


def _worker_main(options: NodeOptions, sock: socket.socket, verdict: VerdictSource) -> None:
    """A worker process's entry point, forked from its supervisor with SIGTERM and SIGINT blocked."""
    # The supervisor's handlers would act on its own processes: a worker starts with Python's.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED)
    raise SystemExit(run_worker(options, sock, verdict))


class Supervisor:
    """Runs ``options.workers`` worker processes on ``sock``, replacing any that die, until stopped."""

    def __init__(self, options: NodeOptions, sock: socket.socket) -> None:
        self.options = options
        self.sock = sock
        # Forked, not spawned: this process holds nothing of the app and runs no thread, and a
        # fork spares each worker a new interpreter and the modules this one has already loaded.
        self.context = multiprocessing.get_context("fork")
        self.processes: list[BaseProcess] = []
        self.stopping = threading.Event()
        self.verdict: Verdict | None = None
        # The worker that runs the start-up check, and the end of the pipe it reports the verdict on.
        self.checking: BaseProcess | None = None
        self.report: Connection | None = None
        # The workers started before the verdict, each waiting on the end of a pipe kept here.
        self.waiting: list[Connection] = []

    def run(self) -> int:
        """Start the workers, forward the start-up check's verdict, watch them, and stop them all on SIGTERM/SIGINT."""
        for sig in _FORWARDED:
            signal.signal(sig, self._on_signal)
        log.info("supervisor [%d] starting %d workers", os.getpid(), self.options.workers)
        self.processes = [self._start() for _ in range(self.options.workers)]
        while not self.stopping.is_set():
            if self.report is not None:
                self._forward_verdict(WATCH_INTERVAL)  # at once when it comes: the other workers wait for it
            else:
                self.stopping.wait(WATCH_INTERVAL)
            self._replace_dead()
        return self._stop()

    def _start(self) -> BaseProcess:
        source: VerdictSource
        given: Connection | None = None  # the worker's end of its pipe, closed here once it has it
        if self.verdict is not None:
            source = Given(self.verdict)
        elif self.checking is None:
            # The first worker (or the replacement of a checking one that died) checks: forked from
            # it once the app's modules are loaded, the check costs no second import of them.
            self.report, given = self.context.Pipe(duplex=False)
            source = CheckHere(self.options.check_request(), given)
        else:
            given, send = self.context.Pipe(duplex=False)
            self.waiting.append(send)
            source = Forwarded(given)
        process = self.context.Process(
            target=_worker_main, args=(self.options, self.sock, source), name="tenantry-worker"
        )
        # Blocked across the fork, so that neither signal reaches the new worker before it has
        # put Python's handlers back (a signal sent meanwhile waits, and is handled then).
        signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED)
        if given is not None:
            # Only the worker holds it now: a checking worker that dies ends the report pipe.
            given.close()
            if isinstance(source, CheckHere):
                self.checking = process
        return process

    def _forward_verdict(self, timeout: float) -> None:
        assert self.report is not None
        try:
            if not self.report.poll(timeout):
                return
            verdict: Verdict = self.report.recv()
        except (EOFError, OSError):  # the checking worker died first: its replacement checks
            self.report = None
            return
        self.report.close()
        self.report = None
        self.verdict = verdict
        if verdict.status:
            # The check said why on the terminal; no worker served, and all stop now.
            self._on_signal(signal.SIGTERM, None)
            return
        for send in self.waiting:
            with contextlib.suppress(OSError):  # a worker that died meanwhile (replaced with the verdict)
                send.send(verdict)
            send.close()
        self.waiting.clear()

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        # Passed on at once (not at the next watch): the workers stop accepting now.
        if not self.stopping.is_set():
            self.stopping.set()
            for process in self.processes:
                if process.pid is not None and process.exitcode is None:
                    os.kill(process.pid, signal.SIGTERM)

    def _replace_dead(self) -> None:
        for index, process in enumerate(self.processes):
            if process.exitcode is None or self.stopping.is_set():
                continue
            log.warning("worker [%s] exited with status %s; starting another", process.pid, process.exitcode)
            if process is self.checking and self.verdict is None:
                self.checking = self.report = None  # the replacement checks
            if process.exitcode == 3:  # uvicorn's STARTUP_FAILURE: every replacement would fail alike
                log.error("a worker could not start; stopping the node")
                self._on_signal(signal.SIGTERM, None)
                return
            self.processes[index] = self._start()

    def _stop(self) -> int:
        log.info("supervisor [%d] stopping %d workers", os.getpid(), len(self.processes))
        self.sock.close()  # the workers have shut it down; this process never accepted on it
        # Stopped before the verdict: no worker served anything.
        grace = self.verdict.grace if self.verdict is not None else 0.0
        deadline = time.monotonic() + grace + SHUTDOWN_MARGIN
        status = self.verdict.status if self.verdict is not None else 0  # a refusal's, else 0 so far
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                log.error("worker [%s] did not stop in time; killing it", process.pid)
                process.kill()
                process.join()
                status = 1
            elif process.exitcode not in (0, -signal.SIGTERM):
                # -SIGTERM: stopped while starting, before it could serve anything: nothing was cut off.
                status = status or 1
        return status
