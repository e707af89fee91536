"""What each role's sockets receive follows the schema's permissions (real socket.io-client, both databases)."""

from __future__ import annotations

import textwrap

import pytest

from tenantry.app import app_tables, create_app
from tenantry.auth import AuthSettings
from tenantry.config import Settings
from tenantry.emulators.server import bind_socket, format_base_url, run_in_thread
from tenantry.realtime import RealtimeSettings
from tenantry.schema import load_schema_text
from tests.conftest import PrepareDatabase
from tests.realtime.test_socketio_client import node_ready, run_node

SCHEMA = textwrap.dedent(
    """\
    settings:
      roles: [admin, member, viewer]
    organizations:
      - name: string (required)
      - slug: string (unique, required)
    users:
      - email: string (unique, required)
      - name: string
    projects:
      fields:
        - name: string (required)
        - org_id: uuid (references organizations, required)
        - created_by: uuid (references users)
      permissions:
        admin: all
        member: [read, create]
        viewer: [read]
    secrets:
      fields:
        - name: string (required)
        - org_id: uuid (references organizations, required)
      permissions:
        admin: all
    notes:
      fields:
        - body: string (required)
        - org_id: uuid (references organizations, required)
        - created_by: uuid (references users)
      permissions:
        admin: all
        member: [read:own, create]
    """
)


def test_each_role_receives_what_it_may_read(
    prepare_database: PrepareDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    node_ready()
    realtime = RealtimeSettings(TENANTRY_REALTIME_RECHECK_SECONDS=600)  # role changes apply at once, not by the clock
    sock = bind_socket()
    base = format_base_url("127.0.0.1", sock.getsockname()[1])
    schema = load_schema_text(SCHEMA, "roles.yaml")
    auth = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_RATE_LIMIT="off")
    settings = Settings(TENANTRY_BASE_URL=base, TENANTRY_OPEN_API=False, auth=auth, realtime=realtime)
    database_url = prepare_database(app_tables(schema, settings, prepare_database.dialect))
    settings = settings.model_copy(update={"database_url": database_url})
    app = create_app(schema, settings)
    with run_in_thread(app, sock=sock):
        run_node("realtime-roles.test.mjs", {"BASE_URL": base})
