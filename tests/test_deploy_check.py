"""``tenantry check --deploy``: every unsafe production setting listed with its fix; exit 1 when serious."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from tenantry.auth import AuthSettings
from tenantry.billing import BillingSettings
from tenantry.cli import app
from tenantry.config import DEV_SECRET, Settings
from tenantry.deploy import deploy_problems
from tenantry.mail import MailSettings
from tenantry.metrics.settings import MetricsSettings

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "examples" / "saas" / "schema.yaml")
runner = CliRunner()

SAFE_ENV = {
    "TENANTRY_SECRET": secrets.token_urlsafe(48),
    "TENANTRY_BASE_URL": "https://app.example.com",
    "TENANTRY_TRUSTED_ORIGINS": "https://app.example.com,https://*.example.com",
    "TENANTRY_MAIL_BACKEND": "smtp",
    "SMTP_HOST": "smtp.example.com",
    "DATABASE_URL": "postgresql://app@db.example.com/app",
    "REDIS_URL": "redis://cache.example.com:6379/0",
    "STRIPE_SECRET_KEY": "sk_live_" + "a" * 24,
    "STRIPE_WEBHOOK_SECRET": "whsec_" + "b" * 24,
    "TENANTRY_METRICS_PORT": "9100",
    "TENANTRY_METRICS_HOST": "0.0.0.0",
    "TENANTRY_METRICS_TOKEN": secrets.token_urlsafe(24),
}


def ids(settings: Settings, **options: object) -> dict[str, str]:
    return {p.id: p.level for p in deploy_problems(settings, **options)}  # type: ignore[arg-type]


def safe(**changes: object) -> Settings:
    base = Settings(
        TENANTRY_SECRET=SAFE_ENV["TENANTRY_SECRET"],
        TENANTRY_BASE_URL="https://app.example.com",
        DATABASE_URL=SAFE_ENV["DATABASE_URL"],
        REDIS_URL=SAFE_ENV["REDIS_URL"],
        mail=MailSettings(TENANTRY_MAIL_BACKEND="smtp", SMTP_HOST="smtp.example.com"),
    )
    return base.model_copy(update=changes)


def test_a_safe_configuration_has_no_problems() -> None:
    assert deploy_problems(safe(), workers=4, declared_env="production") == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"secret": None}, "secret.missing"),
        ({"secret": "short-secret"}, "secret.short"),
        ({"secret": "ab" * 30}, "secret.weak"),
        ({"secret": DEV_SECRET}, "secret.development"),
        ({"base_url": "http://app.example.com"}, "base-url.not-https"),
        ({"base_url": "https://localhost:8000"}, "base-url.local"),
        ({"auth": AuthSettings(TENANTRY_TRUSTED_ORIGINS="https://*")}, "trusted-origins.any"),
        ({"auth": AuthSettings(TENANTRY_TRUSTED_ORIGINS="http://app.example.com")}, "trusted-origins.http"),
        ({"mail": MailSettings(TENANTRY_MAIL_BACKEND="dev")}, "mail.development"),
        (
            {"billing": BillingSettings(STRIPE_SECRET_KEY="sk_test_x", STRIPE_WEBHOOK_SECRET="whsec_x")},
            "stripe.test-key",
        ),
        ({"billing": BillingSettings(STRIPE_SECRET_KEY="sk_live_x")}, "stripe.webhook-secret"),
        ({"billing": BillingSettings(STRIPE_API_BASE="http://127.0.0.1:12111")}, "stripe.api-base"),
        ({"redis_url": None}, "redis.missing"),
        ({"metrics": MetricsSettings(TENANTRY_METRICS_PORT=9100, TENANTRY_METRICS_HOST="0.0.0.0")}, "metrics.public"),
        ({"open_api": True}, "api.open"),
    ],
)
def test_each_unsafe_setting_is_a_serious_problem(changes: dict[str, object], expected: str) -> None:
    if isinstance(changes.get("secret"), str):
        changes = {"secret": SecretStr(str(changes["secret"]))}
    assert ids(safe(**changes), workers=2) == {expected: "error"}


def test_web_nodes_beside_workers_need_redis() -> None:
    assert ids(safe(background=False, redis_url=None), workers=1) == {"redis.missing-for-workers": "error"}
    assert ids(safe(background=False), workers=1) == {}


def test_warnings_are_not_serious() -> None:
    found = ids(
        safe(
            database_url="sqlite:///./app.db",
            mail=MailSettings(TENANTRY_MAIL_BACKEND="file"),
            metrics=MetricsSettings(TENANTRY_METRICS_TOKEN="short"),
            auth=AuthSettings(TENANTRY_TRUSTED_ORIGINS="http://localhost:3000"),
        ),
        workers=2,
    )
    assert found == {
        "database.sqlite": "warning",
        "mail.file": "warning",
        "metrics.weak-token": "warning",
        "trusted-origins.local": "warning",
    }
    assert ids(safe(), declared_env="development") == {"env.not-production": "error"}


def test_the_command_lists_every_problem_and_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout is read
    env = {
        "TENANTRY_SECRET": "x" * 40,
        "STRIPE_SECRET_KEY": "sk_test_123",
        "TENANTRY_TRUSTED_ORIGINS": "*",
        "TENANTRY_METRICS_PORT": "9100",
        "TENANTRY_METRICS_HOST": "0.0.0.0",
        "COLUMNS": "200",
    }
    result = runner.invoke(app, ["check", "--deploy", "--workers", "4", "--schema", SCHEMA], env=env)
    assert result.exit_code == 1, result.output
    for problem in (
        "secret.weak",
        "base-url.not-https",
        "base-url.local",
        "trusted-origins.any",
        "mail.development",
        "stripe.test-key",
        "stripe.webhook-secret",
        "redis.missing",
        "metrics.public",
        "database.sqlite",
    ):
        assert problem in result.output, problem
    assert "9 serious, 1 warning(s). Fix the errors before deploying." in result.output
    assert "Set REDIS_URL" in result.output  # with its fix


def test_the_command_passes_a_safe_deploy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["check", "--deploy", "--workers", "4", "--schema", SCHEMA], env=SAFE_ENV)
    assert result.exit_code == 0, result.output
    assert "No problems" in result.output
