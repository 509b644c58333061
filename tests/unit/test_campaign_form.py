"""The campaign wizard's form: what it hands the campaign service (the API's
shape, accepted by its model), a saved campaign read back into the form, and
a service refusal's field mapped to the input and step showing it."""

from __future__ import annotations

from typing import Any

import pytest

from textcast.campaigns import policies
from textcast.campaigns.spec import CampaignChange, CampaignIn
from textcast.dashboard.pages import campaign_form as cf


def form(**given: str) -> dict[str, str]:
    return dict.fromkeys(cf.ALL_FIELDS, "") | cf.DEFAULTS | given


def test_a_segment_and_a_body_sent_now() -> None:
    data = cf.payload(form(name="spring", segment="vip", body="Hello"))
    assert data["audience"] == {"segment": "vip"}
    assert (data["body"], data["template"], data["variants"]) == ("Hello", None, [])
    assert data["send_at"] is None and data["local_time"] is None
    assert data["quiet_hours"] is None and data["frequency_caps"] is None
    CampaignIn.model_validate(data)


def test_phone_numbers_variants_local_time_quiet_hours_and_a_cap() -> None:
    values = form(
        name="ab",
        audience_kind="phones",
        phones="+14155552671, +14155552672\n+14155552673",
        body="ignored while variants are on",
        ab="true",
        v1_name="a",
        v1_percent="40",
        v1_body="Hi",
        v2_name="b",
        v2_percent="60",
        v2_kind="template",
        v2_template="welcome",
        control_percent="10",
        click_tracking="true",
        when="local",
        send_day="2030-05-01",
        local_time="09:30",
        missed_local_time="skip",
        throttle_per_minute="600",
        max_failure_rate="2.5",
        qh_mode="custom",
        qh_from="21:00",
        qh_until="08:00",
        caps="2/24h, 3/week",
    )
    data = cf.payload(values)
    assert data["audience"] == {"phones": ["+14155552671", "+14155552672", "+14155552673"]}
    assert data["body"] is None and data["template"] is None
    assert data["variants"] == [
        {"name": "a", "template": None, "body": "Hi", "percent": 40},
        {"name": "b", "template": "welcome", "body": None, "percent": 60},
    ]
    assert (data["control_percent"], data["click_tracking"]) == (10, True)
    assert (data["send_at"], data["local_time"]) == ("2030-05-01T00:00:00", "09:30")
    assert (data["throttle_per_minute"], data["max_failure_rate"]) == (600, 2.5)
    assert data["quiet_hours"] == {"from": "21:00", "until": "08:00", "inside": "defer"}
    assert data["frequency_caps"] == ["2/24h", "3/week"]  # the service reads each one
    CampaignIn.model_validate(data)


def test_what_the_form_cannot_read_goes_to_the_service_as_typed() -> None:
    data = cf.payload(form(name="x", segment="vip", body="Hi", throttle_per_minute="fast"))
    assert data["throttle_per_minute"] == "fast"  # the model refuses it, naming the field
    with pytest.raises(ValueError, match="throttle_per_minute"):
        CampaignIn.model_validate(data)


def view(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "spring",
        "audience": {"segment": 3},
        "sender_id": 2,
        "category": "transactional",
        "template_id": None,
        "body": "Hello",
        "variants": [],
        "control_percent": 5,
        "click_tracking": True,
        "local_time": None,
        "send_at": "2030-05-01T10:15:00+00:00",
        "missed_local_time": "next",
        "throttle_per_minute": 60,
        "max_failure_rate": None,
        "expires_at": None,
        "quiet_hours": {"off": True},
        "frequency_caps": None,
    }
    return base | changes


