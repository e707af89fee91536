"""The settings every capability may read: the database, the environment, the secret, the site's URL.

Each capability has its own settings model besides (``AuthSettings``, ``MailSettings`` …); the
app's whole configuration (``tenantry.config.Settings``) nests them all and is read once, from the
environment and ``.env``, by the command line and ``app_from_env``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tenantry.db.database import dialect_of

DEV_SECRET = "tenantry-development-secret-do-not-use-in-production"  # noqa: S105 - dev only, refused in production


class CoreSettings(BaseSettings):
    """What is configurable about a running Tenantry app before any capability.

    Names are the environment variables; ``.env`` in the working directory is read too.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field("sqlite:///./tenantry.db", alias="DATABASE_URL")
    redis_url: str | None = Field(None, alias="REDIS_URL")
    secret: SecretStr | None = Field(None, alias="TENANTRY_SECRET")
    env: Literal["development", "production"] = Field("development", alias="TENANTRY_ENV")
    schema_path: str = Field("schema.yaml", alias="TENANTRY_SCHEMA")
    hooks_path: str | None = Field(None, alias="TENANTRY_HOOKS")
    base_url: str = Field("http://127.0.0.1:8000", alias="TENANTRY_BASE_URL")
    max_limit: int = Field(100, ge=1, le=10_000, alias="TENANTRY_MAX_LIMIT")
    db_pool_size: int = Field(10, ge=1, le=500, alias="TENANTRY_DB_POOL_SIZE")
    max_body_bytes: int = Field(1_048_576, ge=1024, alias="TENANTRY_MAX_BODY_BYTES")
    shutdown_grace: float = Field(
        30.0,
        ge=0,
        le=3600,
        alias="TENANTRY_SHUTDOWN_GRACE",
        description="Seconds a stopping server lets requests in flight finish (tenantry serve --grace).",
    )
    auto_migrate: bool = Field(
        False,
        alias="TENANTRY_AUTO_MIGRATE",
        description="Apply schema changes to a SQLite database at start-up (set by tenantry dev).",
    )
    allow_destructive: bool = Field(False, alias="TENANTRY_ALLOW_DESTRUCTIVE")
    background: bool = Field(
        True,
        alias="TENANTRY_BACKGROUND",
        description="Run the background work (outbox deliveries: mail, webhooks, realtime pushes; sweeps) in "
        "this process. Off on web nodes whose background work runs in `tenantry worker` processes.",
    )
    dev_clients: str | None = Field(
        None,
        alias="TENANTRY_DEV_CLIENTS",
        description="Typed clients to regenerate whenever the app starts in development "
        "(`typescript:DIR;python:DIR`, set by tenantry dev --client).",
    )
    open_api: bool | None = Field(
        None,
        alias="TENANTRY_OPEN_API",
        description="Serve the CRUD API without authentication. Development only; defaults to on there.",
    )

    hsts_max_age: int = Field(
        63_072_000,
        ge=0,
        alias="TENANTRY_HSTS_MAX_AGE",
        description="Strict-Transport-Security max-age in production over https (two years; 0 sends none).",
    )
    hsts_include_subdomains: bool = Field(
        True,
        alias="TENANTRY_HSTS_INCLUDE_SUBDOMAINS",
        description="Whether Strict-Transport-Security covers the site's subdomains too.",
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        dialect_of(value)
        return value

    @model_validator(mode="after")
    def _production_rules(self) -> CoreSettings:
        if self.env == "production":
            if self.secret is None or len(self.secret.get_secret_value()) < 32:
                raise ValueError("TENANTRY_SECRET must be set to at least 32 random characters in production")
            if self.open_api:
                raise ValueError("TENANTRY_OPEN_API cannot be enabled in production")
        return self

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def api_is_open(self) -> bool:
        """Whether unauthenticated callers act as the developer (``tenantry dev`` before auth is set up)."""
        return self.is_development and self.open_api is not False

    @property
    def secret_value(self) -> str:
        return self.secret.get_secret_value() if self.secret is not None else DEV_SECRET

    @property
    def dialect(self) -> Literal["postgresql", "sqlite"]:
        return dialect_of(self.database_url)
