"""Reporting for the tenant isolation property test: how many operations ran, on which database.

The issue asks for the operation count in CI's output. ``pytest`` hides a passing test's output
unless run with ``-s``, so the test records each run on its report (``user_properties``, which
pytest-xdist carries from the worker that ran the test to the process that reports), and the
hooks of ``tests/conftest.py`` print them in the terminal summary (always shown) and write them to
``artifacts/isolation-ops.txt``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
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


REPORT_PROPERTY = "tenant_isolation_run"


@pytest.fixture
def isolation_runs(request: pytest.FixtureRequest) -> Iterator[list[IsolationRun]]:
    """Where a run of the isolation test records its counts (put on the test's report afterwards)."""
    runs: list[IsolationRun] = []
    yield runs
    request.node.user_properties.extend((REPORT_PROPERTY, json.dumps(asdict(run))) for run in runs)


def runs_of(report: pytest.TestReport) -> list[IsolationRun]:
    """The isolation runs a test's teardown report carries."""
    if report.when != "teardown":
        return []
    return [IsolationRun(**json.loads(value)) for name, value in report.user_properties if name == REPORT_PROPERTY]


def write_summary(terminalreporter: pytest.TerminalReporter, runs: list[IsolationRun]) -> None:
    """Print the runs in the terminal summary and write them to ``artifacts/isolation-ops.txt``."""
    if not runs:
        return
    total = sum(run.operations for run in runs)
    lines = [run.line() for run in runs] + [f"total: {total} isolation operations"]
    terminalreporter.write_sep("-", "tenant isolation property test")
    for line in lines:
        terminalreporter.write_line(line)
    REPORT_PATH.parent.mkdir(exist_ok=True)
    REPORT_PATH.write_text("\n".join(lines) + "\n")
