"""The campaign wizard's form: its fields by step, the payload the campaign
service takes (the API's :class:`~textcast.campaigns.spec.CampaignIn` shape),
a saved campaign read back into the form, and a service refusal's field
mapped to the input it is about. No rule is checked here: the service does."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData

from textcast.campaigns.policies import cap_text
from textcast.dashboard.pages.provider_forms import text

STEPS = ("audience", "content", "schedule", "review")
VARIANT_ROWS = 10  # A/B arms the form can carry, as many as the service takes
SHOWN_VARIANT_ROWS = 3  # rows shown at least; one more than those filled, when more
VARIANT_KEYS = ("name", "kind", "template", "body", "percent")
CHECKBOXES = ("click_tracking", "ab")
STEP_FIELDS: dict[str, tuple[str, ...]] = {
    "audience": ("name", "labels", "audience_kind", "segment", "phones", "contact_ids"),
    "content": (
        "sender",
        "category",
        "content_kind",
        "template",
        "body",
        "ab",
        *(f"v{i}_{key}" for i in range(1, VARIANT_ROWS + 1) for key in VARIANT_KEYS),
        "control_percent",
        "click_tracking",
    ),
    "schedule": (
        "when",
        "send_at",
        "send_day",
        "local_time",
        "missed_local_time",
        "throttle_per_minute",
        "expires_at",
        "max_failure_rate",
        "qh_mode",
        "qh_from",
        "qh_until",
        "qh_inside",
        "qh_law",
        "caps",
    ),
    "review": (),
}
ALL_FIELDS = tuple(name for fields in STEP_FIELDS.values() for name in fields)
DEFAULTS = {
    "audience_kind": "segment",
    "content_kind": "body",
    "category": "promotional",
    "control_percent": "0",
    "when": "now",
    "missed_local_time": "next",
    "qh_mode": "default",
    "qh_inside": "defer",
}
KEEP = "keep"
_PHONE_SPLIT = re.compile(r"[\s,;]+")


def values_of(form: FormData) -> dict[str, str]:
    """Every wizard field as the form sent it (hidden ones included)."""
    return {name: text(form, name) for name in ALL_FIELDS}


def _number(value: str) -> Any:
    """A number field: given to the service as typed (it says what is wrong)."""
    if not value:
        return None
    try:
        return float(value) if "." in value else int(value)
    except ValueError:
        return value


def phones_of(value: str) -> list[str]:
    return [p for p in _PHONE_SPLIT.split(value) if p]


def payload(v: dict[str, str]) -> dict[str, Any]:
    """The campaign as the API takes it, every field present (so a change
    clears what the form left empty)."""
    audience: dict[str, Any] = {}
    if v["audience_kind"] == "phones":
        audience["phones"] = phones_of(v["phones"])
    elif v["audience_kind"] == "contacts":
        # IDs as typed: the service refuses one that is not, naming it.
        audience["contacts"] = [_number(i) for i in phones_of(v["contact_ids"])]
    elif v["segment"]:
        audience["segment"] = v["segment"]
    variants = _variants(v) if v["ab"] == "true" else []
    by_template = v["content_kind"] == "template"
    when = v["when"] or "now"
    data: dict[str, Any] = {
        "name": v["name"],
        "labels": [label.strip() for label in v["labels"].split(",") if label.strip()],
        "sender": v["sender"] or None,
        "category": v["category"] or "promotional",
        "template": (v["template"] or None) if by_template and not variants else None,
        "template_version": None,
        "body": (v["body"] or None) if not by_template and not variants else None,
        "variants": variants,
        "control_percent": _number(v["control_percent"]) or 0,
        "audience": audience,
        "click_tracking": v["click_tracking"] == "true",
        "send_at": None,
        "local_time": None,
        "missed_local_time": v["missed_local_time"] or "next",
        "throttle_per_minute": _number(v["throttle_per_minute"]),
        "expires_at": v["expires_at"] or None,
        "max_failure_rate": _number(v["max_failure_rate"]),
        "quiet_hours": _quiet_hours(v),
        "frequency_caps": _caps(v),
    }
    if v["audience_kind"] == KEEP:
        del data["audience"]  # a change leaves it as it is
    if when == "at":
        data["send_at"] = v["send_at"] or None
    elif when == "local":
        data["local_time"] = v["local_time"] or None
        data["send_at"] = f"{v['send_day']}T00:00:00" if v["send_day"] else None
    return data


def _variants(v: dict[str, str]) -> list[dict[str, Any]]:
    found = []
    for i in range(1, VARIANT_ROWS + 1):
        row = {key: v[f"v{i}_{key}"] for key in VARIANT_KEYS}
        if not (row["name"] or row["body"] or row["template"]):
            continue  # an unused row
        by_template = row["kind"] == "template"
        found.append(
            {
                "name": row["name"],
                "template": (row["template"] or None) if by_template else None,
                "body": None if by_template else (row["body"] or None),
                "percent": _number(row["percent"]),
            }
        )
    return found


def _quiet_hours(v: dict[str, str]) -> dict[str, Any] | None:
    own: dict[str, Any]
    if v["qh_mode"] == "off":
        own = {"off": True}
    elif v["qh_mode"] == "custom":
        own = {"from": v["qh_from"], "until": v["qh_until"], "inside": v["qh_inside"] or "defer"}
    else:
        return None
    # Ignoring the law's windows is the API's to set (the form only shows it);
    # an edit keeps it as it was.
    if v["qh_law"] == "ignored":
        own["follow_law"] = False
    return own


def _caps(v: dict[str, str]) -> list[str] | None:
    """The caps as written (``1/24h, 3/week``): the service reads each one."""
    written = [part.strip() for part in v["caps"].split(",") if part.strip()]
    return written or None


def variant_rows(v: Mapping[str, str]) -> range:
    """The variant rows to show: at least three, and one more than the last
    filled (without JavaScript a fourth is added by saving three)."""
    filled = [
        i
        for i in range(1, VARIANT_ROWS + 1)
        if v.get(f"v{i}_name") or v.get(f"v{i}_body") or v.get(f"v{i}_template")
    ]
    last = max(filled, default=0)
    return range(1, min(VARIANT_ROWS, max(SHOWN_VARIANT_ROWS, last + 1)) + 1)


def from_view(
    view: dict[str, Any], segment_name: str | None, template_names: Mapping[int, str]
) -> dict[str, str]:
    """A saved campaign (:func:`textcast.views.campaigns.campaign_view`) as the
    form's values; templates by name (``template_names``: ID → name), as picked."""
    v = dict.fromkeys(ALL_FIELDS, "")
    v.update(DEFAULTS)
    audience = view["audience"]
    v["name"] = view["name"]
    v["labels"] = ", ".join(view.get("labels") or [])
    if "phones" in audience:
        v["audience_kind"], v["phones"] = "phones", "\n".join(audience["phones"])
    elif "contacts" in audience:
        v["audience_kind"] = "contacts"
        v["contact_ids"] = "\n".join(str(i) for i in audience["contacts"])
    elif "segment" not in audience:
        v["audience_kind"] = KEEP  # an unsaved rule tree, given through the API
    else:
        v["segment"] = segment_name or str(audience.get("segment", ""))
    v["sender"] = str(view["sender_id"] or "")
    v["category"] = view["category"]
    if view["template_id"] is not None:
        template_id = view["template_id"]
        v["content_kind"], v["template"] = "template", template_names.get(template_id, "")
    v["body"] = view["body"] or ""
    if view["variants"]:
        v["ab"] = "true"
        for i, arm in enumerate(view["variants"][:VARIANT_ROWS], start=1):
            v[f"v{i}_name"], v[f"v{i}_percent"] = arm["name"], str(arm["percent"])
            v[f"v{i}_kind"] = "template" if arm["template_id"] else "body"
            v[f"v{i}_template"] = template_names.get(arm["template_id"], "")
            v[f"v{i}_body"] = arm["body"] or ""
    v["control_percent"] = str(view["control_percent"])
    v["click_tracking"] = "true" if view["click_tracking"] else ""
    if view["local_time"]:
        v["when"], v["local_time"] = "local", view["local_time"]
        v["send_day"] = (view["send_at"] or "")[:10]
    elif view["send_at"]:
        v["when"], v["send_at"] = "at", view["send_at"][:16]
    v["missed_local_time"] = view["missed_local_time"]
    for key in ("throttle_per_minute", "max_failure_rate"):
        v[key] = "" if view[key] is None else str(view[key])
    v["expires_at"] = (view["expires_at"] or "")[:16]
    quiet = view["quiet_hours"]
    if quiet:
        v["qh_mode"] = "off" if quiet.get("off") else "custom"
        v["qh_from"], v["qh_until"] = quiet.get("from", ""), quiet.get("until", "")
        v["qh_inside"] = quiet.get("inside", "defer")
        v["qh_law"] = "" if quiet.get("follow_law", True) else "ignored"
    v["caps"] = ", ".join(cap_text(cap) for cap in view["frequency_caps"] or [])
    return v


