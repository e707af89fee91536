"""What a capability's command-line commands get from ``tenantry`` (``Capability.commands``)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.console import Console

    from tenantry.core.app import App


class CommandHost(Protocol):
    """The command line, as a capability's commands see it."""

    @property
    def console(self) -> Console:
        """Where results go (standard output)."""
        ...

    @property
    def err(self) -> Console:
        """Where problems go (standard error)."""
        ...

    def running_app(self, schema: Path | None) -> AbstractAsyncContextManager[App]:
        """The configured app with its database open (not serving): ``async with host.running_app(path) as app``.

        Exits the command with a clear message when the schema or the settings are wrong.
        """
        ...
