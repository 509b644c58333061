"""Generic HTTP placeholders: replaced once, encoded for where they land, and
definitions refused at save time with the field at fault named."""

import json
import re
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from textcast.errors import ProviderError, ValidationFailed
from textcast.providers.base import OutboundMessage
from textcast.providers.generic.answers import ResponseRule, json_path
from textcast.providers.generic.config import GenericConfig, GenericSecrets
from textcast.providers.generic.presets import PRESETS, list_presets
from textcast.providers.generic.provider import GenericHttpProvider
from textcast.providers.generic.template import TemplateError, render
from textcast.providers.http import HttpClient, parse_retry_after

TRICKY = 'He said "hi" & left; 1+1=2, 100% sure\\n\nnew line, tab\t, emoji 😀, $$To stays'


def provider(**config: Any) -> GenericHttpProvider:
    payload = {"url": "https://sms.example.com/send", **config}
    cfg, secrets = GenericHttpProvider.from_payload(payload)
    return GenericHttpProvider(cfg, secrets)


def message(body: str = TRICKY) -> OutboundMessage:
    return OutboundMessage(1, "+919876543210", body, "alphanumeric", "TXTCST")


def form_fields(body: bytes | None) -> dict[str, list[str]]:
    assert body is not None
    return parse_qs(body.decode(), keep_blank_values=True, strict_parsing=True)


def test_get_puts_percent_encoded_values_in_the_query() -> None:
    p = provider(
        method="GET",
        url="https://sms.example.com/rest?to=$$To&text=$$Body",
        params={"from": "$$From"},
    )
    url, _, body = p.build_request(message())
    assert body is None
    assert parse_qs(urlsplit(url).query) == {
        "to": ["+919876543210"],
        "text": [TRICKY],
        "from": ["TXTCST"],
    }
    # Only unreserved characters and escapes: "+" would read as a space, "&" split a field.
    assert re.fullmatch(r"[A-Za-z0-9._~%&=-]*", urlsplit(url).query)


def test_form_post_round_trips_the_body() -> None:
    p = provider(params={"mobile": "$$To", "content": "$$Body"}, to_format="e164_no_plus")
    _, headers, body = p.build_request(message())
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form_fields(body) == {"mobile": ["919876543210"], "content": [TRICKY]}


def test_a_form_body_template_is_form_encoded() -> None:
    p = provider(body="to=$$To&text=$$Body&fixed=a+b")
    _, headers, body = p.build_request(message())
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form_fields(body) == {"to": ["+919876543210"], "text": [TRICKY], "fixed": ["a b"]}


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


def test_raw_templates_escape_by_content_type() -> None:
    as_json = provider(
        body_format="raw", content_type="application/vnd.api+json", body='{"t": "$$Body"}'
    )
    _, headers, body = as_json.build_request(message())
    assert headers["Content-Type"] == "application/vnd.api+json"
    assert json.loads(body or b"") == {"t": TRICKY}
    as_text = provider(body_format="raw", body="<sms to='$$To'>$$Body</sms>")
    _, headers, body = as_text.build_request(message())
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert body == f"<sms to='+919876543210'>{TRICKY}</sms>".encode()


def test_a_content_type_header_is_not_doubled() -> None:
    p = provider(headers={"content-type": "application/json"}, body_format="json", params={})
    _, headers, _ = p.build_request(message())
    assert headers.getall("Content-Type") == ["application/json"]


def test_secrets_and_the_sender_are_substituted_but_secrets_stay_out_of_the_config() -> None:
    p = provider(
        headers={"X-Key": "$$Secret.key", "X-From": "$$From"},
        auth={"username": "user", "password": "pw"},
        credentials={"key": "s3cr3t"},
    )
    _, headers, _ = p.build_request(message("x"))
    assert (headers["X-Key"], headers["X-From"]) == ("s3cr3t", "TXTCST")
    assert headers["Authorization"] == "Basic dXNlcjpwdw=="
    stored = json.dumps(p.config.model_dump())
    assert "s3cr3t" not in stored and "pw" not in stored


def test_the_template_id_is_encoded_for_where_it_lands() -> None:
    tricky_id = "DLT 1107/16&x=1"
    templated = message("x")
    templated.template_id = tricky_id
    in_url = provider(method="GET", url="https://sms.example.com/s?tid=$$TemplateId")
    url, _, _ = in_url.build_request(templated)
    assert parse_qs(urlsplit(url).query) == {"tid": [tricky_id]}
    in_form = provider(params={"to": "$$To", "tid": "$$TemplateId"})
    assert form_fields(in_form.build_request(templated)[2])["tid"] == [tricky_id]
    in_json = provider(body_format="json", body='{"t": "$$TemplateId", "b": "$$Body"}')
    assert json.loads(in_json.build_request(templated)[2] or b"")["t"] == tricky_id
    in_header = provider(headers={"X-Template": "$$TemplateId"})
    assert in_header.build_request(templated)[1]["X-Template"] == tricky_id


def test_a_template_id_parameter_is_left_out_or_defaulted_when_the_message_has_none() -> None:
    bare = provider(params={"to": "$$To", "tid": "$$TemplateId"})
    assert "tid" not in form_fields(bare.build_request(message("x"))[2])
    defaulted = provider(params={"tid": "$$TemplateId"}, default_template_id="1107")
    assert form_fields(defaulted.build_request(message("x"))[2]) == {"tid": ["1107"]}


