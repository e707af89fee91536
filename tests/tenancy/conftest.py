"""Reporting for the tenant isolation property test: how many operations ran, on which database.

The issue asks for the operation count in CI's output. ``pytest`` hides a passing test's output
unless run with ``-s``, so the test records each run in the session's stash and this plugin prints
them in the terminal summary (always shown) and writes them to ``artifacts/isolation-ops.txt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPORT_PATH = ROOT / "artifacts" / "isolation-ops.txt"


@dataclass(frozen=True)
class IsolationRun:
    """One database's run of the property test."""

    database: str
    operations: int
    requests: int
    examples: int
    seconds: float

    def line(self) -> str:
        return (
            f"{self.database}: {self.operations} operations ({self.requests} HTTP requests, "
            f"{self.examples} sequences) in {self.seconds:.1f} s"
        )


ISOLATION_RUNS = pytest.StashKey[list[IsolationRun]]()


@pytest.fixture
def isolation_runs(pytestconfig: pytest.Config) -> list[IsolationRun]:
    """Where a run of the isolation test records its counts (shared by the whole session)."""
    return pytestconfig.stash.setdefault(ISOLATION_RUNS, [])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    runs = config.stash.get(ISOLATION_RUNS, [])
    if not runs:
        return
    total = sum(run.operations for run in runs)
    lines = [run.line() for run in runs] + [f"total: {total} isolation operations"]
    terminalreporter.write_sep("-", "tenant isolation property test")
    for line in lines:
        terminalreporter.write_line(line)
    REPORT_PATH.parent.mkdir(exist_ok=True)
    REPORT_PATH.write_text("\n".join(lines) + "\n")
