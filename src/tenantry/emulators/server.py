"""Run an ASGI app on a real port in a background thread, for tests and ``tenantry dev``.

Emulators of third-party services (identity providers, Postmark, Stripe) must be reachable over
real HTTP: the code under test talks to them with the same clients (Authlib, httpx) it uses in
production, and a browser follows their redirects. ``run_in_thread`` gives each one a uvicorn
server on its own event loop, so a test's event loop can call it without deadlocking.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn
from starlette.types import ASGIApp

__all__ = ["RunningServer", "bind_socket", "format_base_url", "run_in_thread"]


def format_base_url(host: str, port: int, scheme: str = "http") -> str:
    """The URL of ``host:port``, bracketing IPv6 literals (``http://[::1]:8000``)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A TCP socket bound to ``host:port`` (``port=0``: a free port chosen by the OS).

    Binding before the app is created lets a caller learn the port first, which an app that must
    know its own public URL (an OpenID issuer) needs, without the race of probing for a free
    port and binding it later.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Like uvicorn: lets a restarted dev server rebind a port still in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        # Listening at once keeps the port ours: on Linux, another SO_REUSEADDR socket may bind a
        # port that is bound but not yet listening. Connections queue until the server serves.
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


class RunningServer:
    """A uvicorn server serving ``app`` from a daemon thread; ``stop()`` (or leaving ``with``) shuts it down."""

    def __init__(self, app: ASGIApp, server: uvicorn.Server, thread: threading.Thread, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server = server
        self._thread = thread

    @property
    def base_url(self) -> str:
        """``http://host:port``, without a trailing slash."""
        return format_base_url(self.host, self.port)

    @property
    def running(self) -> bool:
        """Whether the server thread is still serving."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down gracefully (lifespan shutdown included); idempotent.

        Raises ``RuntimeError`` if the server has not stopped after ``timeout`` seconds even when
        forced, rather than leaving a thread serving behind the caller's back.
        """
        if not self._thread.is_alive():
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            # Open keep-alive connections or slow requests: stop waiting for them.
            self._server.force_exit = True
            self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError(f"the server on {self.base_url} did not stop within {2 * timeout:g}s")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<RunningServer {self.base_url} running={self.running}>"


def run_in_thread(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    sock: socket.socket | None = None,
    startup_timeout: float = 10.0,
    log_level: str = "warning",
) -> RunningServer:
    """Serve ``app`` with uvicorn in a background thread and return once it accepts connections.

    ``port=0`` picks a free port (read it from ``.port`` / ``.base_url``). Pass an already bound
    ``sock`` (from :func:`bind_socket`) to know the port before building the app; ``host`` and
    ``port`` are then ignored. The app's lifespan runs (``lifespan="on"``): a failing startup
    raises ``RuntimeError`` here instead of leaving a dead server behind.
    """
    if sock is None:
        sock = bind_socket(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_level=log_level,
        # The host process (pytest, the tenantry CLI) owns logging; uvicorn must not reconfigure it.
        log_config=None,
        access_log=False,
        # Keep-alive clients must not hold up stop() for long.
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # uvicorn reports a failed startup with sys.exit()
            failure.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=serve, name=f"uvicorn:{bound_port}", daemon=True)
    running = RunningServer(app, server, thread, bound_host, bound_port)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            cause = failure[0] if failure else None
            raise RuntimeError(f"the server on {running.base_url} failed to start (see the log)") from cause
        if time.monotonic() > deadline:
            running.stop()
            raise RuntimeError(f"the server on {running.base_url} did not start within {startup_timeout:g}s")
        time.sleep(0.01)
    return running
