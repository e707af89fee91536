"""``python -m tenantry.server``: the node process the ``tenantry serve`` command replaces itself with.

The command (Typer's, see ``tenantry.server.command``) reads the schema file and binds the listening
socket, then ``exec``s this module with the socket's descriptor, so the process that serves (one
worker) or supervises (several) starts from a fresh interpreter without the command line: a
supervisor imports only ``tenantry.server``, and each worker only what the app needs, once. A
plain ``tenantry serve``, which loads no command line library, runs ``run_node`` in place. The
settings and the database are checked beside the app being built (``tenantry.server.check``).
The process id stays the same either way, so a container runtime's or a test's SIGTERM reaches
the node.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence

from tenantry.server.node import NodeOptions, serve_node


def parse(argv: Sequence[str]) -> tuple[NodeOptions, int]:
    """The node's options and the inherited listening socket's descriptor, from ``argv``."""
    parser = argparse.ArgumentParser(prog="python -m tenantry.server", description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="descriptor of the bound, listening socket")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--migrate", action="store_true", help="apply pending migrations before serving")
    args = parser.parse_args(argv)
    options = NodeOptions(host=args.host, port=args.port, workers=args.workers, migrate=args.migrate)
    return options, args.fd


def exec_argv(options: NodeOptions, sock: socket.socket) -> list[str]:
    """The command line that runs this module on ``sock`` (which must be inheritable)."""
    return [
        sys.executable,
        "-m",
        "tenantry.server",
        f"--fd={sock.fileno()}",
        f"--host={options.host}",
        f"--port={options.port}",
        f"--workers={options.workers}",
        *(["--migrate"] if options.migrate else []),
    ]


def run_node(options: NodeOptions, sock: socket.socket) -> int:
    """Serve ``sock`` as the node until SIGTERM/SIGINT; the exit status of ``serve_node``."""
    sock.set_inheritable(True)  # the workers of a supervisor are given it
    try:
        return serve_node(options, sock)
    except KeyboardInterrupt:
        # Ctrl-C while the app is still loading: nothing was served, nothing to report (once it
        # serves, SIGINT stops the node gracefully). 130: the shell's status for a SIGINT.
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the inherited socket until SIGTERM/SIGINT; the exit status of ``serve_node``."""
    options, fd = parse(sys.argv[1:] if argv is None else argv)
    return run_node(options, socket.socket(fileno=fd))


if __name__ == "__main__":
    raise SystemExit(main())
