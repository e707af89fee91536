"""``tenantry check --deploy``: the settings that are unsafe in production, each with how to fix it.

Django's ``check --deploy`` is the model: every problem has a stable id, a level, what is wrong and
what to do. ``error``: serious (the command exits 1; a deploy pipeline stops there); ``warning``:
worth a look. The checks read the whole configuration (``tenantry.config.Settings``), so this module
belongs with the command line, not with any capability.

Some of these are refused by ``tenantry serve`` itself (a short secret, the development mail
outbox, an open API); they are listed here too, so that one run shows everything at once.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from tenantry.config import DEV_SECRET, Settings

Level = Literal["error", "warning"]

MIN_SECRET_LENGTH = 32
# A secret of fewer distinct characters is a placeholder ("x" * 40), not a random value.
MIN_SECRET_DISTINCT = 12
MIN_METRICS_TOKEN_LENGTH = 16
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "::"})  # noqa: S104 - names, not binds


@dataclass(frozen=True)
class Problem:
    """One unsafe setting: ``id`` (stable, e.g. ``secret.short``), ``level``, what is wrong, how to fix it."""

    id: str
    level: Level
    message: str
    fix: str

    @property
    def serious(self) -> bool:
        return self.level == "error"


def deploy_problems(settings: Settings, *, workers: int = 1, declared_env: str | None = None) -> list[Problem]:
    """Every unsafe production setting of ``settings`` for a deploy of ``workers`` processes per node.

    ``declared_env``: ``TENANTRY_ENV`` as the environment sets it (``tenantry serve`` makes an unset
    one production); ``settings`` may have been read as development so that every check can run.
    """
    found: list[Problem] = []
    found += _environment(declared_env)
    found += _secret(settings)
    found += _base_url(settings)
    found += _trusted_origins(settings)
    found += _mail(settings)
    found += _stripe(settings)
    found += _processes(settings, workers)
    found += _metrics(settings)
    found += _open_api(settings)
    return found


def _environment(declared: str | None) -> list[Problem]:
    if declared is None or declared == "" or declared == "production":
        return []
    return [
        Problem(
            "env.not-production",
            "error",
            f"TENANTRY_ENV is {declared!r}: development defaults (an open API, the mail outbox page, "
            "readable errors) are meant for a laptop",
            "Unset TENANTRY_ENV (tenantry serve defaults to production) or set TENANTRY_ENV=production.",
        )
    ]


def _secret(settings: Settings) -> list[Problem]:
    fix = (
        "Set TENANTRY_SECRET to 32 or more random characters: "
        'python -c "import secrets; print(secrets.token_urlsafe(48))"'
    )
    if settings.secret is None:
        return [Problem("secret.missing", "error", "TENANTRY_SECRET is not set: sessions cannot be signed", fix)]
    value = settings.secret.get_secret_value()
    if value == DEV_SECRET:
        return [Problem("secret.development", "error", "TENANTRY_SECRET is the published development secret", fix)]
    if len(value) < MIN_SECRET_LENGTH:
        return [
            Problem(
                "secret.short",
                "error",
                f"TENANTRY_SECRET has {len(value)} characters; signed cookies and tokens need at least "
                f"{MIN_SECRET_LENGTH}",
                fix,
            )
        ]
    if len(set(value)) < MIN_SECRET_DISTINCT:
        return [
            Problem(
                "secret.weak",
                "error",
                f"TENANTRY_SECRET uses only {len(set(value))} different character(s): "
                "a placeholder, not a random value",
                fix,
            )
        ]
    return []


def _base_url(settings: Settings) -> list[Problem]:
    parts = urlsplit(settings.base_url)
    found: list[Problem] = []
    if parts.scheme != "https":
        found.append(
            Problem(
                "base-url.not-https",
                "error",
                f"TENANTRY_BASE_URL is {settings.base_url}: session cookies, links in e-mails and OAuth "
                "callbacks travel in clear text",
                "Serve the app behind TLS and set TENANTRY_BASE_URL=https://your.domain.",
            )
        )
    if (parts.hostname or "") in _LOCAL_HOSTS:
        found.append(
            Problem(
                "base-url.local",
                "error",
                f"TENANTRY_BASE_URL points at this machine ({parts.hostname}): every link the app sends "
                "(verification, password reset, invitations) leads nowhere for its users",
                "Set TENANTRY_BASE_URL to the public address users reach the app at.",
            )
        )
    return found


def _trusted_origins(settings: Settings) -> list[Problem]:
    found: list[Problem] = []
    for origin in settings.auth.trusted_origins:
        if fnmatch.fnmatchcase("https://attacker.example", origin) or origin.strip() in ("*", "http*", "https*"):
            found.append(
                Problem(
                    "trusted-origins.any",
                    "error",
                    f"TENANTRY_TRUSTED_ORIGINS has {origin!r}, which any site matches: cross-site requests "
                    "with a user's cookies would be accepted",
                    "List your front ends' exact origins (wildcards only under your own domain: "
                    "https://*.example.com).",
                )
            )
        elif origin.startswith("http://") and (urlsplit(origin.replace("*", "x")).hostname or "") not in _LOCAL_HOSTS:
            found.append(
                Problem(
                    "trusted-origins.http",
                    "error",
                    f"TENANTRY_TRUSTED_ORIGINS has {origin!r}: a page served without TLS could be altered "
                    "on the way and act as the user",
                    "Trust https:// origins only.",
                )
            )
        elif origin.startswith("http://"):
            found.append(
                Problem(
                    "trusted-origins.local",
                    "warning",
                    f"TENANTRY_TRUSTED_ORIGINS has {origin!r}, a development address",
                    "Remove development origins from the production configuration.",
                )
            )
    return found


def _mail(settings: Settings) -> list[Problem]:
    backend = settings.mail.backend
    if backend == "dev":
        return [
            Problem(
                "mail.development",
                "error",
                "TENANTRY_MAIL_BACKEND is dev: messages are kept in the database and nobody receives them",
                "Set TENANTRY_MAIL_BACKEND=smtp (SMTP_HOST …) or postmark (POSTMARK_SERVER_TOKEN).",
            )
        ]
    if backend == "file":
        return [
            Problem(
                "mail.file",
                "warning",
                f"TENANTRY_MAIL_BACKEND is file: messages are written to {settings.mail.file_path}, not sent",
                "Use smtp or postmark unless another program sends what the file receives.",
            )
        ]
    return []


def _stripe(settings: Settings) -> list[Problem]:
    billing = settings.billing
    found: list[Problem] = []
    key = billing.secret_key.get_secret_value() if billing.secret_key is not None else ""
    if key.startswith(("sk_test_", "rk_test_")):
        found.append(
            Problem(
                "stripe.test-key",
                "error",
                "STRIPE_SECRET_KEY is a test-mode key: no customer is ever charged",
                "Set the live key (sk_live_… or a restricted rk_live_…) from the Stripe dashboard.",
            )
        )
    if billing.api_base:
        found.append(
            Problem(
                "stripe.api-base",
                "error",
                f"STRIPE_API_BASE is {billing.api_base}: billing talks to that server instead of Stripe "
                "(the local emulator's setting)",
                "Unset STRIPE_API_BASE.",
            )
        )
    if key and billing.webhook_secret is None:
        found.append(
            Problem(
                "stripe.webhook-secret",
                "error",
                "STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not: Stripe's webhooks are refused, "
                "so subscriptions never change",
                "Set STRIPE_WEBHOOK_SECRET to the endpoint's signing secret (whsec_…).",
            )
        )
    return found


def _processes(settings: Settings, workers: int) -> list[Problem]:
    found: list[Problem] = []
    if workers > 1 and not settings.redis_url:
        found.append(
            Problem(
                "redis.missing",
                "error",
                f"{workers} workers without REDIS_URL: rate limits are counted per process (a limit of 3 "
                f"becomes {3 * workers}) and realtime pushes reach only the sockets of the process that sent them",
                "Set REDIS_URL (also needed when several machines serve the app).",
            )
        )
    if not settings.background and not settings.redis_url:
        found.append(
            Problem(
                "redis.missing-for-workers",
                "error",
                "TENANTRY_BACKGROUND=false without REDIS_URL: the realtime pushes the `tenantry worker` "
                "processes make reach none of this node's sockets",
                "Set REDIS_URL on the web nodes and the workers.",
            )
        )
    if workers > 1 and settings.dialect == "sqlite":
        found.append(
            Problem(
                "database.sqlite",
                "warning",
                f"{workers} workers on SQLite: one writer at a time for every process",
                "Use PostgreSQL (DATABASE_URL=postgresql://…) for several processes.",
            )
        )
    return found


def _metrics(settings: Settings) -> list[Problem]:
    metrics = settings.metrics
    token = metrics.token_value()
    found: list[Problem] = []
    if metrics.port is not None and token is None and metrics.host not in ("127.0.0.1", "::1", "localhost"):
        found.append(
            Problem(
                "metrics.public",
                "error",
                f"/metrics is served on {metrics.host}:{metrics.port} to anyone who can reach it, without a "
                "token: routes, traffic and failure counts of the app",
                "Set TENANTRY_METRICS_TOKEN, or TENANTRY_METRICS_HOST=127.0.0.1 (a scraper on the same host), "
                "or keep the port off the public network.",
            )
        )
    if token is not None and len(token) < MIN_METRICS_TOKEN_LENGTH:
        found.append(
            Problem(
                "metrics.weak-token",
                "warning",
                f"TENANTRY_METRICS_TOKEN has {len(token)} characters",
                f"Use {MIN_METRICS_TOKEN_LENGTH} or more random characters.",
            )
        )
    return found


def _open_api(settings: Settings) -> list[Problem]:
    if not settings.open_api:
        return []
    return [
        Problem(
            "api.open",
            "error",
            "TENANTRY_OPEN_API is on: anyone may use the whole CRUD API without signing in",
            "Unset TENANTRY_OPEN_API (it is for development only).",
        )
    ]
