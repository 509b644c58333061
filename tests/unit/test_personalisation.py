"""Personalisation in the sandbox: what a template may do, what it may not,
and what a recipient gets."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from textcast import sms_segments
from textcast.content.preview import preview, worst_case
from textcast.content.render import (
    MAX_OUTPUT,
    RenderError,
    compile_template,
    contact_scope,
    missing_variables,
)
from textcast.errors import ValidationFailed

ANA = contact_scope(
    phone="+14155550100",
    attributes={"first_name": "Ana", "plan": "gold", "renewal": "2026-12-31T23:30:00+00:00"},
    tags=["vip"],
    country="US",
)


def render(source: str, contact: object = ANA, data: dict[str, object] | None = None) -> str:
    return compile_template(source).render(contact, data or {}, None)  # type: ignore[arg-type]


def test_attributes_read_directly_or_through_attributes() -> None:
    text = render(
        "Hi {{ contact.first_name }} ({{ contact.attributes.plan }}, {{ contact.phone }})"
    )
    assert text == "Hi Ana (gold, +14155550100)"


def test_a_default_covers_a_missing_attribute() -> None:
    nameless = contact_scope(phone="+14155550100", attributes={})
    assert render('Hi {{ contact.first_name | default("there") }}', nameless) == "Hi there"


def test_a_missing_variable_without_default_names_itself() -> None:
    with pytest.raises(RenderError) as raised:
        render("Your plan: {{ contact.attributes.tier }}")
    assert raised.value.variable == "contact.attributes.tier"
    with pytest.raises(RenderError) as raised:
        render("Code {{ data.code }}")
    assert raised.value.variable == "data.code"


def test_a_preview_lists_every_missing_variable() -> None:
    compiled = compile_template("{{ contact.city }} {{ data.order.id }} {{ contact.first_name }}")
    assert missing_variables(compiled, ANA, {}) == ["contact.city", "data.order.id"]


def test_caller_data_and_conditions() -> None:
    source = "{% if contact.plan == 'gold' %}Gold {% endif %}order {{ data.order }}"
    assert render(source, data={"order": "A-17"}) == "Gold order A-17"


def test_an_attribute_named_like_a_dict_method_is_the_attribute() -> None:
    contact = contact_scope(phone="+14155550100", attributes={"items": "3 books", "keys": "2"})
    assert render("{{ contact.items }} / {{ contact.keys }}", contact) == "3 books / 2"


def test_a_nested_value_is_the_same_record_however_often_read() -> None:
    home = contact_scope(phone="+14155550100", attributes={"address": {"city": "Oslo"}})
    assert render("{{ contact.address == contact.address }}", home) == "True"
    assert render("{{ contact.address.city }}, {{ contact.address }}", home) == "Oslo, city=Oslo"


def test_dates_are_shown_in_the_contacts_zone() -> None:
    compiled = compile_template('{{ contact.renewal | date("%d %b %H:%M") }}')
    assert compiled.render(ANA, {}, ZoneInfo("UTC")) == "31 Dec 23:30"
    assert compiled.render(ANA, {}, ZoneInfo("Asia/Kolkata")) == "01 Jan 05:00"


def test_a_missing_date_is_named_like_any_missing_variable() -> None:
    with pytest.raises(RenderError) as raised:
        render('{{ contact.expiry | date("%d %b") }}')
    assert raised.value.variable == "contact.expiry"
    assert render('{{ contact.expiry | default("2027-01-02") | date("%d %b") }}') == "02 Jan"
    source = '{{ contact.expiry | date("%d %b") }} {{ data.code }}'
    assert missing_variables(compile_template(source), ANA, {}) == ["contact.expiry", "data.code"]


@pytest.mark.parametrize(
    ("source", "refused"),
    [
        ("{{ ''.__class__ }}", "'__class__' is not a field"),
        ("{{ contact.__class__.__mro__ }}", "is not a field"),
        ("{% for i in range(10**9) %}x{% endfor %}", "loops"),
        ("{{ range(10**9) | length }}", "function calls"),
        ("{{ 'x' * 1000000000 }}", "multiplication"),
        ("{{ 9 ** 9 ** 9 }}", "powers"),
        ("{% set x = 1 %}", "set"),
        ("{{ cycler }}", "unknown name"),
        ("{{ contact.first_name | center(1000000000) }}", "unknown filter"),
        ("{% macro m() %}{% endmacro %}", "macros"),
        ("{% include 'x' %}", "Include"),
        ("{{ contact.first_name", "syntax error"),
    ],
)
def test_what_could_escape_or_stall_is_refused_when_saved(source: str, refused: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        compile_template(source)
    assert refused in raised.value.message


def test_output_is_capped() -> None:
    long = contact_scope(phone="+1", attributes={"essay": "x" * (MAX_OUTPUT + 1)})
    with pytest.raises(RenderError, match="longer than"):
        render("{{ contact.essay }}", long)


def test_a_curly_quote_in_a_first_name_turns_the_message_unicode() -> None:
    # The template is plain GSM-7; one contact's data is not.
    compiled = compile_template("Hi {{ contact.first_name }}, your order has shipped.")
    plain = preview(compiled, ANA, {}, None)
    curly = preview(
        compiled, contact_scope(phone="+1", attributes={"first_name": "D’Arcy"}), {}, None
    )
    assert (plain.encoding, plain.unicode_characters) == ("GSM-7", [])
    assert (curly.encoding, curly.unicode_characters) == ("UCS-2", ["’"])
    assert curly.segments == sms_segments.analyze(curly.text or "").segments
    assert worst_case([plain, curly]) == {
        "sampled": 2, "max_segments": 1, "ucs2": 1, "render_errors": 0
    }  # fmt: skip


def test_the_unsubscribe_text_counts_toward_the_segments() -> None:
    compiled = compile_template("x" * 150)
    assert preview(compiled, ANA, {}, None).segments == 1
    shown = preview(compiled, ANA, {}, None, unsubscribe_text="Reply STOP to opt out")
    assert shown.text is not None and shown.text.endswith("\nReply STOP to opt out")
    assert shown.segments == 2
