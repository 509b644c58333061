"""Plain templates (text and ``{{ contact.x }}`` fields) render without Jinja:
the text and the errors must be exactly Jinja's, for any contact."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textcast.content.render import (
    MAX_OUTPUT,
    Compiled,
    RenderError,
    compile_template,
    contact_scope,
)

KEYS = ("first_name", "city", "plan", "tags", "phone", "country", "items", "attributes")
TEXT = st.text(alphabet=st.characters(blacklist_characters="{}%#"), max_size=12)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner),
    max_leaves=5,
)


@st.composite
def fields(draw: Any) -> str:
    key = draw(st.sampled_from(KEYS))
    shape = draw(st.sampled_from(["{{ contact.%s }}", "{{contact.%s}}", "{{- contact.%s -}}"]))
    field = shape % key
    default = draw(st.none() | st.sampled_from(['"there"', "''", "42", "none", ""]))
    if default is not None:
        name = draw(st.sampled_from(["default", "d"]))
        field = field.replace(key, f"{key} | {name}({default})" if default else f"{key} | {name}")
    return field


SOURCES = st.lists(TEXT | fields(), min_size=1, max_size=6).map("".join)


def jinja(compiled: Compiled) -> Compiled:
    return dataclasses.replace(compiled, pieces=None)


def outcome(compiled: Compiled, contact: Any) -> tuple[str, str | None]:
    try:
        return "text", compiled.render(contact, {}, None)
    except RenderError as exc:
        return f"error: {exc}", exc.variable


@settings(max_examples=400, deadline=None)
@given(source=SOURCES, attributes=st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=4))
def test_a_plain_template_renders_as_jinja_does(source: str, attributes: dict[str, Any]) -> None:
    compiled = compile_template(source)
    assert compiled.pieces is not None, "a plain template takes the plain path"
    contact = contact_scope(phone="+15550001111", attributes=attributes, country="US")
    assert outcome(compiled, contact) == outcome(jinja(compiled), contact)


@pytest.mark.parametrize(
    "source",
    [
        "{% if contact.plan %}gold{% endif %}",
        "{{ contact.first_name | upper }}",
        "{{ contact.first_name | default('x', true) }}",
        "{{ contact.first_name | default(contact.city) }}",
        "{{ data.code }}",
        "{{ contact['first_name'] }}",
        "{{ contact.attributes.first_name }}",
        "{{ 'literal' }}",
    ],
)
def test_anything_more_than_fields_is_left_to_jinja(source: str) -> None:
    assert compile_template(source).pieces is None


def test_a_missing_field_names_its_path_and_a_long_text_is_refused() -> None:
    contact = contact_scope(phone="+15550001111", attributes={"big": "x" * MAX_OUTPUT})
    with pytest.raises(RenderError) as missing:
        compile_template("Hi {{ contact.first_name }}").render(contact, {}, None)
    assert missing.value.variable == "contact.first_name"
    with pytest.raises(RenderError, match="longer than"):
        compile_template("{{ contact.big }}!").render(contact, {}, None)


def test_a_value_python_cannot_write_is_the_render_error_jinja_gives() -> None:
    contact = contact_scope(phone="+15550001111", attributes={"big": 10**5000})
    compiled = compile_template("{{ contact.big }}")
    assert compiled.pieces is not None
    assert outcome(compiled, contact) == outcome(jinja(compiled), contact)
    assert outcome(compiled, contact)[0].startswith("error: cannot render")
