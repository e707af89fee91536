"""Authentication settings, named after Better Auth's options (``expiresIn``, ``updateAge`` …)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class OIDCProviderSettings(BaseModel):
    """One generic OpenID Connect provider of ``TENANTRY_OIDC_PROVIDERS`` (discovered from its issuer)."""

    # The id is the provider's name in URLs (``/api/auth/callback/<id>``) and in account rows.
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$", max_length=64)
    name: str | None = None
    issuer: str
    client_id: str
    client_secret: SecretStr
    scopes: list[str] | None = None


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
        default_factory=list,
        validation_alias=AliasChoices("TENANTRY_TRUSTED_PROXIES", "trusted_proxies"),
        description=(
            "Comma-separated peer addresses whose X-Forwarded-For names the client (rate limits, session "
            "IPs, audit rows). None by default: a forwarded address is believed only from a proxy named here."
        ),
    )
    cookie_prefix: str = Field("better-auth", alias="TENANTRY_COOKIE_PREFIX", pattern=r"^[A-Za-z0-9_.\-]+$")
    rate_limit: Literal["auto", "on", "off"] = Field("auto", alias="TENANTRY_RATE_LIMIT")
    plugins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["two-factor", "magic-link", "passkey", "api-key", "admin"],
        validation_alias=AliasChoices("TENANTRY_AUTH_PLUGINS", "plugins"),
        description="Comma-separated authentication plugins to enable (empty: none).",
    )
    table_names: Literal["tenantry", "better-auth"] = Field(
        "tenantry",
        alias="TENANTRY_AUTH_TABLES",
        description="'better-auth' uses Better Auth's own table and column names (session, account …).",
    )

    # -- social sign-in (a provider is enabled when its client id is set) -------------------------
    google_client_id: str | None = Field(None, alias="GOOGLE_CLIENT_ID")
    google_client_secret: SecretStr | None = Field(None, alias="GOOGLE_CLIENT_SECRET")
    google_issuer: str = Field(
        "https://accounts.google.com",
        alias="GOOGLE_ISSUER",
        description="Where Google's OpenID configuration is discovered (an emulator's URL in tests).",
    )
    github_client_id: str | None = Field(None, alias="GITHUB_CLIENT_ID")
    github_client_secret: SecretStr | None = Field(None, alias="GITHUB_CLIENT_SECRET")
    github_authorize_url: str = Field("https://github.com/login/oauth/authorize", alias="GITHUB_AUTHORIZE_URL")
    github_token_url: str = Field("https://github.com/login/oauth/access_token", alias="GITHUB_TOKEN_URL")
    github_api_url: str = Field("https://api.github.com", alias="GITHUB_API_URL")
    oidc_providers: list[OIDCProviderSettings] = Field(
        default_factory=list,
        alias="TENANTRY_OIDC_PROVIDERS",
        description='JSON list of {"id", "name", "issuer", "client_id", "client_secret", "scopes"?}.',
    )
    trusted_providers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("TENANTRY_TRUSTED_PROVIDERS", "trusted_providers"),
        description="Comma-separated provider ids whose unverified e-mails may still link to an existing user.",
    )
    account_linking: bool = Field(
        True,
        alias="TENANTRY_ACCOUNT_LINKING",
        description="Link a provider sign-in to the existing user with the same (verified) e-mail.",
    )

    @field_validator("trusted_providers", mode="before")
    @classmethod
    def _provider_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @model_validator(mode="after")
    def _distinct_providers(self) -> AuthSettings:
        # Provider ids key the account rows: two providers under one id would share accounts,
        # and "credential" is the e-mail/password account.
        seen = {"google"} if self.google_client_id else set()
        if self.github_client_id:
            seen.add("github")
        for provider in self.oidc_providers:
            if provider.id == "credential" or provider.id in seen:
                raise ValueError(f"TENANTRY_OIDC_PROVIDERS: provider id {provider.id!r} is reserved or used twice")
            seen.add(provider.id)
        return self

    @field_validator("plugins", mode="after")
    @classmethod
    def _known_plugins(cls, value: list[str]) -> list[str]:
        from tenantry.auth.plugins import PLUGINS

        unknown = [v for v in value if v not in PLUGINS]
        if unknown:
            raise ValueError(f"unknown authentication plugin(s) {', '.join(unknown)}; known: {', '.join(PLUGINS)}")
        return value

    @field_validator("trusted_origins", "trusted_proxies", "plugins", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        # Comma-separated in the environment (NoDecode keeps pydantic from expecting JSON).
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value
