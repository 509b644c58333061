"""A campaign's quiet hours and frequency caps, from the installation's
settings and the campaign's own override (stored as JSON on the campaign).

Caps: ``[{"limit": 2, "hours": 24}, {"limit": 5, "per": "week"}]``; a
campaign's caps are added to the installation's and may only be stricter
(:func:`textcast.policy.frequency.stricter_only`), unless the campaign is
transactional, whose messages bypass caps anyway.

Quiet hours: ``{"from": "21:00", "until": "08:00", "inside": "defer"|"skip",
"follow_law": true}``, or ``{"off": true}`` for none of the operator's own
(country law still applies to promotional messages).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast, get_args

from textcast.config import Settings
from textcast.errors import ValidationFailed
from textcast.policy.frequency import Calendar, FrequencyCap, caps_of_setting, stricter_only
from textcast.policy.quiet_hours import (
    ALWAYS_OPEN,
    QuietHours,
    SendingWindow,
    clock,
    window_of_setting,
)


def cap_of(raw: object, field: str) -> FrequencyCap:
    """One cap as the API takes it: ``{"limit": N, "hours": H}``,
    ``{"limit": N, "per": "day"|"week"|"month"}``, or the same written as the
    installation's caps are (``"2/24h"``, ``"3/7d"``, ``"5/week"``)."""
    if isinstance(raw, str):
        return cap_of(_cap_json(_one_cap(raw, field)), field)
    if not isinstance(raw, dict) or not raw.keys() <= {"limit", "hours", "per"}:
        raise ValidationFailed(
            field, 'give {"limit": N, "hours": H}, {"limit": N, "per": P} or "N/24h", "N/week"'
        )
    limit = raw.get("limit")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= 1000:
        raise ValidationFailed(f"{field}.limit", "must be a whole number from 0 to 1000")
    hours, per = raw.get("hours"), raw.get("per")
    if (hours is None) == (per is None):
        raise ValidationFailed(field, "give either hours (rolling) or per (day, week, month)")
    if hours is not None:
        if not isinstance(hours, int) or isinstance(hours, bool) or not 1 <= hours <= 24 * 90:
            raise ValidationFailed(f"{field}.hours", "must be a whole number of hours, 1 to 2160")
        return FrequencyCap(limit, rolling=timedelta(hours=hours))
    if per not in get_args(Calendar):
        raise ValidationFailed(f"{field}.per", "must be day, week or month")
    return FrequencyCap(limit, calendar=cast(Calendar, per))


def caps_json(raw: object, field: str = "frequency_caps") -> list[dict[str, Any]]:
    """Checked caps as stored, each as an object (each one parsed, so a bad
    one is refused when saved)."""
    if not isinstance(raw, list) or len(raw) > 10:
        raise ValidationFailed(field, "must be a list of at most 10 caps")
    return [_cap_json(cap_of(item, f"{field}[{index}]")) for index, item in enumerate(raw)]


def _one_cap(text: str, field: str) -> FrequencyCap:
    found = caps_of_setting(text, field)
    if len(found) != 1:
        raise ValidationFailed(field, "one cap per entry, e.g. 2/24h or 5/week")
    return found[0]


def _cap_json(cap: FrequencyCap) -> dict[str, Any]:
    if cap.calendar is not None:
        return {"limit": cap.limit, "per": cap.calendar}
    assert cap.rolling is not None
    return {"limit": cap.limit, "hours": int(cap.rolling.total_seconds() // 3600)}


def cap_text(stored: dict[str, Any]) -> str:
    """A stored cap written as the installation's are (``2/24h``, ``5/week``)."""
    if stored.get("per"):
        return f"{stored['limit']}/{stored['per']}"
    return f"{stored['limit']}/{stored['hours']}h"


def installation_caps(settings: Settings) -> list[FrequencyCap]:
    return caps_of_setting(settings.frequency_caps, "TEXTCAST_FREQUENCY_CAPS")


def check_settings(settings: Settings) -> None:
    """Read the installation's caps and quiet hours once, at start-up: a
    setting that cannot be read is refused then, naming it, not when the
    first campaign is saved or fanned out."""
    installation_caps(settings)
    quiet_hours(settings, None)


def campaign_caps(
    settings: Settings,
    own: list[Any] | None,
    category: str,
    *,
    refuse_looser: bool = True,
) -> list[FrequencyCap]:
    """Every cap binding the campaign's messages: the installation's, then its
    own. A campaign's own cap looser than the installation's is refused when
    the campaign is saved; when it is fanned out (``refuse_looser=False``) it
    is kept, harmless, since the installation's caps bind as well: an admin who
    tightens them must not fail the campaigns already sending."""
    base = installation_caps(settings)
    mine = [cap_of(item, f"frequency_caps[{i}]") for i, item in enumerate(own or [])]
    if category != "transactional" and refuse_looser:
        stricter_only(base, mine)
    return base + mine


def quiet_hours_json(raw: object, field: str = "quiet_hours") -> dict[str, Any]:
    if not isinstance(raw, dict) or not raw.keys() <= {
        "from",
        "until",
        "inside",
        "follow_law",
        "off",
    }:
        raise ValidationFailed(field, "keys: from, until, inside, follow_law, off")
    if not raw.get("off"):
        clock(raw.get("from"), f"{field}.from")
        clock(raw.get("until"), f"{field}.until")
    if raw.get("inside", "defer") not in ("defer", "skip"):
        raise ValidationFailed(f"{field}.inside", "must be defer or skip")
    if not isinstance(raw.get("follow_law", True), bool):
        raise ValidationFailed(f"{field}.follow_law", "must be true or false")
    return dict(raw)


def quiet_hours(settings: Settings, own: dict[str, Any] | None) -> QuietHours:
    """The campaign's quiet hours: its own override, else the installation's."""
    if own is not None:
        window = (
            ALWAYS_OPEN
            if own.get("off")
            else SendingWindow.outside_quiet(
                clock(own["from"], "quiet_hours.from"), clock(own["until"], "quiet_hours.until")
            )
        )
        return QuietHours(
            window=window,
            inside=own.get("inside", "defer"),
            follow_law=bool(own.get("follow_law", True)),
        )
    window = window_of_setting(settings.quiet_hours, "TEXTCAST_QUIET_HOURS")
    return QuietHours(window=window, inside=settings.quiet_hours_inside)
