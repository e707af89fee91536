"""The typed clients in development: ``/api/client.ts`` serves the current schema's TypeScript client
(never in production), ``tenantry client`` writes the packages, and the app ``tenantry dev`` builds
on every reload (``app_from_env``) writes the ``--client`` packages again when the schema changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tenantry.app import app_from_env
from tenantry.cli import app as cli
from tenantry.clients import typescript_module
from tenantry.mail import MailSettings
from tests.conftest import SEED_SCHEMA_PATH, ClientFactory, seed_schema


# The route does not touch the database: SQLite alone.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_client_ts_in_development_only(make_client: ClientFactory) -> None:
    async with make_client() as client:
        r = await client.get("/api/client.ts")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/typescript")
        assert r.text == typescript_module(seed_schema())
        assert "export interface ProjectCreate {" in r.text
    mail = MailSettings(TENANTRY_MAIL_BACKEND="file", TENANTRY_MAIL_FILE=os.devnull)
    async with make_client(mail=mail, TENANTRY_ENV="production", TENANTRY_SECRET="s" * 40) as client:
        r = await client.get("/api/client.ts")
        assert (r.status_code, r.json()["code"]) == (404, "ROUTE_NOT_FOUND")


def test_client_command_and_reload_regeneration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = CliRunner().invoke(
        cli, ["client", "python", "-o", str(tmp_path / "saas_py"), "--schema", str(SEED_SCHEMA_PATH)]
    )
    assert made.exit_code == 0, made.output
    assert "Python client" in made.output and "(5 files written)" in " ".join(made.output.split())
    assert (tmp_path / "saas_py" / "models.py").is_file()
    refused = CliRunner().invoke(cli, ["client", "java", "-o", str(tmp_path), "--schema", str(SEED_SCHEMA_PATH)])
    assert refused.exit_code == 2

    # What `tenantry dev --client typescript:DIR` leaves its reloading workers: the schema and the clients.
    schema = tmp_path / "schema.yaml"
    schema.write_text("notes:\n  - title: string (required)\n", encoding="utf-8")
    out = tmp_path / "web" / "api"
    monkeypatch.setenv("TENANTRY_SCHEMA", str(schema))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'dev.db'}")
    monkeypatch.setenv("TENANTRY_DEV_CLIENTS", f"typescript:{out}")
    app_from_env()
    first = (out / "index.ts").read_text(encoding="utf-8")
    assert "export interface Note {" in first and "priority" not in first
    stamp = (out / "index.ts").stat().st_mtime_ns
    app_from_env()  # a reload without a schema change leaves the files alone (no new reload)
    assert (out / "index.ts").stat().st_mtime_ns == stamp
    schema.write_text("notes:\n  - title: string (required)\n  - priority: integer\n", encoding="utf-8")
    app_from_env()
    assert "  priority?: number | null;" in (out / "index.ts").read_text(encoding="utf-8")
