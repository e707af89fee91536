"""The generated Python client: ``mypy --strict`` clean for the seed's schema and the typed one
(with usages it must refuse), and every operation, blocking and awaited, against a live server on
each database."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tenantry.clients import write_client
from tests.clients.conftest import sign_up
from tests.clients.schemas import typed_schema
from tests.conftest import seed_schema

HERE = Path(__file__).resolve().parent
CHECKED = ("saas_client", "typed_client", "seed_usage.py", "typed_usage.py")

# The seed's own calling shape, typed: what lib/api-client.ts's callers write, in Python.
SEED_USAGE = """
from saas_client import Client, Organization, Project


def seed_calls(api: Client, org_id: str) -> list[Project]:
    org: Organization = api.organizations.create({"name": "Acme Corp", "slug": "acme"})
    api.projects.create({"name": "Apollo", "description": None})
    api.projects.update(org["id"], {"status": "archived"})
    api.projects.update(org["id"], {"status": "done"})  # type: ignore[typeddict-item]
    api.organizations.create({"name": "no slug"})  # type: ignore[typeddict-item]
    return api.projects.list(org_id)
"""


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with both generated packages and the usage files."""
    root = tmp_path_factory.mktemp("python-clients")
    write_client(seed_schema(), "python", root / "saas_client")
    write_client(typed_schema(), "python", root / "typed_client")
    shutil.copy(HERE / "python_usage.py", root / "typed_usage.py")
    (root / "seed_usage.py").write_text(SEED_USAGE, encoding="utf-8")
    return root


@pytest.mark.slow(10)
def test_mypy_strict(packages: Path) -> None:
    """One mypy run over both packages and both usage files; unused ignores count as errors."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", "/dev/null", "--no-incremental", *CHECKED],
        cwd=packages,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found in 10 source files" in result.stdout, result.stdout


def usage(packages: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(packages))
    return importlib.import_module("typed_usage")


def test_sync_client(server: str, packages: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    account = sign_up(server, "py-sync")
    usage(packages, monkeypatch).run_sync(server, account.token, account.org_id, account.user_id)


async def test_async_client(server: str, packages: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    account = sign_up(server, "py-async")
    await usage(packages, monkeypatch).run_async(server, account.token, account.org_id)
