"""The cases the OpenAPI fuzzer (``test_openapi_fuzz``) found, kept as plain
tests on both databases: each answered a 500 or a status or content type the
document did not list."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningServer
from tests.integration.helpers import api


async def document(server: RunningServer, http: aiohttp.ClientSession) -> dict[str, Any]:
    async with http.get(f"{server.url}/openapi.json") as response:
        found: dict[str, Any] = await response.json()
        return found


@pytest.mark.parametrize(
    ("path", "field"),
    [
        # Found: a NUL in a filter reached PostgreSQL as a query parameter (500).
        ("/api/v1/events?campaign=f%C3%9EB%07%00m", "campaign"),
        ("/api/v1/keywords?provider=%C2%88%00m%24", "provider"),
        ("/api/v1/messages?sender=a%00b", "sender"),
        ("/api/v1/contacts/%00", "path"),
    ],
)
async def test_a_nul_in_the_url_is_a_422_naming_it_on_both_databases(
    server: RunningServer, http: aiohttp.ClientSession, path: str, field: str
) -> None:
    status, answer = await api(http, "GET", f"{server.url}{path}", server.headers)
    assert status == 422, answer
    assert (answer["error"], answer["field"]) == ("validation_failed", field)
    assert "NUL" in answer["message"]


@pytest.mark.parametrize(
    ("path", "raw", "field"),
    [
        ("/api/v1/messages", b'{"to": "+14155550100", "body": "a\\u0000b"}', "body"),
        ("/api/v1/providers", b'{"name": "x\\ud800", "type": "twilio"}', "name"),
        ("/api/v1/contacts", b'{"phone": "+14155550100", "tags": ["ok", "\\udfff"]}', "tags.1"),
        ("/api/v1/suppressions", b'{"phone": "+14155550100", "reason\\u0000": "x"}', "reason\x00"),
    ],
)
async def test_unstorable_json_text_is_a_422_naming_the_field(
    server: RunningServer, http: aiohttp.ClientSession, path: str, raw: bytes, field: str
) -> None:
    headers = {**server.headers, "Content-Type": "application/json"}
    async with http.post(f"{server.url}{path}", data=raw, headers=headers) as response:
        answer = await response.json()
    assert response.status == 422, answer
    assert (answer["error"], answer["field"]) == ("validation_failed", field)


async def test_a_valid_surrogate_pair_escape_still_passes(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    raw = b'{"body": "smile \\ud83d\\ude00"}'
    headers = {**server.headers, "Content-Type": "application/json"}
    url = f"{server.url}/api/v1/segments"
    async with http.post(url, data=raw, headers=headers) as response:
        answer = await response.json()
    assert response.status == 200, answer
    assert answer["encoding"] == "UCS-2"


async def test_error_answers_are_documented_with_their_shape(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    doc = await document(server, http)
    assert "Error" in doc["components"]["schemas"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    operations = {
        ("get", "/api/v1/providers/{ref}"): {"401", "403", "404", "422"},
        ("post", "/api/v1/messages"): {"400", "401", "403", "404", "409", "422"},
        ("get", "/api/v1/providers/{ref}/balance"): {"502"},
        ("post", "/webhooks/generic/{provider_id}/{token}"): {"403", "404"},
    }
    for (method, path), codes in operations.items():
        responses = doc["paths"][path][method]["responses"]
        assert codes <= set(responses), (method, path, sorted(responses))
        for code in codes:
            schema = responses[code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}


async def test_a_body_that_is_not_utf8_is_the_documented_400(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    # Found: FastAPI answers 400 for a body it cannot decode; it was undocumented.
    headers = {**server.headers, "Content-Type": "application/json"}
    url = f"{server.url}/api/v1/messages"
    async with http.post(url, data=b'{"to": "\xff\xfe"}', headers=headers) as response:
        answer = await response.json()
    assert response.status == 400 and answer["error"] and answer["message"]
    doc = await document(server, http)
    assert "400" in doc["paths"]["/api/v1/messages"]["post"]["responses"]


async def test_text_answers_are_documented_with_their_content_type(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    doc = await document(server, http)
    for path, kind in (("/metrics", "text/plain"), ("/api/v1/contacts/export", "text/csv")):
        assert kind in doc["paths"][path]["get"]["responses"]["200"]["content"], path
        async with http.get(f"{server.url}{path}", headers=server.headers) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith(kind)
