"""Mail settings: environment names, defaults and combinations checked with clear messages."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tenantry.mail import (
    DevOutboxBackend,
    JsonLinesBackend,
    MailSettings,
    PostmarkBackend,
    SmtpBackend,
    backend_from_settings,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("TENANTRY_", "SMTP_", "POSTMARK_")):
            monkeypatch.delenv(name)


def load() -> MailSettings:
    return MailSettings(_env_file=None)


def test_defaults() -> None:
    s = load()
    assert s.backend == "dev" and s.mail_from == "Tenantry <no-reply@localhost>" and s.file_path == "mail.jsonl"
    assert s.postmark_api_url == "https://api.postmarkapp.com" and s.postmark_message_stream == "outbound"
    assert s.app_name == "Tenantry" and s.max_attempts == 8
    assert isinstance(backend_from_settings(s), DevOutboxBackend)


def test_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "TENANTRY_MAIL_BACKEND": "smtp",
        "TENANTRY_MAIL_FROM": "Acme <hello@acme.test>",
        "SMTP_HOST": "smtp.acme.test",
        "SMTP_USERNAME": "mailer",
        "SMTP_PASSWORD": "s3cret",
        "SMTP_STARTTLS": "true",
        "SMTP_TIMEOUT": "12.5",
        "TENANTRY_APP_NAME": "Acme",
        "TENANTRY_MAIL_BRAND_COLOR": "#abc",
        "TENANTRY_MAIL_SUPPORT_EMAIL": "help@acme.test",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = load()
    assert s.smtp_port_or_default == 587
    backend = backend_from_settings(s)
    assert isinstance(backend, SmtpBackend)
    assert (backend.host, backend.port, backend.username, backend.password) == (
        "smtp.acme.test",
        587,
        "mailer",
        "s3cret",
    )
    assert backend.start_tls is True and backend.use_tls is False and backend.timeout == 12.5
    assert "s3cret" not in repr(s)


def test_backends_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANTRY_MAIL_BACKEND", "postmark")
    monkeypatch.setenv("POSTMARK_SERVER_TOKEN", "tok")
    monkeypatch.setenv("POSTMARK_API_URL", "http://127.0.0.1:9025/")
    monkeypatch.setenv("POSTMARK_MESSAGE_STREAM", "transactional")
    postmark = backend_from_settings(load())
    assert isinstance(postmark, PostmarkBackend)
    assert postmark.api_url == "http://127.0.0.1:9025" and postmark.message_stream == "transactional"

    monkeypatch.setenv("TENANTRY_MAIL_BACKEND", "file")
    monkeypatch.setenv("TENANTRY_MAIL_FILE", "/tmp/out.jsonl")
    file_backend = backend_from_settings(load())
    assert isinstance(file_backend, JsonLinesBackend) and str(file_backend.path) == "/tmp/out.jsonl"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TENANTRY_MAIL_BACKEND": "postmark"}, "TENANTRY_MAIL_BACKEND=postmark needs POSTMARK_SERVER_TOKEN"),
        ({"TENANTRY_MAIL_BACKEND": "smtp"}, "TENANTRY_MAIL_BACKEND=smtp needs SMTP_HOST"),
        ({"TENANTRY_MAIL_BACKEND": "sendgrid"}, "'dev', 'file', 'smtp' or 'postmark'"),
        ({"SMTP_SSL": "true", "SMTP_STARTTLS": "true"}, "SMTP_SSL and SMTP_STARTTLS exclude each other"),
        ({"SMTP_USERNAME": "u"}, "SMTP_USERNAME and SMTP_PASSWORD are set together"),
        ({"TENANTRY_MAIL_FROM": "nobody"}, "TENANTRY_MAIL_FROM is not a mail address"),
        ({"TENANTRY_MAIL_BRAND_COLOR": "red;background:url(x)"}, "TENANTRY_MAIL_BRAND_COLOR must be a hex colour"),
        ({"TENANTRY_MAIL_LOGO_URL": "javascript:alert(1)"}, "TENANTRY_MAIL_LOGO_URL must be an http(s) URL"),
        ({"SMTP_PORT": "70000"}, "SMTP_PORT"),
    ],
)
def test_bad_combinations_are_explained(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValidationError) as info:
        load()
    assert message in str(info.value)


def test_ssl_port_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_SSL", "1")
    assert load().smtp_port_or_default == 465
    monkeypatch.delenv("SMTP_SSL")
    assert load().smtp_port_or_default == 25
