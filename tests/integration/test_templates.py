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


async def test_a_segment_preview_renders_for_its_first_contacts_and_reports_the_worst_case(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    base = f"{server.url}/api/v1"
    people = [
        ("+14155552671", {"first_name": "Ada", "plan": "gold"}),
        ("+14155552672", {"first_name": "D’Arcy", "plan": "gold"}),  # a curly quote: UCS-2
        ("+14155552673", {"plan": "gold"}),  # no name: the default applies
        ("+14155552674", {"first_name": "Bo", "plan": "silver"}),  # not in the segment
    ]
    for phone, attributes in people:
        body = {"phone": phone, "attributes": attributes}
        assert (await api(http, "POST", f"{base}/contacts", server.headers, body))[0] == 201
    gold = {"rules": {"field": "attributes.plan", "op": "eq", "value": "gold"}}
    assert (await api(http, "PUT", f"{base}/segments/gold", server.headers, gold))[0] == 201
    assert (await api(http, "POST", f"{base}/templates", server.headers, WELCOME))[0] == 201

    request = {"template": "welcome", "segment": "gold", "data": {"code": "X1"}}
    status, answer = await api(http, "POST", f"{base}/templates/preview", server.headers, request)
    assert status == 200, answer
    assert [(p["recipient"], p["text"], p["encoding"]) for p in answer["previews"]] == [
        ("+14155552671", "Hi Ada, use X1.", "GSM-7"),
        ("+14155552672", "Hi D’Arcy, use X1.", "UCS-2"),
        ("+14155552673", "Hi there, use X1.", "GSM-7"),
    ]
    assert answer["worst_case"] == {
        "sampled": 3,
        "max_segments": 1,
        "ucs2": 1,
        "render_errors": 0,
    }
    request["sample_size"] = 1
    status, answer = await api(http, "POST", f"{base}/templates/preview", server.headers, request)
    assert [p["recipient"] for p in answer["previews"]] == ["+14155552671"]

    both = {**request, "contact": "+14155552671"}
    status, answer = await api(http, "POST", f"{base}/templates/preview", server.headers, both)
    assert status == 422 and "segment" in str(answer), answer
    unknown = {"template": "welcome", "segment": "nobody"}
    status, answer = await api(http, "POST", f"{base}/templates/preview", server.headers, unknown)
    assert status == 404, answer
