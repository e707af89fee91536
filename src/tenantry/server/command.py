"""``tenantry serve`` up to the moment it becomes the node, for the Typer command and for its quick path.

Before it hands over, ``tenantry serve`` does little: it reads the schema file (its mistakes at once,
with file and line), sets the environment the workers read and binds the listening socket
(``prepare_node``). Typer, which parses every other command, takes about a fifth of a second to
start: it imports Pydantic and builds a validator for each option, a fifth of a node's cold start.
So the ``tenantry`` executable reads a plain ``serve`` command line itself (``quick_serve``):
options ``serve`` has, with valid values, a schema that loads and a port it can bind. Anything else
(``--help``, a typo, a value out of range, a schema with problems, a port taken) goes to the Typer
command, which explains it as always. The tests check that both know the same options, with the
same defaults.

The quick path has loaded nothing the node would not (no Typer, no Pydantic, no app): it becomes
the node in place, keeping the schema modules a worker needs anyway. The Typer command replaces
itself with ``python -m tenantry.server`` (``become_node``), so that no node process carries the
command line's libraries.
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from tenantry.server.__main__ import exec_argv, run_node
from tenantry.server.node import NodeOptions, bind


@dataclass(frozen=True)
class ServeRequest:
    """What ``tenantry serve`` was asked (its options' defaults are the command's)."""

    schema: Path | None = None
    host: str = "0.0.0.0"  # noqa: S104 - a server
    port: int = 8000
    workers: int = 1
    grace: float | None = None
    migrate: bool = False
    proxy_headers: bool = True


def prepare_node(path: Path, request: ServeRequest) -> tuple[NodeOptions, socket.socket]:
    """Set the environment the node's workers read and bind the socket: what the node is given.
    Raises ``OSError`` when the socket cannot be bound (the port is taken, or the address is not
    this machine's); nothing has been started then."""
    os.environ.setdefault("TENANTRY_ENV", "production")
    if not request.proxy_headers:
        os.environ["TENANTRY_TRUSTED_PROXIES"] = ""  # the workers read it too
    if request.grace is not None:
        os.environ["TENANTRY_SHUTDOWN_GRACE"] = str(request.grace)
    os.environ["TENANTRY_SCHEMA"] = str(path.resolve())
    os.environ["TENANTRY_AUTO_MIGRATE"] = "0"
    if request.workers > 1:
        from tenantry.metrics.multiprocess import prepare_directory

        # Before the workers start: each writes its metrics there, and a scrape sums them. Emptied
        # now, so the counters of a previous run do not add to this one's.
        prepare_directory()
    sock = bind(request.host, request.port)
    options = NodeOptions(host=request.host, port=request.port, workers=request.workers, migrate=request.migrate)
    return options, sock


def become_node(path: Path, request: ServeRequest) -> NoReturn:
    """``prepare_node``, then replace this process with the node (``python -m tenantry.server``): for
    a process that has loaded the command line. Raises ``OSError`` as ``prepare_node`` does."""
    options, sock = prepare_node(path, request)
    # The node imports the app once, and checks the settings and the database beside building it
    # (``tenantry.server.check``): this process imports neither, and is replaced now.
    sys.stdout.flush()
    sys.stderr.flush()
    argv = exec_argv(options, sock)
    os.execv(argv[0], argv)  # noqa: S606 - this interpreter, our own module, no shell involved


class _NotPlain(Exception):
    """The command line is not one the quick path reads: the Typer command answers it."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _NotPlain(message)


def _within(kind: type[int] | type[float], low: float, high: float = float("inf")) -> Callable[[str], int | float]:
    """An option's type: a ``kind`` from ``low`` to ``high`` (else the command explains the bounds)."""

    def convert(text: str) -> int | float:
        value = kind(text)
        if not low <= value <= high:
            raise ValueError(text)
        return value

    return convert


def parser() -> argparse.ArgumentParser:
    """The options of ``tenantry serve`` as the quick path reads them (no help: ``--help`` is Typer's)."""
    p = _Parser(prog="tenantry serve", add_help=False, allow_abbrev=False)
    p.add_argument("--schema", "-s", type=Path, default=None)
    p.add_argument("--host", default=ServeRequest.host)
    p.add_argument("--port", type=_within(int, 0, 65535), default=ServeRequest.port)
    p.add_argument("--workers", type=_within(int, 1), default=ServeRequest.workers)
    p.add_argument("--grace", type=_within(float, 0), default=None)
    p.add_argument("--migrate", action="store_true")
    p.add_argument("--proxy-headers", dest="proxy_headers", action="store_true", default=True)
    p.add_argument("--no-proxy-headers", dest="proxy_headers", action="store_false")
    return p


def read_plain(argv: Sequence[str]) -> ServeRequest | None:
    """``serve``'s options from ``argv`` (what follows ``serve``), or None when the quick path does not
    read this command line."""
    try:
        args = parser().parse_args(list(argv))
    except (_NotPlain, ValueError):
        return None
    return ServeRequest(**vars(args))


def quick_serve(argv: Sequence[str]) -> None:
    """Become the node for a plain ``tenantry serve`` command line (``argv``: what follows ``serve``);
    return, having changed nothing that matters, when the Typer command should answer instead."""
    request = read_plain(argv)
    if request is None:
        return
    # Modules load, nothing else: collections among them would find nothing to free.
    gc.disable()
    try:
        from tenantry.billing.plans import billing_config
        from tenantry.schema import find_schema_file, load_schema

        path = find_schema_file(request.schema)
        if path is None:  # the command says where it looked
            return
        try:
            billing_config(load_schema(path))
        except Exception:  # the command prints every problem, with file and line
            return
        try:
            options, sock = prepare_node(path, request)
        except OSError:  # the command says why it cannot listen
            return
    finally:
        gc.enable()
    # Not replaced by ``python -m tenantry.server`` as the command is: a new interpreter would
    # import again what this one holds (the schema's modules, which a worker needs too).
    raise SystemExit(run_node(options, sock))
