"""The metrics every part of Tenantry records, defined once (Prometheus, ``prometheus-client``).

Capabilities increment these where things happen (mail when a message is sent, authentication
when someone signs in, realtime when a socket connects) without knowing how they are exposed; the
``metrics`` capability serves them at ``/metrics``. Nothing here does I/O: an increment is a lock
and an addition (a write to a memory-mapped file when ``PROMETHEUS_MULTIPROC_DIR`` is set, which
``tenantry serve`` does for its worker processes).

Labels never carry user data: route templates rather than paths, rule names, sign-in methods and
backend names, all from small fixed sets. Never label with an id, an address or a path.

Gauges of a process (connections in use, sockets) use ``livesum``: a scrape adds up the live
processes, and the files of a dead one are dropped (see ``tenantry.metrics.multiprocess``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# -- HTTP ------------------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "tenantry_http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
# Buckets from 5 ms to 10 s: API answers are expected in milliseconds, a slow page in seconds.
HTTP_DURATION = Histogram(
    "tenantry_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by route template and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_FAILURES = Counter(
    "tenantry_http_failures",
    "Requests that failed through no fault of what the client sent, by kind: internal_error (a bug, "
    "answered 500), database_unavailable (answered 503), client_disconnected (gone mid-request).",
    ["kind"],
)
# The one route label of a path no route matched (scanners would otherwise fill the label set).
UNMATCHED_ROUTE = "<unmatched>"

# -- database pool ---------------------------------------------------------------------------------

DB_POOL_CONNECTIONS = Gauge(
    "tenantry_db_pool_connections",
    "Connections the pool holds open.",
    multiprocess_mode="livesum",
)
DB_POOL_MAX_CONNECTIONS = Gauge(
    "tenantry_db_pool_max_connections",
    "Connections the pool may open (TENANTRY_DB_POOL_SIZE; at most 4 on SQLite).",
    multiprocess_mode="livesum",
)
DB_POOL_IN_USE = Gauge(
    "tenantry_db_pool_connections_in_use",
    "Connections handed out and not yet given back.",
    multiprocess_mode="livesum",
)
DB_POOL_WAITS = Counter(
    "tenantry_db_pool_waits",
    "Acquisitions that found every connection in use and had to queue for one.",
)
DB_POOL_WAIT_SECONDS = Counter(
    "tenantry_db_pool_wait_seconds",
    "Time spent queueing for a connection, in total.",
)

# -- mail, realtime, authentication --------------------------------------------------------------

MAIL_SENT = Counter("tenantry_mail_sent", "Messages the mail backend accepted, by backend.", ["backend"])
MAIL_FAILURES = Counter(
    "tenantry_mail_failures",
    "Attempts to send a message that failed, by backend and kind "
    "(transient: retried; timeout: no answer in time, retried; permanent: given up).",
    ["backend", "kind"],
)
SOCKETS_CONNECTED = Gauge(
    "tenantry_realtime_sockets_connected",
    "Socket.IO clients connected and authenticated.",
    multiprocess_mode="livesum",
)
RATE_LIMIT_REFUSALS = Counter(
    "tenantry_rate_limit_refusals",
    "Requests refused by a rate limit (429), by rule (the action prefix, or 'default').",
    ["rule"],
)
SIGN_INS = Counter(
    "tenantry_sign_ins",
    "Sessions created by a sign-in, by method (email, magic-link, passkey, two-factor, an OAuth provider's id).",
    ["method"],
)
SIGN_IN_FAILURES = Counter(
    "tenantry_sign_in_failures",
    "Sign-in attempts refused, by method and reason (a stable error code).",
    ["method", "reason"],
)