def test_a_saved_campaign_reads_back_into_the_form_and_out_the_same() -> None:
    values = cf.from_view(view(), "vip", {})
    assert (values["segment"], values["sender"], values["when"]) == ("vip", "2", "at")
    assert values["send_at"] == "2030-05-01T10:15"
    data = cf.payload(values)
    assert data["audience"] == {"segment": "vip"}
    assert data["quiet_hours"] == {"off": True}
    assert (data["control_percent"], data["throttle_per_minute"]) == (5, 60)
    CampaignChange.model_validate(data)


def test_variants_read_back_with_their_templates_by_name() -> None:
    arms = [
        {"name": "a", "template_id": 7, "template_version": 2, "body": None, "percent": 30},
        {"name": "b", "template_id": None, "template_version": None, "body": "Hi", "percent": 70},
    ]
    values = cf.from_view(view(body=None, variants=arms), "vip", {7: "welcome"})
    assert (values["ab"], values["v1_kind"], values["v1_template"]) == (
        "true",
        "template",
        "welcome",
    )
    assert (values["v2_kind"], values["v2_body"], values["v2_percent"]) == ("body", "Hi", "70")
    assert cf.payload(values)["variants"] == [
        {"name": "a", "template": "welcome", "body": None, "percent": 30},
        {"name": "b", "template": None, "body": "Hi", "percent": 70},
    ]


def test_what_the_api_set_reads_back_and_out_unchanged() -> None:
    """Caps of every kind, more variants than three rows, and quiet hours that
    ignore the law's windows: an edit in the wizard keeps each as it was."""
    caps = [{"limit": 1, "hours": 24}, {"limit": 3, "per": "week"}, {"limit": 9, "hours": 168}]
    arms = [
        {"name": f"v{i}", "template_id": None, "template_version": None, "body": f"Hi {i}",
         "percent": 20}
        for i in range(5)
    ]  # fmt: skip
    quiet = {"from": "20:00", "until": "09:00", "inside": "skip", "follow_law": False}
    values = cf.from_view(
        view(body=None, variants=arms, frequency_caps=caps, quiet_hours=quiet), "vip", {}
    )
    assert values["caps"] == "1/24h, 3/week, 9/168h"
    assert list(cf.variant_rows(values)) == [1, 2, 3, 4, 5, 6]  # each filled, and one more
    data = cf.payload(values)
    assert policies.caps_json(data["frequency_caps"]) == caps
    assert [arm["body"] for arm in data["variants"]] == [f"Hi {i}" for i in range(5)]
    assert data["quiet_hours"] == quiet
    assert list(cf.variant_rows(form())) == [1, 2, 3]


def test_an_audience_set_through_the_api_is_left_alone_by_a_change() -> None:
    values = cf.from_view(
        view(audience={"rules": {"field": "tags", "op": "has", "value": "vip"}}), None, None
    )
    assert values["audience_kind"] == cf.KEEP
    data = cf.payload(values)
    assert "audience" not in data
    assert "audience" not in CampaignChange.model_validate(data).model_fields_set


@pytest.mark.parametrize(
    ("field", "name", "step"),
    [
        ("name", "name", "audience"),
        ("audience", "audience_kind", "audience"),
        ("audience.segment", "segment", "audience"),
        ("audience.phones[2]", "phones", "audience"),
        ("variants", "variants", "content"),
        ("variants[1].template", "v2_template", "content"),
        ("variants[0].template_version", "v1_template", "content"),
        ("variants.0.percent", "v1_percent", "content"),
        ("variants.2", "v3_name", "content"),
        ("body", "body", "content"),
        ("template_version", "template", "content"),
        ("expires_at", "expires_at", "schedule"),
        ("quiet_hours.from", "qh_from", "schedule"),
        ("quiet_hours", "qh_mode", "schedule"),
        ("frequency_caps[0].hours", "caps", "schedule"),
        ("frequency_caps[1]", "caps", "schedule"),
        ("sender", "sender", "content"),
        ("form", "form", "review"),
    ],
)
def test_a_refusal_lands_on_its_input_and_step(field: str, name: str, step: str) -> None:
    assert cf.form_field(field) == name
    assert cf.step_of(name) == step
