"""A Tenantry server on a real port for tests that drive it from outside the process (a Node
client suite, a browser): the seed schema on a database of its own (``prepare_database``), served
from a background thread."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from typer.testing import CliRunner

from tenantry.app import app_tables, create_app
from tenantry.auth import AuthSettings
from tenantry.cli import app as cli
from tenantry.config import Settings
from tenantry.emulators.server import bind_socket, format_base_url, run_in_thread
from tenantry.schema import Schema
from tests.conftest import SEED_SCHEMA_PATH, PrepareDatabase, seed_schema

Address = tuple[socket.socket, str]


def reserve(host: str = "127.0.0.1") -> Address:
    """A bound socket on a free port and the base URL it will serve, for a caller that must know
    the URL before the server starts (an identity provider's callback list)."""
    sock = bind_socket()
    return sock, format_base_url(host, sock.getsockname()[1])


@contextmanager
def live_server(
    prepare_database: PrepareDatabase,
    auth: AuthSettings | None = None,
    *,
    address: Address | None = None,
    host: str = "127.0.0.1",
    before_start: Callable[[str], object] | None = None,
    parts: Mapping[str, Any] | None = None,
    schema: Schema | None = None,
) -> Iterator[str]:
    """Serve ``schema`` (by default the seed's) with ``auth`` on a database from ``prepare_database``;
    yield the base URL.

    ``schema`` replaces the seed schema; ``parts`` replaces other parts of the settings by name
    (``{"analytics": AnalyticsSettings(...)}``).

    ``host`` names the server in its base URL (the socket is always bound to 127.0.0.1; passkeys
    need ``localhost``). ``before_start(database_url)`` runs once the tables exist and before the
    app starts.
    """
    sock, base = address or reserve(host)
    schema = schema or seed_schema()
    settings = Settings(TENANTRY_BASE_URL=base, TENANTRY_OPEN_API=False)
    if auth is not None:
        settings = settings.model_copy(update={"auth": auth})
    if parts:
        settings = settings.model_copy(update=dict(parts))
    # A plain call: Playwright's sync API may already run an event loop in this thread.
    database_url = prepare_database(app_tables(schema, settings, prepare_database.dialect))
    settings = settings.model_copy(update={"database_url": database_url})
    if before_start is not None:
        before_start(database_url)
    with run_in_thread(create_app(schema, settings), sock=sock):
        yield base


def create_superuser(database_url: str, email: str, password: str, name: str | None = None) -> None:
    """``tenantry admin create-superuser`` on ``database_url``, with every authentication plugin on."""
    args = ["admin", "create-superuser", "--email", email, "--password", password, "--schema", str(SEED_SCHEMA_PATH)]
    if name is not None:
        args += ["--name", name]
    env = {"DATABASE_URL": database_url, "TENANTRY_AUTH_PLUGINS": "admin,two-factor,magic-link,passkey,api-key"}
    # In a thread of its own: the command runs an event loop, and Playwright's may run in this one.
    with ThreadPoolExecutor(1) as pool:
        made = pool.submit(CliRunner().invoke, cli, args, env=env).result()
    assert made.exit_code == 0, made.output
