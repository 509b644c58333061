"""Templates over the API: versions, validation, previews — on both databases."""

from __future__ import annotations

import aiohttp

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api

WELCOME = {
    "name": "welcome",
    "body": 'Hi {{ contact.first_name | default("there") }}, use {{ data.code }}.',
    "category": "promotional",
}


async def test_a_change_makes_a_new_version_and_keeps_the_old_one(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    base = f"{server.url}/api/v1/templates"
    status, created = await api(http, "POST", base, server.headers, WELCOME)
    assert status == 201, created
    assert (created["version"], [v["version"] for v in created["versions"]]) == (1, [1])
    status, changed = await api(
        http, "PATCH", f"{base}/welcome", server.headers, {"body": "Hello {{ data.code }}"}
    )
    assert status == 200, changed
    assert changed["version"] == 2
    assert changed["body"] == "Hello {{ data.code }}"
    assert [v["body"] for v in changed["versions"]] == ["Hello {{ data.code }}", WELCOME["body"]]
    # A name or description change is not a new version.
    status, renamed = await api(
        http, "PATCH", f"{base}/welcome", server.headers, {"description": "first touch"}
    )
    assert (status, renamed["version"], renamed["description"]) == (200, 2, "first touch")
    status, listed = await api(http, "GET", base, server.headers)
    assert [t["name"] for t in listed["templates"]] == ["welcome"]


async def test_unsafe_or_broken_templates_are_refused_naming_the_field(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    base = f"{server.url}/api/v1/templates"
    cases = [
        ({**WELCOME, "body": "{{ ''.__class__ }}"}, "body"),
        ({**WELCOME, "body": "{% for i in range(10) %}x{% endfor %}"}, "body"),
        ({**WELCOME, "template_id": "no spaces allowed"}, "template_id"),
        ({**WELCOME, "content_variables": {"1": "{{ contact.first_name }}"}}, "content_variables"),
        ({**WELCOME, "sender": "nobody"}, "sender"),
        ({**WELCOME, "utm": {"utm_nonsense": "x"}}, "utm"),
        ({**WELCOME, "category": "urgent"}, "category"),
    ]
    for payload, field in cases:
        status, answer = await api(http, "POST", base, server.headers, payload)
        assert status == 422, (payload, answer)
        assert field in str(answer), (field, answer)
    status, _ = await api(http, "POST", base, server.headers, WELCOME)
    assert status == 201
    status, answer = await api(http, "POST", base, server.headers, WELCOME)
    assert status == 409, answer


async def test_a_twilio_content_template_carries_its_variables(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    payload = {
        "name": "shipping",
        "body": "Your order {{ data.order }} has shipped",
        "template_id": "HX" + "ab" * 16,
        "content_variables": {"1": "{{ data.order }}"},
        "category": "transactional",
    }
    status, created = await api(
        http, "POST", f"{server.url}/api/v1/templates", server.headers, payload
    )
    assert status == 201, created
    assert (created["template_id"], created["content_variables"]) == (
        payload["template_id"],
        {"1": "{{ data.order }}"},
    )


async def test_preview_shows_text_segments_unicode_and_missing_variables(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = twilio_provider_payload(simulator)
    provider["senders"][0]["unsubscribe_text"] = "Reply STOP to opt out"
    status, _ = await api(http, "POST", f"{server.url}/api/v1/providers", server.headers, provider)
    assert status == 201
    base = f"{server.url}/api/v1/templates"
    status, _ = await api(
        http,
        "POST",
        base,
        server.headers,
        {**WELCOME, "append_unsubscribe": True, "sender": "main"},
    )
    assert status == 201
    request = {"template": "welcome", "sample_contact": {"attributes": {"first_name": "D’Arcy"}}}
    status, answer = await api(http, "POST", f"{base}/preview", server.headers, request)
    assert status == 200, answer
    [shown] = answer["previews"]
    assert shown["text"] is None
    assert shown["missing"] == ["data.code"]
    request["data"] = {"code": "WELCOME10"}
    status, answer = await api(http, "POST", f"{base}/preview", server.headers, request)
    [shown] = answer["previews"]
    assert shown["text"] == "Hi D’Arcy, use WELCOME10.\nReply STOP to opt out"
    assert (shown["encoding"], shown["unicode_characters"], shown["segments"]) == (
        "UCS-2",
        ["’"],
        1,
    )
    assert answer["worst_case"]["max_segments"] == 1
    # An unsaved draft previews the same way; an old version can be asked for.
    draft = {"draft": {"body": "{{ contact.phone }}"}, "sample_contact": {"phone": "+447911123456"}}
    status, answer = await api(http, "POST", f"{base}/preview", server.headers, draft)
    assert (status, answer["previews"][0]["text"]) == (200, "+447911123456")
    status, answer = await api(
        http, "POST", f"{base}/preview", server.headers, {"template": "welcome", "version": 9}
    )
    assert status == 422, answer
    assert "version" in str(answer)
