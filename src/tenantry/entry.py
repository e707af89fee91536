"""The ``tenantry`` executable: a plain ``tenantry serve`` starts without Typer, every other command
goes through the command line (``tenantry.cli``). See ``tenantry.server.command`` for why."""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point."""
    if sys.argv[1:2] == ["serve"]:
        from tenantry.server.command import quick_serve

        quick_serve(sys.argv[2:])  # returns only when the command should answer instead
    from tenantry.cli import main as command_line

    command_line()
