"""The installation's defaults as the API, the CLI's --json and the Settings
page show them: each value, where it comes from, and the environment's."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from textcast.config import Settings
from textcast.services.installation_defaults import FIELDS, Saved, effective


class DefaultOut(BaseModel):
    value: str = Field(description="what Textcast uses now")
    source: Literal["environment", "saved"] = Field(
        description="saved here (dashboard, API, CLI), or the environment's TEXTCAST_ setting"
    )
    environment: str = Field(description="the environment's value, used when none is saved")


class DefaultsOut(BaseModel):
    default_region: DefaultOut
    quiet_hours: DefaultOut
    quiet_hours_inside: DefaultOut
    frequency_caps: DefaultOut
    version: int = Field(description="grows with every saved change; 0 when none was saved")
    updated_at: str | None = Field(description="the last saved change (ISO 8601, UTC)")
    updated_by: str | None = Field(description="who made it")


def defaults_view(environment: Settings, saved: Saved) -> dict[str, Any]:
    now = effective(environment, saved)
    view: dict[str, Any] = {
        name: {
            "value": str(getattr(now, name)),
            "source": "saved" if name in saved.values else "environment",
            "environment": str(getattr(environment, name)),
        }
        for name in FIELDS
    }
    view["version"] = saved.version
    view["updated_at"] = saved.updated_at.isoformat() if saved.updated_at else None
    view["updated_by"] = saved.updated_by
    return view
