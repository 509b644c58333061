"""What a campaign is made of, as the API and CLI send it (checked here;
references to senders, templates and segments are resolved by the service)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from textcast.db.refs import RefName

Category = Literal["promotional", "transactional"]
MAX_LISTED = 10_000  # contact ids or phone numbers given inline; more: a segment or an import
CONTROL = "control"
_VARIANT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _clock(value: str | None) -> str | None:
    if value is not None and not _CLOCK.match(value):
        raise ValueError("must be HH:MM (24 h clock)")
    return value


class Audience(BaseModel):
    """Who: exactly one of a saved segment, ad-hoc rules, contact ids or phone numbers."""

    model_config = ConfigDict(extra="forbid")

    segment: str | int | None = Field(None, description="a saved segment, by name or id")
    rules: dict[str, Any] | None = Field(None, description="an unsaved rule tree")
    contacts: list[int] | None = Field(None, max_length=MAX_LISTED)
    phones: list[str] | None = Field(None, max_length=MAX_LISTED)

    @model_validator(mode="after")
    def _exactly_one(self) -> Audience:
        given = [k for k in ("segment", "rules", "contacts", "phones") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of segment, rules, contacts, phones")
        return self

    def stored(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Variant(BaseModel):
    """One arm of an A/B test: its own content and its share of the audience."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="letters, digits, - and _; not 'control'")
    template: str | int | None = None
    template_version: int | None = Field(None, ge=1)
    body: str | None = Field(None, min_length=1, max_length=5000)
    percent: int = Field(ge=1, le=100)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _VARIANT_NAME.match(value) or value == CONTROL:
            raise ValueError("letters, digits, - and _ (at most 32); 'control' is reserved")
        return value

    @model_validator(mode="after")
    def _content(self) -> Variant:
        if (self.template is None) == (self.body is None):
            raise ValueError("give either template or body")
        return self


class Delivery(BaseModel):
    """When and how fast; shared by a new campaign and a change to one."""

    model_config = ConfigDict(extra="forbid")

    send_at: datetime | None = Field(
        None, description="start then (UTC if no offset); now if unset"
    )
    local_time: str | None = Field(
        None, description="HH:MM in each recipient's own time zone, on send_at's day"
    )
    missed_local_time: Literal["next", "skip"] = Field(
        "next", description="a recipient whose local time has passed: next day, or skip"
    )
    throttle_per_minute: int | None = Field(None, ge=1, le=1_000_000)
    expires_at: datetime | None = Field(None, description="not handed over by then: skipped")
    max_failure_rate: float | None = Field(
        None, gt=0, le=100, description="pause when more than this % of the last 500 sends failed"
    )

    @field_validator("local_time")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        return _clock(value)


class CampaignIn(Delivery):
    name: RefName
    sender: str | int | None = Field(None, description="sender name or id; default sender if unset")
    category: Category = "promotional"
    template: str | int | None = Field(None, description="a saved template, by name or id")
    template_version: int | None = Field(
        None, ge=1, description="pin this version (default: current)"
    )
    body: str | None = Field(None, min_length=1, max_length=5000, description="an inline text")
    variants: list[Variant] = Field(default_factory=list, max_length=10)
    control_percent: int = Field(0, ge=0, le=50)
    audience: Audience
    click_tracking: bool = False
    labels: list[str] = Field(default_factory=list, max_length=20)
    quiet_hours: dict[str, Any] | None = None
    frequency_caps: list[Any] | None = None


class CampaignChange(BaseModel):
    """A change to a draft or a scheduled campaign not yet started: only the
    fields given change (``null`` clears an optional one)."""

    model_config = ConfigDict(extra="forbid")

    name: RefName | None = None
    sender: str | int | None = None
    category: Category | None = None
    template: str | int | None = None
    template_version: int | None = Field(None, ge=1)
    body: str | None = Field(None, min_length=1, max_length=5000)
    variants: list[Variant] | None = Field(None, max_length=10)
    control_percent: int | None = Field(None, ge=0, le=50)
    audience: Audience | None = None
    click_tracking: bool | None = None
    labels: list[str] | None = Field(None, max_length=20)
    quiet_hours: dict[str, Any] | None = None
    frequency_caps: list[Any] | None = None
    send_at: datetime | None = None
    local_time: str | None = None
    missed_local_time: Literal["next", "skip"] | None = None
    throttle_per_minute: int | None = Field(None, ge=1, le=1_000_000)
    expires_at: datetime | None = None
    max_failure_rate: float | None = Field(None, gt=0, le=100)

    @field_validator("local_time")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        return _clock(value)


class TestSend(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phones: list[str] = Field(min_length=1, max_length=20)
    variant: str | None = Field(None, description="the variant to send (default: the first)")
