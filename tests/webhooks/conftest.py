"""Fixtures of the webhook tests: one receiving server for the session, a clock the tests move."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.webhooks.receiver import Receiver, serve_receiver


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    """A real HTTP server recording what it receives (each test takes its own ``inbox()``)."""
    yield from serve_receiver()
