"""Where passkeys are valid: the relying party (RP) and the origins the browser may report.

Better Auth's passkey options ``rpID``, ``rpName`` and ``origin``. By default the RP ID is the
host name of the app's base URL and the only origin accepted is the base URL's own, so a passkey
made for this site is useless on any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class PasskeySettings(BaseSettings):
    """``TENANTRY_PASSKEY_*`` from the environment; empty values fall back to the base URL's."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    rp_id: str | None = Field(
        None, alias="TENANTRY_PASSKEY_RP_ID", description="The WebAuthn RP ID (default: the base URL's host name)."
    )
    rp_name: str | None = Field(
        None, alias="TENANTRY_PASSKEY_RP_NAME", description="The name authenticators show (default: the app's title)."
    )
    origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("TENANTRY_PASSKEY_ORIGIN", "origins"),
        description="Comma-separated origins ceremonies may come from (default: the base URL's origin).",
    )

    @field_validator("origins", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip().rstrip("/") for v in value.split(",") if v.strip()]
        return value


@dataclass(frozen=True)
class RelyingParty:
    """The values a ceremony is generated and verified with."""

    id: str
    name: str
    origins: tuple[str, ...]


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL (what a browser reports as the page's origin)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def relying_party(settings: PasskeySettings, base_url: str, app_name: str) -> RelyingParty:
    """The relying party of an app whose base URL is ``base_url``."""
    host = urlsplit(base_url).hostname or "localhost"
    return RelyingParty(
        id=settings.rp_id or host,
        name=settings.rp_name or app_name,
        origins=tuple(settings.origins) or (origin_of(base_url),),
    )