_VARIANT_FIELD = re.compile(r"^variants[.\[](\d+)\]?\.?(\w+)?")


def form_field(field: str) -> str:
    """The input a service's field path is about (``audience.phones[2]`` → ``phones``)."""
    if found := _VARIANT_FIELD.match(field):
        row = int(found.group(1)) + 1
        key = (found.group(2) or "name").removesuffix("_version")
        return f"v{row}_{key}" if key in VARIANT_KEYS else f"v{row}_name"
    head = re.split(r"[.\[]", field, maxsplit=1)[0]
    if head == "audience":
        rest = field[len("audience") :].lstrip(".")
        if rest.startswith("contacts"):
            return "contact_ids"
        return "phones" if rest.startswith("phones") else ("segment" if rest else "audience_kind")
    if head == "quiet_hours":
        part = field.rsplit(".", 1)[-1]
        return {"from": "qh_from", "until": "qh_until", "inside": "qh_inside"}.get(part, "qh_mode")
    if head in ("frequency_caps", "TEXTCAST_FREQUENCY_CAPS"):
        return "caps"
    if head == "template_version":
        return "template"
    if head == "send_at":
        return "send_at"
    return head


def step_of(name: str) -> str:
    """The wizard step showing input ``name`` (an unknown one: the review)."""
    for step, fields in STEP_FIELDS.items():
        if name in fields or (name == "variants" and step == "content"):
            return step
    return "review"
