"""Mail settings from the environment and ``.env`` (pydantic-settings), checked once at start-up."""

from __future__ import annotations

import re
from email.utils import formataddr, parseaddr
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MailBackendName = Literal["dev", "file", "smtp", "postmark"]

_HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def check_address(value: str, what: str) -> str:
    """``value`` if it is one mail address (``a@b`` or ``Name <a@b>``) safe to put in a header."""
    if "\r" in value or "\n" in value:
        # A line break in a header value would let the value add headers of its own.
        raise ValueError(f"{what} must not contain line breaks")
    _, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or " " in address:
        raise ValueError(f"{what} is not a mail address: {value!r}")
    return value


class MailSettings(BaseSettings):
    """How mail is rendered and which backend delivers it.

    Names are the environment variables; ``.env`` in the working directory is read too.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    backend: MailBackendName = Field("dev", alias="TENANTRY_MAIL_BACKEND")
    mail_from: str = Field("Tenantry <no-reply@localhost>", alias="TENANTRY_MAIL_FROM")
    file_path: str = Field("mail.jsonl", alias="TENANTRY_MAIL_FILE")
    max_attempts: int = Field(
        8,
        ge=1,
        le=50,
        alias="TENANTRY_MAIL_MAX_ATTEMPTS",
        description="Delivery attempts before a message is marked failed (the retry delays grow up to hours).",
    )

    smtp_host: str | None = Field(None, alias="SMTP_HOST")
    smtp_port: int | None = Field(None, ge=1, le=65535, alias="SMTP_PORT")
    smtp_username: str | None = Field(None, alias="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(None, alias="SMTP_PASSWORD")
    smtp_starttls: bool | None = Field(
        None,
        alias="SMTP_STARTTLS",
        description="True: require STARTTLS; False: never; unset: use it when the server offers it.",
    )
    smtp_ssl: bool = Field(False, alias="SMTP_SSL", description="Connect with implicit TLS (port 465).")
    smtp_timeout: float = Field(30.0, gt=0, le=300, alias="SMTP_TIMEOUT")

    postmark_server_token: SecretStr | None = Field(None, alias="POSTMARK_SERVER_TOKEN")
    postmark_api_url: str = Field("https://api.postmarkapp.com", alias="POSTMARK_API_URL")
    postmark_message_stream: str = Field("outbound", min_length=1, alias="POSTMARK_MESSAGE_STREAM")

    app_name: str = Field("Tenantry", min_length=1, max_length=100, alias="TENANTRY_APP_NAME")
    brand_color: str = Field("#2563eb", alias="TENANTRY_MAIL_BRAND_COLOR")
    logo_url: str | None = Field(None, alias="TENANTRY_MAIL_LOGO_URL")
    support_email: str | None = Field(None, alias="TENANTRY_MAIL_SUPPORT_EMAIL")

    @field_validator("mail_from")
    @classmethod
    def _from_address(cls, value: str) -> str:
        return check_address(value, "TENANTRY_MAIL_FROM")

    @field_validator("support_email")
    @classmethod
    def _support_address(cls, value: str | None) -> str | None:
        return None if not value else check_address(value, "TENANTRY_MAIL_SUPPORT_EMAIL")

    @field_validator("brand_color")
    @classmethod
    def _color(cls, value: str) -> str:
        # The colour lands inside inline CSS: only a plain hex colour can never break out of it.
        if not _HEX_COLOR.match(value):
            raise ValueError(f"TENANTRY_MAIL_BRAND_COLOR must be a hex colour like #2563eb, not {value!r}")
        return value

    @field_validator("logo_url")
    @classmethod
    def _logo(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("https://", "http://")) or any(c in value for c in "\"'<> \r\n"):
            raise ValueError(f"TENANTRY_MAIL_LOGO_URL must be an http(s) URL, not {value!r}")
        return value

    @field_validator("postmark_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"POSTMARK_API_URL must be an http(s) URL, not {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _backend_needs(self) -> MailSettings:
        if self.backend == "postmark" and (
            self.postmark_server_token is None or not self.postmark_server_token.get_secret_value()
        ):
            raise ValueError(
                "TENANTRY_MAIL_BACKEND=postmark needs POSTMARK_SERVER_TOKEN "
                "(the Server API token of your Postmark server)"
            )
        if self.backend == "smtp" and not self.smtp_host:
            raise ValueError("TENANTRY_MAIL_BACKEND=smtp needs SMTP_HOST (and usually SMTP_PORT, SMTP_USERNAME, …)")
        if self.smtp_ssl and self.smtp_starttls:
            raise ValueError("SMTP_SSL and SMTP_STARTTLS exclude each other: implicit TLS (465) or STARTTLS (587)")
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("SMTP_USERNAME and SMTP_PASSWORD are set together or not at all")
        return self

    @property
    def smtp_port_or_default(self) -> int:
        """``SMTP_PORT``, or the conventional port for the chosen TLS mode (465, 587 or 25)."""
        if self.smtp_port is not None:
            return self.smtp_port
        if self.smtp_ssl:
            return 465
        return 587 if self.smtp_starttls else 25


def branded(settings: MailSettings, app_name: str, color: str | None) -> MailSettings:
    """``settings`` speaking in the app's name (the schema's ``settings: display:``) where the
    environment did not say otherwise: the name in every e-mail, its colour, the sender's name."""
    given = settings.model_fields_set
    update: dict[str, str] = {}
    if "app_name" not in given:
        update["app_name"] = app_name[:100]
    if "brand_color" not in given and color is not None:
        update["brand_color"] = color
    if "mail_from" not in given:
        update["mail_from"] = formataddr((update.get("app_name", settings.app_name), parseaddr(settings.mail_from)[1]))
    return settings.model_copy(update=update) if update else settings
