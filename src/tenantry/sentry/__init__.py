"""Error tracking, as the seed's Sentry: unexpected errors of requests and background work reported
with the official ``sentry-sdk``.

With ``SENTRY_DSN`` set, the process's SDK client is started with the app (``startup``) and closed
with it (``shutdown``): the Starlette integration reports every exception a request raises
(including those the app answers with a 500: its error handler re-raises them to the integration),
never an ``ApiError`` (a 4xx answer is the client's mistake); the logging integration reports
``log.exception``/``log.error`` lines of background workers; the outbox's failure listener reports
failed deliveries (``labels.report_delivery_failure`` says when). Each report carries the release,
the environment, the user id and the organization id (a principal listener labels the request's
scope), and nothing of a request's body, cookies, credentials or secret query parameters
(``scrub``). Tracing is off: traces are OpenTelemetry's.

In development without a DSN the same reports are kept in memory (``local``) and listed at
``/dev/errors`` (``routes``); in production without a DSN nothing is started at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.routing import BaseRoute

from tenantry.context import Principal
from tenantry.core import App, Capability
from tenantry.events import DeliveryFailure
from tenantry.sentry.settings import SentrySettings

if TYPE_CHECKING:
    import sentry_sdk

    from tenantry.sentry.local import ErrorLog

__all__ = ["ErrorTracking", "SentrySettings"]


class ErrorTracking(Capability):
    """Reports unexpected errors to Sentry (``SENTRY_DSN``), or keeps them for ``/dev/errors`` in development."""

    name = "sentry"
    settings_model = SentrySettings

    def __init__(self, settings: SentrySettings) -> None:
        self.settings = settings
        self.log: ErrorLog | None = None  # errors kept locally (development without a DSN)
        self.client: sentry_sdk.Client | None = None
        self._environment = "development"
        self._active = False
        self._routes: list[BaseRoute] = []

    @property
    def reporting(self) -> bool:
        """Whether errors are sent to Sentry (a DSN is set)."""
        return self.settings.dsn is not None

    def install(self, app: App) -> None:
        self._environment = self.settings.environment or app.settings.env
        local = self.settings.dsn is None and app.settings.is_development and self.settings.dev_errors
        self._active = self.reporting or local
        if not self._active:
            return
        # The SDK is imported only by an app that uses it (it costs start-up time in every process).
        if local:
            from tenantry.sentry.local import ErrorLog
            from tenantry.sentry.routes import error_routes

            self.log = ErrorLog()
            self._routes = error_routes(self.log)
        import tenantry.sentry.labels  # noqa: F401 - the listeners' module, loaded once here

        app.principal_listeners.append(self._label_principal)
        app.outbox.failure_listeners.append(self._report_delivery_failure)

    def routes(self) -> Sequence[BaseRoute]:
        return self._routes

    async def startup(self) -> None:
        if not self._active:
            return
        from tenantry.sentry.client import default_release, start_client
        from tenantry.sentry.local import LocalTransport

        self.client = start_client(
            dsn=self.settings.dsn,
            environment=self._environment,
            release=self.settings.release or default_release(),
            sample_rate=self.settings.sample_rate,
            transport=LocalTransport(self.log) if self.log is not None else None,
        )

    async def shutdown(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            from tenantry.sentry.client import stop_client

            # Flushing waits on the network: not on the event loop.
            await asyncio.to_thread(stop_client, client)

    # -- listeners: each does nothing unless this app's client is the process's ---------------------

    def _label_principal(self, request: Request, principal: Principal) -> None:
        from tenantry.sentry import labels  # imported at install already: a lookup

        if labels.is_current(self.client):
            labels.label_principal(request, principal)

    def _report_delivery_failure(self, failure: DeliveryFailure) -> None:
        from tenantry.sentry import labels

        if labels.is_current(self.client):
            labels.report_delivery_failure(failure)
