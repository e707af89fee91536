"""The magic-link plugin's options, named after Better Auth's ``magicLink({...})`` options."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MagicLinkSettings(BaseSettings):
    """``expiresIn`` and ``disableSignUp`` of Better Auth's ``magicLink()``, from the environment."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    expires_in: int = Field(
        300,
        ge=30,
        le=60 * 60 * 24,
        alias="TENANTRY_MAGIC_LINK_EXPIRES_IN",
        description="Seconds a sign-in link stays valid (Better Auth's default: 5 minutes).",
    )
    disable_sign_up: bool = Field(
        False,
        alias="TENANTRY_MAGIC_LINK_DISABLE_SIGN_UP",
        description="Refuse links for addresses without an account instead of creating one.",
    )
