"""Single messages from saved templates, personalised and with tracked links,
over the API and the CLI, on both databases."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from sqlalchemy import select

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api, cli, eventually
from textcast.db.models import Contact, MessageEvent, ShortLink

TO = "+14155552671"
RENEWAL = {
    "name": "renewal",
    "body": 'Hi {{ contact.first_name | default("there") }}, renew at {{ data.url }} '
    "by {{ contact.renewal_date | date('%d %b') }}",
    "template_id": "1107161234567890123",
    "category": "transactional",
    "append_unsubscribe": True,
    "sender": "main",
}


async def _setup(server: RunningServer, sim: Simulator, http: aiohttp.ClientSession) -> None:
    provider = twilio_provider_payload(sim)
    provider["senders"][0]["unsubscribe_text"] = "Reply STOP to opt out"
    status, answer = await api(
        http, "POST", f"{server.url}/api/v1/providers", server.headers, provider
    )
    assert status == 201, answer
    status, answer = await api(
        http, "POST", f"{server.url}/api/v1/templates", server.headers, RENEWAL
    )
    assert status == 201, answer


async def _send(
    server: RunningServer, http: aiohttp.ClientSession, **payload: Any
) -> tuple[int, Any]:
    return await api(http, "POST", f"{server.url}/api/v1/messages", server.headers, payload)


async def test_a_template_is_rendered_for_the_contact_with_its_version_and_links(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await _setup(server, simulator, http)
    contact = {"phone": TO, "attributes": {"first_name": "Ana", "renewal_date": "2027-03-01"}}
    status, answer = await api(
        http, "POST", f"{server.url}/api/v1/contacts", server.headers, contact
    )
    assert status in (200, 201), answer
    data = {"url": "https://shop.example.com/renew?id=7"}
    status, sent = await _send(
        server, http, to=TO, template="renewal", data=data, click_tracking=True
    )
    assert status == 202, sent
    base = server.ctx.settings.effective_public_url
    prefix = f"Hi Ana, renew at {base}/s/"
    assert sent["body"].startswith(prefix), sent["body"]
    code = sent["body"][len(prefix) :].split(" ")[0]
    assert sent["body"] == f"{prefix}{code} by 01 Mar\nReply STOP to opt out"
    assert sent["template_id"] == RENEWAL["template_id"]
    assert sent["template_version_id"] is not None
    async with server.ctx.sessions() as session:
        link = await session.scalar(select(ShortLink).where(ShortLink.code == code))
        queued = await session.scalar(
            select(MessageEvent).where(MessageEvent.message_id == sent["id"])
        )
    assert link is not None and link.message_id == sent["id"] and link.contact_id is not None
    assert link.url == data["url"]
    assert queued is not None and queued.data == {
        "template": "renewal",
        "template_version": 1,
        "template_version_id": sent["template_version_id"],
        "category": "transactional",
    }
    # The short link answers with the original URL.
    async with http.get(f"{server.url}/s/{code}", allow_redirects=False) as answer:
        assert (answer.status, answer.headers["Location"]) == (302, data["url"])
    # A new version is what the next message gets; the first keeps its own.
    status, _ = await api(
        http,
        "PATCH",
        f"{server.url}/api/v1/templates/renewal",
        server.headers,
        {"body": "Renew: {{ data.url }}", "append_unsubscribe": False},
    )
    assert status == 200
    status, second = await _send(server, http, to=TO, template="renewal", data=data)
    assert (status, second["body"]) == (202, "Renew: https://shop.example.com/renew?id=7")
    assert second["template_version_id"] != sent["template_version_id"]


async def test_a_number_without_a_contact_renders_with_an_empty_one(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await _setup(server, simulator, http)
    await api(
        http,
        "POST",
        f"{server.url}/api/v1/templates",
        server.headers,
        {
            "name": "hello",
            "body": 'Hello {{ contact.first_name | default("there") }} '
            "({{ contact.country }}, {{ contact.time_zone }})",
        },
    )
    status, sent = await _send(server, http, to="+442079460000", template="hello")
    assert status == 202, sent
    assert sent["body"] == "Hello there (GB, Europe/London)"


async def test_bad_template_requests_are_refused_naming_the_field(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await _setup(server, simulator, http)
    cases = [
        ({"template": "renewal"}, "data.url"),  # missing variable, no default
        ({"template": "renewal", "body": "also a body", "data": {"url": "x"}}, "body"),
        ({"template": "renewal", "template_id": "123", "data": {"url": "x"}}, "template_id"),
        ({"body": "plain", "data": {"url": "x"}}, "data"),
        ({"template": "nope"}, "template"),
    ]
    for payload, field in cases:
        status, answer = await _send(server, http, to=TO, **payload)
        assert (status, answer.get("field")) == (422, field), (payload, answer)
    status, answer = await _send(server, http, to=TO, template="renewal")
    assert "data.url" in answer["message"]
    # A contact attribute that is missing is named too, through a filter as well.
    status, answer = await _send(server, http, to=TO, template="renewal", data={"url": "x"})
    assert (status, answer["field"]) == (422, "template")
    assert "contact.renewal_date" in answer["message"]
    await api(
        http,
        "POST",
        f"{server.url}/api/v1/templates",
        server.headers,
        {"name": "plan", "body": "Your plan: {{ contact.plan }}"},
    )
    status, answer = await _send(server, http, to=TO, template="plan")
    assert (status, answer["field"]) == (422, "template")
    assert "contact.plan" in answer["message"]


async def test_click_tracking_works_on_a_plain_body_and_counts_the_short_length(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await _setup(server, simulator, http)
    long_url = "https://shop.example.com/" + "a" * 300
    status, sent = await _send(server, http, to=TO, body=f"See {long_url}", click_tracking=True)
    assert status == 202, sent
    assert long_url not in sent["body"] and sent["segments"] == 1
    async with server.ctx.sessions() as session:
        [url] = (await session.scalars(select(ShortLink.url))).all()
    assert url == long_url


async def test_batch_rows_with_templates_are_refused_by_index(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await _setup(server, simulator, http)
    rows = [
        {"to": TO, "body": "one"},
        {"to": TO, "template": "renewal", "data": {"url": "x"}},
        {"to": TO, "body": "three", "click_tracking": True},
        {"to": TO, "body": "four"},
    ]
    status, answer = await api(
        http, "POST", f"{server.url}/api/v1/messages/batch", server.headers, {"messages": rows}
    )
    assert status == 202, answer
    assert answer["accepted"] == 2
    assert [(e["index"], e["field"]) for e in answer["errors"]] == [
        (1, "template"),
        (2, "click_tracking"),
    ]
    assert "POST /api/v1/messages" in answer["errors"][0]["message"]


async def test_the_cli_sends_a_template_with_data_and_click_tracking(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await _setup(server, simulator, http)
    contact = {"phone": TO, "attributes": {"renewal_date": "2027-03-01"}}
    await api(http, "POST", f"{server.url}/api/v1/contacts", server.headers, contact)
    result = await cli(
        server.ctx,
        *("send", "--to", TO, "--template", "renewal", "--data", "url=https://ex.com/r"),
        *("--click-tracking", "--json"),
    )
    assert result.exit_code == 0, result.output
    assert "/s/" in result.output and "https://ex.com/r" not in result.output
    result = await cli(server.ctx, "send", "--to", TO, "--template", "renewal")
    assert result.exit_code == 2, result.output
    assert "data.url" in result.output


async def test_a_preview_counts_tracked_links_at_their_short_length(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await _setup(server, simulator, http)
    long_url = "https://shop.example.com/" + "a" * 300
    draft = {"body": f"See {long_url}", "click_tracking": True}
    status, answer = await api(
        http, "POST", f"{server.url}/api/v1/templates/preview", server.headers, {"draft": draft}
    )
    assert status == 200, answer
    [shown] = answer["previews"]
    base = server.ctx.settings.effective_public_url
    assert (shown["text"], shown["segments"]) == (f"See {base}/s/xxxxxxx", 1)


CONTENT_SID = "HX" + "0123456789abcdef" * 2


async def _sent_to_simulator(sim: Simulator) -> dict[str, str]:
    async def sent() -> dict[str, str] | None:
        messages = (await sim.control("GET", "messages"))["messages"]
        return dict(messages[-1]["params"]) if messages else None

    found: dict[str, str] = await eventually(sent)
    return found


async def test_a_twilio_content_template_goes_as_content_sid_with_its_variables(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await _setup(server, simulator, http)
    template = {
        "name": "shipped",
        "body": "Hi {{ contact.first_name }}, order {{ data.order }} has shipped",
        "template_id": CONTENT_SID,
        "content_variables": {"1": "{{ contact.first_name }}", "2": "{{ data.order }}"},
        "category": "transactional",
    }
    status, answer = await api(
        http, "POST", f"{server.url}/api/v1/templates", server.headers, template
    )
    assert status == 201, answer
    contact = {"phone": TO, "attributes": {"first_name": "Zoë"}}
    await api(http, "POST", f"{server.url}/api/v1/contacts", server.headers, contact)
    status, sent = await _send(server, http, to=TO, template="shipped", data={"order": "A-17"})
    assert status == 202, sent
    assert sent["template_id"] == CONTENT_SID
    assert sent["content_variables"] == {"1": "Zoë", "2": "A-17"}
    assert sent["body"] == "Hi Zoë, order A-17 has shipped"  # what Textcast shows
    params = await _sent_to_simulator(simulator)
    assert params["ContentSid"] == CONTENT_SID and "Body" not in params
    assert json.loads(params["ContentVariables"]) == {"1": "Zoë", "2": "A-17"}


async def test_a_message_naming_a_content_sid_sends_its_data_as_the_variables(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await _setup(server, simulator, http)
    status, sent = await _send(
        server, http, to=TO, template_id=CONTENT_SID, data={"1": "Ana", "2": 3}
    )
    assert status == 202, sent
    assert sent["content_variables"] == {"1": "Ana", "2": "3"}
    params = await _sent_to_simulator(simulator)
    assert (params["ContentSid"], json.loads(params["ContentVariables"])) == (
        CONTENT_SID,
        {"1": "Ana", "2": "3"},
    )
    status, answer = await _send(server, http, to=TO, template_id=CONTENT_SID, data={"1": {}})
    assert (status, answer["field"]) == (422, "data.1")
    # Erasure takes the variables too: they were rendered from the contact.
    async with server.ctx.sessions() as session:
        contact_id = await session.scalar(select(Contact.id).where(Contact.phone == TO))
    status, _ = await api(
        http, "DELETE", f"{server.url}/api/v1/contacts/{contact_id}", server.headers
    )
    assert status in (200, 204)
    status, erased = await api(
        http, "GET", f"{server.url}/api/v1/messages/{sent['id']}", server.headers
    )
    assert (erased["body"], erased["content_variables"]) == ("[erased]", None)
