"""Generic HTTP placeholders: replaced once, encoded for where they land."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from textcast.errors import ValidationFailed
from textcast.providers.base import OutboundMessage
from textcast.providers.generic_http import GenericConfig, GenericHttpProvider, GenericSecrets
from textcast.providers.http_template import TemplateError, json_path, render

TRICKY = 'He said "hi" & left; 1+1=2, 100% sure\nnew line, tab\t, emoji 😀, $$To stays'


def provider(**config: object) -> GenericHttpProvider:
    payload = {"url": "https://sms.example.com/send", **config}
    cfg, secrets = GenericHttpProvider.from_payload(payload)
    assert isinstance(cfg, GenericConfig) and isinstance(secrets, GenericSecrets)
    return GenericHttpProvider(cfg, secrets)


def message(body: str = TRICKY) -> OutboundMessage:
    return OutboundMessage(1, "+919876543210", body, "alphanumeric", "TXTCST")


def test_get_puts_percent_encoded_values_in_the_query() -> None:
    p = provider(
        method="GET",
        url="https://sms.example.com/rest?to=$$To&text=$$Body",
        params={"from": "$$From"},
    )
    url, _, body = p.build_request(message())
    query = parse_qs(urlsplit(url).query)
    assert body is None
    assert query == {"to": ["+919876543210"], "text": [TRICKY], "from": ["TXTCST"]}
    assert " " not in url and "\n" not in url


def test_form_post_round_trips_the_body() -> None:
    p = provider(params={"mobile": "$$To", "content": "$$Body"}, to_format="e164_no_plus")
    _, headers, body = p.build_request(message())
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert body is not None
    assert parse_qs(body.decode(), keep_blank_values=True) == {
        "mobile": ["919876543210"],
        "content": [TRICKY],
    }


def test_json_params_and_json_templates_escape_correctly() -> None:
    p = provider(body_format="json", params={"to": "$$To", "text": "$$Body"})
    _, headers, body = p.build_request(message())
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body or b"") == {"to": "+919876543210", "text": TRICKY}
    templated = provider(
        body_format="json", body='{"messages": [{"to": "$$To", "text": "$$Body"}]}'
    )
    _, _, body = templated.build_request(message())
    assert json.loads(body or b"") == {"messages": [{"to": "+919876543210", "text": TRICKY}]}


def test_secrets_are_referenced_not_inlined() -> None:
    p = provider(headers={"X-Key": "$$Secret.key"}, credentials={"key": "s3cr3t"})
    _, headers, _ = p.build_request(message("x"))
    assert headers["X-Key"] == "s3cr3t"
    assert "s3cr3t" not in json.dumps(p.config.model_dump())


def test_unknown_secret_reference_is_refused_at_save_time() -> None:
    with pytest.raises(ValidationFailed) as caught:
        provider(headers={"X-Key": "$$Secret.missing"})
    assert caught.value.field == "credentials"


def test_placeholders_are_case_sensitive_and_header_line_breaks_refused() -> None:
    assert render("$$to $$BODY $$To", {"To": "+1"}) == "$$to $$BODY +1"
    p = provider(headers={"X-Text": "$$Body"})
    with pytest.raises(TemplateError):
        p.build_request(message("a\r\nInjected: yes"))


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"url": "ftp://x.example"}, "url"),
        ({"method": "GET", "body": "x"}, "body"),
        ({"method": "PUT"}, "method"),
        ({"success": {"regex": "("}}, "success.regex"),
        ({"preset": "nope"}, "preset"),
        ({"preset": "plivo", "credentials": {"auth_id": "MA1"}}, "credentials.auth_token"),
    ],
)
def test_bad_definitions_name_the_field(payload: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        GenericHttpProvider.from_payload({"url": "https://sms.example.com/x", **payload})
    assert caught.value.field.startswith(field.split(".")[0])


def test_json_path_reads_nested_values() -> None:
    doc = {"a": {"b": [{"c": 1}, {"c": 2}]}, "list": ["x"]}
    assert json_path(doc, "$.a.b.1.c") == 2
    assert json_path(doc, "a.b[0].c") == 1
    assert json_path(doc, "list.0") == "x"
    assert json_path(doc, "a.missing.c") is None
    assert json_path([{"id": "9"}], "0.id") == "9"


@given(st.text(max_size=300))
def test_any_body_arrives_intact_in_every_encoding(body: str) -> None:
    form = provider(params={"t": "$$Body"})
    assert parse_qs(form.build_request(message(body))[2].decode(), keep_blank_values=True).get(
        "t", [""]
    ) == [body]  # type: ignore[union-attr]
    js = provider(body_format="json", body='{"t": "$$Body"}')
    assert json.loads(js.build_request(message(body))[2] or b"") == {"t": body}
    get = provider(method="GET", params={"t": "$$Body"})
    assert parse_qs(
        urlsplit(get.build_request(message(body))[0]).query, keep_blank_values=True
    ).get("t", [""]) == [body]
