"""Stripe settings from the environment and ``.env`` (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class BillingSettings(BaseSettings):
    """Stripe keys and where Stripe is (the real API, or the local emulator in development and tests)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    secret_key: SecretStr | None = Field(None, alias="STRIPE_SECRET_KEY")
    webhook_secret: SecretStr | None = Field(
        None,
        alias="STRIPE_WEBHOOK_SECRET",
        description="whsec_… of the webhook endpoint; several, comma-separated, while a secret is rotated.",
    )
    api_base: str | None = Field(None, alias="STRIPE_API_BASE", description="Stripe's API (the emulator's URL in dev).")
    dev_emulator: bool = Field(
        False,
        alias="TENANTRY_DEV_STRIPE_EMULATOR",
        description="Set by `tenantry dev`: Stripe is its local emulator, where each start creates the plans' prices.",
    )
    tolerance: int = Field(
        300, ge=1, le=86_400, alias="STRIPE_WEBHOOK_TOLERANCE", description="Seconds a signature stays valid."
    )

    @property
    def webhook_secrets(self) -> list[str]:
        raw = self.webhook_secret.get_secret_value() if self.webhook_secret is not None else ""
        return [s.strip() for s in raw.split(",") if s.strip()]

    @property
    def configured(self) -> bool:
        return self.secret_key is not None and bool(self.webhook_secrets)
