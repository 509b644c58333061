"""POST /api/v1/providers is documented form by form (Twilio, a generic
definition, each preset with its own credentials) while the accepted bodies,
and the field a refusal names, stay what the provider packages decide."""

from __future__ import annotations

from typing import Any

import aiohttp
import jsonschema
import pytest

from tests.conftest import RunningServer
from tests.integration.helpers import api
from textcast.providers.generic.presets import PRESETS
from textcast.views.provider_schema import PROVIDER_EXAMPLES


async def openapi(server: RunningServer, http: aiohttp.ClientSession) -> dict[str, Any]:
    async with http.get(f"{server.url}/openapi.json") as response:
        document: dict[str, Any] = await response.json()
        return document


def body_validator(document: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """The documented request body of POST /providers, refs resolved in ``document``."""
    body = document["paths"]["/api/v1/providers"]["post"]["requestBody"]
    schema = {**body["content"]["application/json"]["schema"], **document}
    return jsonschema.Draft202012Validator(schema)


async def test_the_body_is_documented_form_by_form(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    document = await openapi(server, http)
    schemas = document["components"]["schemas"]
    forms = {item["$ref"].rsplit("/", 1)[1] for item in schemas["ProviderCreate"]["anyOf"]}
    presets = {f"{name.capitalize()}PresetIn" for name in PRESETS}
    assert forms == {"TwilioProviderIn", "GenericHttpIn", *presets}
    generic = schemas["GenericHttpIn"]["properties"]
    for field in ("method", "url", "auth", "headers", "params", "body_format", "body"):
        assert field in generic, field
    for rule in ("success", "message_id", "error_code", "error_message"):
        assert "ResponseRule" in str(generic[rule]), rule
    assert "ReceiptMapping" in str(generic["receipt"])
    for name, preset in PRESETS.items():
        credentials = schemas[f"{name.capitalize()}Credentials"]
        required = {spec.name for spec in preset.fields if spec.required}
        assert set(credentials.get("required", [])) == required, name
        assert set(credentials["properties"]) == {spec.name for spec in preset.fields}
    examples = document["paths"]["/api/v1/providers"]["post"]["requestBody"]["content"]
    assert set(examples["application/json"]["examples"]) == {"twilio", "generic", *PRESETS}


@pytest.mark.parametrize("form", sorted(PROVIDER_EXAMPLES))
async def test_every_documented_example_is_valid_and_accepted(
    server: RunningServer, http: aiohttp.ClientSession, form: str
) -> None:
    example = PROVIDER_EXAMPLES[form]
    body_validator(await openapi(server, http)).validate(example)
    status, answer = await api(
        http, "POST", f"{server.url}/api/v1/providers", server.headers, example
    )
    assert status == 201, answer
    assert answer["name"] == example["name"] and answer["type"] == example["type"]
    assert [s["name"] for s in answer["senders"]] == [s["name"] for s in example["senders"]]


# Bodies accepted before the schema was written, in the forms it does not advertise.
OLD_FORMS: list[dict[str, Any]] = [
    {
        "name": "legacy-basic",
        "type": "generic",
        "url": "https://sms.example.com/send",
        "basic_username": "acme",
        "basic_password": "pw",
        "params": {"to": "$$To", "text": "$$Body"},
        "unknown_key": "ignored as before",
    },
    {
        "name": "legacy-base-url",
        "type": "generic",
        "preset": "textlocal",
        "credentials": {"apikey": "k"},
        "base_url": "https://api.textlocal.in",
    },
    {
        "name": "get-api",
        "type": "generic",
        "method": "GET",
        "url": "https://sms.example.com/api?user=acme",
        "params": {"to": "$$To", "msg": "$$Body", "key": "$$Secret.key"},
        "credentials": {"key": "k"},
        "message_id": {"regex": "id=(\\w+)"},
    },
]


@pytest.mark.parametrize("payload", OLD_FORMS, ids=lambda p: str(p["name"]))
async def test_bodies_accepted_before_still_are(
    server: RunningServer, http: aiohttp.ClientSession, payload: dict[str, Any]
) -> None:
    status, answer = await api(
        http, "POST", f"{server.url}/api/v1/providers", server.headers, payload
    )
    assert status == 201, answer


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"type": "generic", "preset": "nimbus", "credentials": {}}, "credentials.user_id"),
        ({"type": "generic", "preset": "nimbus", "credentials": "x"}, "credentials"),
        ({"type": "generic", "url": "ftp://sms.example.com/x"}, "url"),
        ({"type": "generic", "url": "https://s.example.com", "method": "PUT"}, "method"),
        (
            {"type": "generic", "url": "https://s.example.com", "success": {"equals": "x"}},
            "success",
        ),
        (
            {
                "type": "generic",
                "url": "https://s.example.com",
                "receipt": {"message_id": "id", "status": "s", "status_map": {"x": "nope"}},
            },
            "receipt",
        ),
        ({"type": "twilio", "account_sid": "AC1", "auth_token": "a-token"}, "account_sid"),
        ({"type": "fax"}, "type"),
    ],
)
async def test_bad_bodies_are_422_naming_the_field(
    server: RunningServer, http: aiohttp.ClientSession, payload: dict[str, Any], field: str
) -> None:
    body = {"name": "bad", **payload}
    status, answer = await api(http, "POST", f"{server.url}/api/v1/providers", server.headers, body)
    assert status == 422, answer
    assert answer["field"].startswith(field), answer
    assert answer["error"] == "validation_failed" and answer["message"]
