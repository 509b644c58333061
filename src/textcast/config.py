"""All of Textcast's settings, read once from ``TEXTCAST_*`` environment variables.

One :class:`Settings` object is built at start-up and passed down; nothing below
this module reads the environment.
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path
from typing import Literal

import phonenumbers
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# What happens to a campaign message due inside quiet hours.
QuietHoursInside = Literal["defer", "skip"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TEXTCAST_", extra="ignore")

    data_dir: Path = Field(
        Path("data"), description="Folder for the SQLite file and generated keys."
    )
    database_url: str = Field(
        "",
        description="SQLAlchemy async URL; empty means SQLite in DATA_DIR/textcast.db.",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    public_url: str = Field(
        "",
        description="Base URL providers reach Textcast at (callback URLs); default http://HOST:PORT.",
    )
    short_link_base: str = Field(
        "",
        description="Base of tracked short links, e.g. https://go.example.com (its requests "
        "must reach Textcast as /<code>); default PUBLIC_URL/s.",
    )
    admin_api_key: SecretStr | None = None
    secret_key: SecretStr | None = Field(
        None,
        description="Fernet key encrypting provider secrets; generated into DATA_DIR if unset.",
    )
    demo: bool = Field(
        True, description="Run the built-in Twilio simulator and a 'simulator' provider."
    )
    simulator_host: str = "127.0.0.1"
    simulator_port: int = Field(8010, ge=1, le=65535)
    allow_private_targets: bool = Field(
        False,
        description="Let provider endpoints resolve to loopback/private addresses (tests, labs).",
    )
    default_region: str = Field("US", description="Region for numbers written without +country.")
    default_time_zone: str = Field(
        "UTC",
        description="IANA zone of contacts whose number says nothing better "
        "(time_zone_source install_default).",
    )
    quiet_hours: str = Field(
        "21:00-08:00",
        description="Campaigns' default quiet hours in each recipient's local time "
        "(FROM-UNTIL, 24 h clock; empty for none). Country law applies on top.",
    )
    quiet_hours_inside: QuietHoursInside = Field(
        "defer", description="A campaign message due inside quiet hours: defer or skip it."
    )
    frequency_caps: str = Field(
        "",
        description="Installation frequency caps for promotional campaign messages, comma "
        "separated: LIMIT/SPAN with SPAN 24h, 7d, day, week or month (e.g. '2/24h,5/week').",
    )
    max_segments: int = Field(
        10, ge=1, le=100, description="Longest message accepted, in segments."
    )
    dispatcher: bool = Field(True, description="Run the dispatcher inside `serve`.")
    provider_concurrency: int = Field(
        50, ge=1, le=1000, description="Sends in flight per provider account, per process."
    )
    dispatch_batch_size: int = Field(
        1000,
        ge=1,
        le=5000,
        description="Messages claimed per query. A worker holds at most the larger of twice "
        "this and 4 x TEXTCAST_DISPATCH_CONCURRENCY claimed at once; smaller claims ran the "
        "SQLite dispatcher's send lanes dry between claims.",
    )
    dispatch_concurrency: int = Field(100, ge=1, le=1000)
    dispatch_poll_interval: float = Field(0.2, gt=0, le=60)
    lease_seconds: float = Field(60.0, ge=5, le=3600)
    http_timeout: float = Field(15.0, gt=0, le=300)
    max_attempts: int = Field(6, ge=1, le=50)
    reconcile_after_seconds: float = Field(
        3600, ge=0, description="Look up messages still without a final status after this long."
    )
    unknown_after_seconds: float = Field(
        259200, ge=0, description="Mark them 'unknown' when the provider still has no answer."
    )
    resend_unknown: bool = Field(
        True,
        description="Resend (flagged possible_duplicate) a message whose worker died mid-send "
        "when its provider cannot be asked whether it got it; false fails it instead.",
    )
    retry_base_delay: float = Field(
        2.0, ge=0, le=3600, description="First retry wait, doubled each try."
    )
    worker_metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Port where `textcast worker` serves Prometheus /metrics; off when unset "
        "(`serve` has /metrics on its API port). Give each worker on a machine its own port.",
    )
    worker_metrics_host: str = Field(
        "127.0.0.1",
        description="Address the worker's metrics listener binds; 0.0.0.0 to let a remote "
        "Prometheus scrape it.",
    )

    segment_prices: dict[str, float] = Field(
        default_factory=dict,
        description="Price per SMS segment for campaign cost estimates, as JSON: keys "
        '"provider-name:CC", "provider-name", "*:CC" or "*" (the most specific applies), '
        'e.g. {"*": 0.0083, "*:GB": 0.0463}. Unset: no estimate.',
    )
    segment_price_currency: str = Field("USD", max_length=3, description="Their currency.")
    stats_roll_up_interval: float = Field(
        2.0,
        ge=0,
        le=300,
        description="Seconds between the campaign runner's passes counting newly settled "
        "messages, clicks and replies into the campaign stats (each serve and worker runs "
        "them; one pass at a time). 0: none.",
    )

    @field_validator("segment_prices")
    @classmethod
    def _prices_not_negative(cls, value: dict[str, float]) -> dict[str, float]:
        negative = sorted(key for key, price in value.items() if price < 0)
        if negative:
            raise ValueError(f"a price cannot be negative: {', '.join(negative)}")
        return value

    @field_validator("worker_metrics_port", mode="before")
    @classmethod
    def _empty_port_is_off(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        # A region libphonenumber does not know reads no national number at all.
        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region code (two letters, e.g. US or GB)")
        return region

    @field_validator("default_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError):
            message = f"{value!r} is not an IANA time zone (e.g. America/New_York)"
            raise ValueError(message) from None
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'textcast.db').resolve()}"

    @property
    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def simulator_url(self) -> str:
        return f"http://{self.simulator_host}:{self.simulator_port}"
