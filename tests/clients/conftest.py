"""One live server per database for the typed clients' tests: the typed schema (tests/clients/schemas.py)
with authentication (no e-mail verification, so sign-up signs in) and API keys."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tenantry.app import app_tables, create_app
from tenantry.auth import AuthSettings
from tenantry.config import Settings
from tenantry.emulators.server import run_in_thread
from tests.clients.schemas import typed_schema
from tests.conftest import PG_ADMIN_URL, require_service
from tests.databases import PostgresDatabases, SqliteTemplates
from tests.live_server import reserve

PASSWORD = "Password-One-111"


@pytest.fixture(scope="package", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases | None,
    sqlite_templates: SqliteTemplates,
) -> Iterator[str]:
    """The base URL of a server of the typed schema on each database, shared by the package's tests."""
    schema = typed_schema()
    sock, base = reserve()
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, plugins=["api-key"])
    settings = Settings(TENANTRY_BASE_URL=base, TENANTRY_OPEN_API=False, auth=auth)
    if request.param == "sqlite":
        tables = app_tables(schema, settings, "sqlite")
        path = tmp_path_factory.mktemp("clients") / "typed.db"
        sqlite_templates.copy_to(tables, path)
        url = f"sqlite:///{path}"
    else:
        if postgres_databases is None:
            require_service("PostgreSQL", f"cannot connect to {PG_ADMIN_URL}")
        assert postgres_databases is not None
        url = postgres_databases.clone_for(app_tables(schema, settings, "postgresql"))
    settings = settings.model_copy(update={"database_url": url})
    with run_in_thread(create_app(schema, settings), sock=sock):
        yield base


@dataclass(frozen=True)
class Account:
    """A user signed up with an organization of their own: the session token and the ids."""

    token: str
    user_id: str
    org_id: str


def sign_up(base: str, name: str = "client") -> Account:
    """Sign a new user up with an organization (``organizationName``); sign-up signs them in."""
    email = f"{name}-{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": email, "password": PASSWORD, "name": name, "organizationName": f"{name} Inc"}
    with httpx.Client(base_url=base, headers={"origin": base}) as http:
        r = http.post("/api/auth/sign-up/email", json=body)
        assert r.status_code == 200, r.text
        token = r.headers["set-auth-token"]
        session = http.get("/api/auth/get-session", headers={"authorization": f"Bearer {token}"}).json()
    return Account(token, session["user"]["id"], session["session"]["activeOrganizationId"])
