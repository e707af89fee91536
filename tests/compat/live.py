"""Running a Node client suite (``node --test``) against a live Tenantry server.

Without Node or the npm client the suite needs, a test is skipped locally and fails under
``CI=true`` (``require_service``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tests.conftest import require_service

HERE = Path(__file__).resolve().parent


def require_node(package: str = "better-auth") -> None:
    """Node.js on PATH and the npm ``package`` installed under tests/compat."""
    if shutil.which("node") is None:
        require_service("Node.js", "the `node` command is not on PATH")
    if not (HERE / "node_modules" / package).is_dir():
        require_service(f"the {package} npm client", "run `npm ci` in tests/compat (make test does)")


def run_node_suite(suite: str, base: str, *, passes: int | None, env: Mapping[str, str] | None = None) -> None:
    """Run tests/compat/``suite`` against the server at ``base`` and require every test to pass.

    ``passes`` is how many tests must have passed (``None``: at least one); ``env`` adds variables
    for the suite to the minimal environment (``BASE_URL`` and Node's directory on ``PATH``).
    """
    result = subprocess.run(
        ["node", "--test", "--test-reporter=spec", str(HERE / suite)],
        cwd=HERE,
        env={
            "BASE_URL": base,
            "PATH": str(Path(shutil.which("node") or "node").parent),
            "NODE_NO_WARNINGS": "1",
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Node's spec reporter ends with counters such as "fail 0" and "pass 3".
    assert re.search(r"\bfail 0\b", output), output
    if passes is None:
        assert not re.search(r"\bpass 0\b", output), output
    else:
        assert re.search(rf"\bpass {passes}\b", output), output
