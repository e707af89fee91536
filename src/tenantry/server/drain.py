"""A uvicorn server that stops gracefully: refuse new connections at once, finish what is in flight.

On SIGTERM (or SIGINT) the process:

1. accepts what is already queued on the listening socket, then shuts the socket down, so every
   later connection attempt is refused (a proxy tries its next upstream, even for a POST, because
   nothing was sent). The socket is shared by every worker of a node and by the supervising
   process: shutting it down stops the whole node at once, not this worker alone;
2. tells the app it is draining (``on_drain``): readiness answers 503 and Socket.IO clients are
   disconnected so they reconnect elsewhere;
3. lets requests in flight finish within ``grace`` seconds, closing each connection once its
   answer is sent (a connection accepted just now gets a moment for its first request);
4. runs the app's shutdown (the outbox hands back what it claimed and did not deliver), and exits
   with status 0, with one worker or several.

Connections are accepted here (``sock_accept`` then ``connect_accepted_socket``) rather than by
``loop.create_server``, because the loop's server offers no way to accept what is queued before
the socket stops listening; closing a listening socket resets every connection in its queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import weakref
from collections.abc import Callable, Coroutine, Generator
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger("tenantry.server")

# A connection accepted as the drain began has this long to send its first request.
FIRST_REQUEST_WAIT = 1.0
# How often the drain looks at the connections still open.
DRAIN_POLL = 0.05


class DrainingServer(uvicorn.Server):
    """``uvicorn.Server`` serving the sockets it is given, with the graceful stop described above."""

    def __init__(
        self, config: uvicorn.Config, *, grace: float, on_drain: Callable[[], Coroutine[Any, Any, None]] | None = None
    ) -> None:
        super().__init__(config)
        self.grace = grace
        self.on_drain = on_drain
        self.draining = False
        self.cut_short = 0  # requests still running when the grace period ran out
        self._listeners: list[socket.socket] = []
        self._accepting: list[asyncio.Task[None]] = []
        self._attaching: set[asyncio.Task[None]] = set()
        self._born: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drained: asyncio.Task[None] | None = None

    # -- start -------------------------------------------------------------------------------------

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start the app, then accept connections on ``sockets`` (bound by the caller)."""
        if not sockets:
            raise ValueError("DrainingServer serves the sockets it is given")
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        loop = self._loop = asyncio.get_running_loop()
        self.servers = []  # uvicorn's shutdown closes these; this server has none
        for sock in sockets:
            sock.setblocking(False)
            self._listeners.append(sock)
            self._accepting.append(loop.create_task(self._accept(sock)))
        self.started = True
        if self.should_exit:  # a signal came during start-up, before the loop could be told
            self._stop_accepting()

    def _protocol(self) -> asyncio.Protocol:
        config = self.config
        protocol: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=self.server_state, app_state=self.lifespan.state, _loop=self._loop
        )
        assert self._loop is not None
        self._born[protocol] = self._loop.time()
        return protocol

    async def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as exc:
                if exc.errno in (22, 9):  # EINVAL, EBADF: the socket stopped listening (the node drains)
                    return
                # Out of file descriptors or memory for a moment: the queue waits, as uvicorn's does.
                log.warning("accepting a connection failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            self._attach(conn)

    def _attach(self, conn: socket.socket) -> None:
        assert self._loop is not None
        conn.setblocking(False)
        task = self._loop.create_task(self._connect(conn))
        self._attaching.add(task)
        task.add_done_callback(self._attaching.discard)

    async def _connect(self, conn: socket.socket) -> None:
        assert self._loop is not None
        try:
            await self._loop.connect_accepted_socket(self._protocol, conn)
        except OSError:
            conn.close()  # the client went away before its connection was set up

    # -- stop --------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """uvicorn's, without raising the signal again at the end: a graceful stop exits with 0."""
        with super().capture_signals():
            yield
            self._captured_signals.clear()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT: stop accepting now, not at the server's next tick."""
        super().handle_exit(sig, frame)
        if self._loop is not None and self.started:
            self._loop.call_soon_threadsafe(self._stop_accepting)

    def _stop_accepting(self) -> None:
        """Take what is queued, shut the listening socket down (for every process sharing it), drain the app."""
        if self.draining:
            return
        self.draining = True
        # The accepting tasks are not cancelled: one may hold a connection accepted a moment ago,
        # which a cancellation would drop. Each ends by itself once the socket stops listening.
        taken = 0
        for sock in self._listeners:
            queued: list[socket.socket] = []
            # No await between the last accept and the shutdown: nothing can slip into the queue
            # in between and be reset with it.
            while True:
                try:
                    conn, _ = sock.accept()
                except OSError:  # BlockingIOError: the queue is empty; EINVAL: another worker shut it
                    break
                queued.append(conn)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            for conn in queued:
                self._attach(conn)
            taken += len(queued)
        log.info(
            "stopping: no new connections; %d open (%d taken from the queue), up to %.0f s to finish",
            len(self.server_state.connections) + taken,
            taken,
            self.grace,
        )
        if self.on_drain is not None and self._loop is not None:
            self._drained = self._loop.create_task(self.on_drain())

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Finish the requests in flight (within the grace period), then stop the app."""
        loop = asyncio.get_running_loop()
        self._stop_accepting()
        deadline = loop.time() + self.grace
        for sock in sockets or ():
            sock.close()
        if self._attaching:
            await asyncio.wait(self._attaching, timeout=max(0.0, deadline - loop.time()))
        if self._drained is not None:
            # Sockets are being closed; their connections end with it.
            await asyncio.wait({self._drained}, timeout=max(0.0, deadline - loop.time()))
        told: set[Any] = set()
        while self.server_state.connections and loop.time() < deadline and not self.force_exit:
            now = loop.time()
            for conn in list(self.server_state.connections):
                if conn in told:
                    continue
                fresh = getattr(conn, "cycle", True) is None and now - self._born.get(conn, 0.0) < FIRST_REQUEST_WAIT
                if fresh:
                    continue  # accepted a moment ago: its request is on its way
                # Idle: closed now; in a request: closed once its answer is sent.
                conn.shutdown()
                told.add(conn)
            await asyncio.sleep(DRAIN_POLL)
        if self.server_state.tasks:
            self.cut_short = len(self.server_state.tasks)
            log.warning(
                "grace period of %.0f s over: cancelling %d request(s) still running", self.grace, self.cut_short
            )
            for task in list(self.server_state.tasks):
                task.cancel(msg="the server's grace period ran out")
            await asyncio.wait(list(self.server_state.tasks), timeout=1.0)
        for task in self._accepting:
            task.cancel()  # only one waiting on a socket that never woke (nothing to drop)
        if not self.force_exit:
            await self.lifespan.shutdown()
