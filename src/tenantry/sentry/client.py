"""The Sentry SDK's client for one app: built with Tenantry's rules, installed and removed cleanly.

The SDK is global to the process (one client, integrations patched once into Starlette and
logging). ``start_client`` builds a client and makes it the process's; ``stop_client`` flushes
and closes it and, if it is still the process's, puts back the SDK's inert client, so another app
in the same process (tests run many) is not reported for. Tracing stays off: traces are
OpenTelemetry's job.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.dedupe import DedupeIntegration
from sentry_sdk.integrations.logging import LoggingIntegration, ignore_logger
from sentry_sdk.integrations.starlette import StarletteIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber
from sentry_sdk.transport import Transport

from tenantry.core.faults import is_known_fault
from tenantry.sentry.scrub import scrub_event

# The API's error handler logs every 500 with its traceback; the Starlette integration reports the
# same exception with the request's context, so the log line must not become a second event.
HTTP_LOGGER = "tenantry.http"
# The access line of a request answered 500 is logged at ERROR: the same failure again, without the
# exception (the logs capability writes it; the name is the contract, not an import).
ACCESS_LOGGER = "tenantry.access"
# The outbox logs each delivery it gives up on (without the exception); the failure listener
# reports it with the exception and the delivery's context instead.
OUTBOX_LOGGER = "tenantry.events"

# Sentry's scrubber also runs (on request, user, extra and breadcrumbs) with more names of ours.
DENYLIST = [*DEFAULT_DENYLIST, "x_api_key", "x-api-key", "api-key", "apikey", "otp", "code", "backup_codes"]


def default_release() -> str:
    """``tenantry@<version>``: the installed package's version, or the source's."""
    try:
        return f"tenantry@{version('tenantry')}"
    except PackageNotFoundError:
        from tenantry import __version__

        return f"tenantry@{__version__}"


def _before_send(event: Any, hint: Any) -> Any:
    exc_info = hint.get("exc_info") if isinstance(hint, dict) else None
    if exc_info and isinstance(exc_info[1], BaseException) and is_known_fault(exc_info[1]):
        return None  # a database outage or a client gone: counted and logged, no bug to track
    record = hint.get("log_record") if isinstance(hint, dict) else None
    if isinstance(record, logging.LogRecord) and record.name == OUTBOX_LOGGER and record.exc_info is None:
        return None  # a gave-up line: reported by the failure listener, with its exception
    return scrub_event(event, hint)


def start_client(
    *, dsn: str | None, environment: str, release: str, sample_rate: float, transport: Transport | None = None
) -> sentry_sdk.Client:
    """A client with Tenantry's options, made the process's client (replacing any other)."""
    options: dict[str, Any] = {
        "dsn": dsn,
        "environment": environment,
        "release": release,
        "sample_rate": sample_rate,
        # Errors only: no transactions, no profiles (traces are OpenTelemetry's).
        "traces_sample_rate": None,
        "profiles_sample_rate": None,
        # Never a body or a frame's variables. ``send_default_pii`` stays unset, which is off (and
        # deprecated in newer SDKs): no client address, cookies or user fields are collected.
        "max_request_body_size": "never",
        "include_local_variables": False,
        "event_scrubber": EventScrubber(denylist=DENYLIST, recursive=True),
        "before_send": _before_send,
        # No release-health sessions: a server's requests are not user sessions, and counting each
        # one costs every request a session object (errors, which is what is tracked, are unaffected).
        "auto_session_tracking": False,
        # Only what is listed: no integration turns itself on because a library is installed.
        "default_integrations": False,
        "auto_enabling_integrations": False,
        "integrations": [
            # No HTTP method starts a transaction: tracing is off, yet the integration would
            # still build one per request (trace headers parsed, a sampling decision made), which
            # cost more than the rest of its work. Errors are reported as before.
            StarletteIntegration(transaction_style="url", middleware_spans=False, http_methods_to_capture=()),
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
            DedupeIntegration(),
        ],
    }
    if transport is not None:
        options["transport"] = transport
        # Kept in memory: no health-check thread.
        options["enable_backpressure_handling"] = False
    client = sentry_sdk.Client(**options)
    ignore_logger(HTTP_LOGGER)
    ignore_logger(ACCESS_LOGGER)
    sentry_sdk.get_global_scope().set_client(client)
    return client


def is_current(client: sentry_sdk.Client | None) -> bool:
    """Whether ``client`` is the process's client (another app started since has replaced it)."""
    return client is not None and sentry_sdk.get_client() is client


def stop_client(client: sentry_sdk.Client, timeout: float = 2.0) -> None:
    """Send what is queued (within ``timeout`` seconds), close ``client``, and unset it if it is the process's."""
    try:
        client.flush(timeout=timeout)
    finally:
        if sentry_sdk.get_global_scope().client is client:
            sentry_sdk.get_global_scope().set_client(None)
        client.close(timeout=timeout)
