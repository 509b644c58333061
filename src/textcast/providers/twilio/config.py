"""What a Twilio provider stores: its Account SID and API origin in clear, its
auth token encrypted."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

DEFAULT_BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"


class TwilioConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$", description="AC + 32 hex digits")
    base_url: str = Field(
        DEFAULT_BASE_URL, description="API origin; change for the simulator or an edge"
    )

    @field_validator("base_url")
    @classmethod
    def _origin_only(cls, value: str) -> str:
        value = value.rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


class TwilioSecrets(BaseModel):
    model_config = ConfigDict(extra="ignore")

    auth_token: SecretStr = Field(min_length=8, description="Twilio auth token")
