"""Authentication settings, named after Better Auth's options (``expiresIn``, ``updateAge`` …)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class AuthSettings(BaseSettings):
    """What Better Auth configures in ``betterAuth({...})``, from the environment.

    Defaults follow the seed's configuration: 7-day sessions refreshed daily, e-mail verification
    required, cookies named ``better-auth.*`` so code written for Better Auth finds them.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    expires_in: int = Field(60 * 60 * 24 * 7, ge=60, alias="TENANTRY_SESSION_EXPIRES_IN")
    update_age: int = Field(60 * 60 * 24, ge=0, alias="TENANTRY_SESSION_UPDATE_AGE")
    fresh_age: int = Field(60 * 60 * 24, ge=0, alias="TENANTRY_SESSION_FRESH_AGE")
    require_email_verification: bool = Field(True, alias="TENANTRY_REQUIRE_EMAIL_VERIFICATION")
    auto_sign_in: bool = Field(True, alias="TENANTRY_AUTO_SIGN_IN")
    send_verification_on_sign_in: bool = Field(True, alias="TENANTRY_SEND_VERIFICATION_ON_SIGN_IN")
    min_password_length: int = Field(8, ge=1, alias="TENANTRY_MIN_PASSWORD_LENGTH")
    max_password_length: int = Field(128, ge=8, le=4096, alias="TENANTRY_MAX_PASSWORD_LENGTH")
    verification_expires_in: int = Field(3600, ge=60, alias="TENANTRY_VERIFICATION_EXPIRES_IN")
    reset_password_expires_in: int = Field(3600, ge=60, alias="TENANTRY_RESET_PASSWORD_EXPIRES_IN")
    revoke_sessions_on_password_reset: bool = Field(False, alias="TENANTRY_REVOKE_SESSIONS_ON_PASSWORD_RESET")
    trusted_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("TENANTRY_TRUSTED_ORIGINS", "trusted_origins"),
        description="Comma-separated origins (wildcards like https://*.example.com allowed).",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        validation_alias=AliasChoices("TENANTRY_TRUSTED_PROXIES", "trusted_proxies"),
        description="Peers whose X-Forwarded-For names the client (rate limits, session IPs).",
    )
    cookie_prefix: str = Field("better-auth", alias="TENANTRY_COOKIE_PREFIX", pattern=r"^[A-Za-z0-9_.\-]+$")
    rate_limit: Literal["auto", "on", "off"] = Field("auto", alias="TENANTRY_RATE_LIMIT")
    table_names: Literal["tenantry", "better-auth"] = Field(
        "tenantry",
        alias="TENANTRY_AUTH_TABLES",
        description="'better-auth' uses Better Auth's own table and column names (session, account …).",
    )

    @field_validator("trusted_origins", "trusted_proxies", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        # Comma-separated in the environment (NoDecode keeps pydantic from expecting JSON).
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value