def test_placeholders_are_case_sensitive_and_replaced_once() -> None:
    assert render("$$to $$BODY $$To", {"To": "+1"}) == "$$to $$BODY +1"
    assert render("$$Body", {"Body": "$$To", "To": "+1"}) == "$$To"


async def test_header_line_breaks_are_a_permanent_provider_error() -> None:
    p = provider(headers={"X-Text": "$$Body"})
    with pytest.raises(TemplateError):
        p.build_request(message("a\r\nInjected: yes"))
    # send() refuses before any I/O, so no session is needed.
    http = HttpClient(cast(aiohttp.ClientSession, None))
    with pytest.raises(ProviderError) as caught:
        await p.send(http, message("a\r\nInjected: yes"))
    assert caught.value.permanent and caught.value.code == "template"


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"url": "ftp://x.example"}, "url", "http"),
        ({"url": "https://key:token@x.example/"}, "url", "auth"),
        ({"method": "GET", "body": "x"}, "body", "GET"),
        ({"method": "PUT"}, "method", ""),
        ({"body_format": "raw"}, "body", "raw"),
        ({"params": {"a": "b"}, "body": "x"}, "body", "not both"),
        ({"headers": {"Bad Name": "x"}}, "headers", "header"),
        ({"success": {"regex": "("}}, "success", "regular expression"),
        ({"message_id": {"equals": "x"}}, "message_id", "json_path or regex"),
        ({"headers": {"X-Key": "$$Secret.missing"}}, "credentials", "$$Secret.missing"),
        ({"preset": "nope"}, "preset", "bulksms, exotel, msg91, nimbus, plivo, textlocal"),
        ({"preset": "plivo", "credentials": {"auth_id": "MA1"}}, "credentials.auth_token", "token"),
        (
            {"preset": "plivo", "credentials": {"auth_id": "$$To", "auth_token": "t"}},
            "credentials.auth_id",
            "$$",
        ),
        ({"preset": "textlocal", "credentials": {"apikey": "k"}, "base_url": "x"}, "base_url", ""),
        ({"auth": "user:pw"}, "auth", "username"),
    ],
)
def test_bad_definitions_name_the_field(payload: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        GenericHttpProvider.from_payload({"url": "https://sms.example.com/x", **payload})
    assert caught.value.field.startswith(field), caught.value
    assert words in caught.value.message


def test_every_preset_is_listed_with_its_fields_and_builds_valid_models() -> None:
    listed = {entry["name"]: entry for entry in list_presets()}
    assert (
        set(listed)
        == set(PRESETS)
        == {
            "msg91",
            "textlocal",
            "plivo",
            "bulksms",
            "exotel",
            "nimbus",
        }
    )
    for name, preset in PRESETS.items():
        assert listed[name]["docs_url"].startswith("https://")
        values = {f.name: f"v-{f.name}" for f in preset.fields if f.required}
        config, secrets = preset.configure(values)
        assert isinstance(config, GenericConfig) and isinstance(secrets, GenericSecrets)
        assert config.preset == name
        secret_values = {f"v-{f.name}" for f in preset.fields if f.secret}
        assert not secret_values & set(json.dumps(config.model_dump()).split('"'))


def test_json_path_reads_nested_values() -> None:
    doc = {"a": {"b": [{"c": 1}, {"c": 2}]}, "list": ["x"]}
    assert json_path(doc, "$.a.b.1.c") == 2
    assert json_path(doc, "a.b[0].c") == 1
    assert json_path(doc, "list.0") == "x"
    assert json_path(doc, "list.-1") == "x"
    assert json_path(doc, "a.missing.c") is None
    assert json_path(doc, "list.5") is None
    assert json_path([{"id": "9"}], "0.id") == "9"


def test_response_rules_read_json_or_regex() -> None:
    assert ResponseRule(json_path="$.ok", equals="true").holds("", {"ok": True})
    assert not ResponseRule(json_path="$.ok", equals="true").holds("", {"ok": False})
    assert ResponseRule(regex=r"id=(\w+)").extract("status=OK id=ab12", None) == "ab12"
    assert ResponseRule(regex=r"^OK").extract("OK 123", None) == "OK"
    assert ResponseRule(json_path="a").extract("", {"a": {"b": 1}}) is None


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@given(st.text(max_size=300))
def test_any_body_arrives_intact_in_every_encoding(body: str) -> None:
    form = provider(params={"t": "$$Body"})
    assert form_fields(form.build_request(message(body))[2]) == {"t": [body]}
    form_template = provider(body="t=$$Body")
    assert form_fields(form_template.build_request(message(body))[2]) == {"t": [body]}
    for js in (
        provider(body_format="json", params={"t": "$$Body"}),
        provider(body_format="json", body='{"t": "$$Body"}'),
        provider(body_format="raw", content_type="application/json", body='{"t": "$$Body"}'),
    ):
        assert json.loads(js.build_request(message(body))[2] or b"") == {"t": body}
    get = provider(method="GET", url="https://sms.example.com/s?a=$$Body", params={"t": "$$Body"})
    query = parse_qs(urlsplit(get.build_request(message(body))[0]).query, keep_blank_values=True)
    assert query == {"a": [body], "t": [body]}
