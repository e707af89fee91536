"""Both servers on real ports for the end-to-end billing tests: the app, and the Stripe emulator it calls."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from starlette.types import ASGIApp

from tenantry.app import app_tables, create_app
from tenantry.config import Settings
from tenantry.db import create_database
from tenantry.emulators.server import RunningServer, bind_socket, format_base_url, run_in_thread
from tenantry.emulators.stripe import StripeEmulator
from tenantry.schema import load_schema_text
from tests.auth.helpers import BASE, NO_VERIFICATION
from tests.billing.helpers import PRICE_PRO, PRICE_PRO_YEARLY, SECRET, billing_schema, stripe
from tests.conftest import PrepareDatabase


class Servers:
    def __init__(self, app: RunningServer, stripe: RunningServer, emulator: StripeEmulator, db_url: str) -> None:
        self.app = app
        self.stripe = stripe
        self.emulator = emulator
        self.db_url = db_url

    async def verify_email(self, user_id: str) -> None:
        """Mark a user's address verified (invitations need it) on the app's database."""
        db = create_database(self.db_url)
        await db.open()
        try:
            async with db.transaction() as conn:
                if db.dialect_name == "postgresql":
                    await conn.execute("UPDATE users SET email_verified = true WHERE id = $1", [uuid.UUID(user_id)])
                else:
                    await conn.execute("UPDATE users SET email_verified = 1 WHERE id = ?", [user_id])
        finally:
            await db.close()


@contextmanager
def live_servers(
    prepare_database: PrepareDatabase,
    monkeypatch: pytest.MonkeyPatch,
    settings_text: str | None = None,
    wrap_stripe: Callable[[ASGIApp], ASGIApp] | None = None,
) -> Iterator[Servers]:
    """The app (with billing settings ``settings_text``) and the emulator, each on a real port.

    ``wrap_stripe``: middleware in front of the emulator (a Stripe that fails some requests).
    """
    app_sock, stripe_sock = bind_socket(), bind_socket()
    app_url = format_base_url(*app_sock.getsockname()[:2])
    stripe_url = format_base_url(*stripe_sock.getsockname()[:2])
    emulator = StripeEmulator(
        webhook_url=f"{app_url}/api/billing/webhook",
        webhook_secret=SECRET,
        prices={PRICE_PRO: 1500, PRICE_PRO_YEARLY: 15000},
        base_url=stripe_url,
    )
    billing = stripe(SECRET, secret_key="sk_test_checkout_flow", api_base=stripe_url)
    schema = load_schema_text(billing_schema(settings_text) if settings_text else billing_schema(), "test.yaml")
    settings = Settings(TENANTRY_BASE_URL=BASE, auth=NO_VERIFICATION, billing=billing)
    database_url = prepare_database(app_tables(schema, settings, prepare_database.dialect))
    settings = settings.model_copy(update={"database_url": database_url})
    stripe_server = run_in_thread(wrap_stripe(emulator) if wrap_stripe else emulator, sock=stripe_sock)
    app_server = run_in_thread(create_app(schema, settings), sock=app_sock)
    try:
        yield Servers(app_server, stripe_server, emulator, database_url)
    finally:
        app_server.stop()
        stripe_server.stop()
