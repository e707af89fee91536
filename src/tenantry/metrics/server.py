"""``/metrics`` on a port of its own (``TENANTRY_METRICS_PORT``), off the public one.

A small Starlette app served by uvicorn inside the app's event loop. Its socket is bound with
``SO_REUSEPORT``, so every worker of ``tenantry serve --workers N`` listens on the same port and
the kernel hands each scrape to one of them (which answers for all, in multiprocess mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from tenantry.metrics.exposition import Exposition

log = logging.getLogger("tenantry.metrics")


class MetricsServer:
    """A worker serving ``GET /metrics`` on ``host:port`` while the app runs."""

    name = "metrics-server"

    def __init__(self, exposition: Exposition, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.app = Starlette(routes=[Route("/metrics", exposition.endpoint, methods=["GET"])])
        self.server: uvicorn.Server | None = None
        self.socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((self.host, self.port))
        sock.set_inheritable(True)
        return sock

    def start(self) -> None:
        # Bound now, so a taken port fails the app's start-up rather than a background task.
        self.socket = self.bind()
        config = uvicorn.Config(self.app, lifespan="off", access_log=False, log_level="warning")
        config.load()
        self.server = uvicorn.Server(config)
        # What ``Server.serve`` would set up before ``startup`` (with lifespan off: a no-op).
        self.server.lifespan = config.lifespan_class(config)
        self._task = asyncio.get_running_loop().create_task(self._serve(), name="tenantry-metrics-server")

    async def _serve(self) -> None:
        # Not ``Server.serve``: it would take over the process's signal handlers from the main server.
        assert self.server is not None and self.socket is not None
        await self.server.startup(sockets=[self.socket])
        await self.server.main_loop()
        await self.server.shutdown(sockets=[self.socket])

    async def stop(self) -> None:
        task, self._task = self._task, None
        if self.server is not None:
            self.server.should_exit = True
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5.0)
        if self.socket is not None:
            self.socket.close()
            self.socket = None
