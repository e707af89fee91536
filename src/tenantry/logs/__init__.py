"""Logs: structured JSON lines in production, a readable console in development, one request id throughout.

``Logs`` configures structlog and the standard library's ``logging`` once (``setup``), puts the
request-id middleware outermost (``middleware``: the id, its response header, one access line per
request) and listens for each request's principal (the user and organization ids on its lines).
Secrets are redacted from every line (``redact``). Settings: ``LogSettings``
(``TENANTRY_LOG_LEVEL``, ``TENANTRY_LOG_FORMAT``, ``TENANTRY_ACCESS_LOG``,
``TENANTRY_LOG_FLUSH_INTERVAL``).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware import Middleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from tenantry.auth import Authentication
from tenantry.core import App, Capability
from tenantry.logs.middleware import RequestLogging, new_request_id, principal_fields
from tenantry.logs.redact import REDACTED, redact_secrets, redact_text
from tenantry.logs.settings import LogFormat, LogSettings
from tenantry.logs.setup import configure_logging

__all__ = [
    "REDACTED",
    "LogSettings",
    "Logs",
    "RequestLogging",
    "configure_logging",
    "new_request_id",
    "redact_secrets",
    "redact_text",
]


class Logs(Capability):
    """Structured logs with a request id; first in the list, so its middleware is the outermost."""

    name = "logs"
    settings_model = LogSettings

    def __init__(self, settings: LogSettings) -> None:
        self.settings = settings
        # No proxy is trusted unless authentication's settings name one (TENANTRY_TRUSTED_PROXIES).
        self.trusted_proxies: tuple[str, ...] = ()

    @property
    def format(self) -> LogFormat:
        """The format in effect (set, or chosen by ``TENANTRY_ENV`` at ``install``)."""
        return self._format

    def install(self, app: App) -> None:
        self._format: LogFormat = self.settings.format or ("json" if app.settings.env == "production" else "console")
        interval = self.settings.flush_interval
        if interval is None:
            interval = 0.2 if app.settings.env == "production" else 0.0
        self.handler = configure_logging(self.settings.level, self._format, flush_interval=interval)
        # One list of trusted proxies for the whole app: authentication's (TENANTRY_TRUSTED_PROXIES).
        auth = app.find(Authentication)
        if auth is not None:
            self.trusted_proxies = tuple(auth.settings.trusted_proxies)
        app.principal_listeners.append(principal_fields)

    async def shutdown(self) -> None:
        self.handler.flush()  # the access lines that still wait

    def middleware(self) -> Sequence[Middleware]:
        logging_ = Middleware(
            RequestLogging,
            trusted_proxies=self.trusted_proxies,
            access_log=self.settings.access_log,
            write_line=self.handler.write_line,
        )
        if not self.trusted_proxies:
            return [logging_]
        # The trusted proxies' X-Forwarded-For and -Proto name the client and scheme (uvicorn's
        # middleware, in the app rather than the server: the request id is chosen before it, while
        # the proxy is still the peer and its X-Request-ID can be believed).
        return [logging_, Middleware(ProxyHeadersMiddleware, trusted_hosts=list(self.trusted_proxies))]
