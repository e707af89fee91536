"""Fixtures of the database tests: an empty database of each kind, and a project folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL, require_service
from tests.databases import PostgresDatabases


def fresh_postgres(postgres_databases: PostgresDatabases | None) -> str:
    """A new PostgreSQL database (the test fails under CI, or is skipped, without a server)."""
    if postgres_databases is None:
        require_service("PostgreSQL", f"cannot connect to {PG_ADMIN_URL}")
    assert postgres_databases is not None
    return postgres_databases.fresh()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_databases: PostgresDatabases | None) -> str:
    """A URL of an empty database of each kind: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return fresh_postgres(postgres_databases)


@pytest.fixture
def pg_url(postgres_databases: PostgresDatabases | None) -> str:
    """A URL of an empty PostgreSQL database, for what only PostgreSQL does."""
    return fresh_postgres(postgres_databases)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project folder (its migrations are made in it)."""
    path = tmp_path / "project"
    path.mkdir()
    return path
