"""One OTLP receiver (the emulator on a real port) for the tracing tests, emptied before each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tenantry.emulators.otlp import OtlpEmulator
from tenantry.emulators.server import RunningServer, run_in_thread


@pytest.fixture(scope="session")
def _otlp_server() -> Iterator[tuple[OtlpEmulator, RunningServer]]:
    emulator = OtlpEmulator()
    with run_in_thread(emulator.app()) as server:
        yield emulator, server


@pytest.fixture
def otlp(_otlp_server: tuple[OtlpEmulator, RunningServer]) -> OtlpEmulator:
    emulator, _ = _otlp_server
    emulator.reset()
    return emulator


@pytest.fixture
def otlp_url(_otlp_server: tuple[OtlpEmulator, RunningServer]) -> str:
    return _otlp_server[1].base_url
