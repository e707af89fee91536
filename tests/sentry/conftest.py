"""A Sentry emulator on a real port, shared by the error-tracking tests (each starts with it emptied)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tenantry.emulators.sentry import SentryEmulator
from tenantry.emulators.server import RunningServer, run_in_thread


@pytest.fixture(scope="session")
def sentry_server() -> Iterator[tuple[SentryEmulator, RunningServer]]:
    emulator = SentryEmulator({"42": "public-key-of-project-42"})
    with run_in_thread(emulator) as server:
        yield emulator, server


@pytest.fixture
def sentry(sentry_server: tuple[SentryEmulator, RunningServer]) -> Iterator[tuple[SentryEmulator, str]]:
    """The emulator, emptied, and the DSN of its project."""
    emulator, server = sentry_server
    emulator.reset()
    yield emulator, emulator.dsn(server.base_url)
    emulator.reset()
