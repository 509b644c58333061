"""Replies, keywords, contacts, the event log and Textcast-signed relays."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from tests.conftest import RunningServer, Simulator
from tests.integration.helpers import api, cli, eventually
from tests.integration.test_webhooks import (
    SEED_DELIVERED,
    accepted_message,
    add_provider,
    with_sid,
)
from textcast import hmac_signing
from textcast.audience import suppressions
from textcast.db.models import InboundMessage, Message, Suppression

SUBSCRIBER = "+14155552671"


async def reply(
    http: aiohttp.ClientSession,
    sim: Simulator,
    provider: dict[str, Any],
    body: str,
    *,
    from_number: str = SUBSCRIBER,
    to: str = "+15005550006",
    sid: str | None = None,
) -> tuple[int, str]:
    url = provider["inbound_url"]
    sid = sid or "SM" + secrets.token_hex(16)
    params = {"From": from_number, "To": to, "Body": body, "MessageSid": sid}
    signature = RequestValidator(sim.auth_token).compute_signature(url, params)
    async with http.post(url, data=params, headers={"X-Twilio-Signature": signature}) as response:
        return response.status, await response.text()


async def events(server: RunningServer, http: aiohttp.ClientSession, **query: Any) -> list[Any]:
    url = f"{server.url}/api/v1/events?{urlencode(query)}"
    status, body = await api(http, "GET", url, server.headers)
    assert status == 200, body
    return list(body["events"])


async def test_stop_and_start_update_suppression_contact_tags_and_events(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_provider(server, simulator, http)
    status, sent = await api(
        http,
        "POST",
        f"{server.url}/api/v1/messages",
        server.headers,
        {"to": SUBSCRIBER, "body": "Sale today", "campaign": "spring"},
    )
    assert status == 202, sent

    assert (await reply(http, simulator, provider, "  stop "))[0] == 200
    status, contact = await api(
        http, "GET", f"{server.url}/api/v1/contacts/{SUBSCRIBER}", server.headers
    )
    # A Twilio provider tags opt-outs the way Twilio names them (seed 003).
    assert status == 200 and contact["opted_out"] and "Twilio-Message-stop" in contact["tags"]
    assert [s["scope"] for s in contact["suppressions"]] == ["account"]
    assert [(s["source"], s["source_detail"]) for s in contact["suppressions"]] == [
        ("reply", "STOP")
    ]
    opted_out = await events(server, http, type="contact.opted_out")
    assert len(opted_out) == 1 and opted_out[0]["phone"] == SUBSCRIBER
    replied = await events(server, http, type="message.replied")
    assert replied[0]["message_id"] == sent["id"]
    assert replied[0]["data"]["body"] == "  stop "
    assert replied[0]["campaign"] == "spring"

    # A second STOP changes nothing and records no second opt-out.
    await reply(http, simulator, provider, "STOP")
    assert len(await events(server, http, type="contact.opted_out")) == 1

    await reply(http, simulator, provider, "Start")
    status, contact = await api(
        http, "GET", f"{server.url}/api/v1/contacts/{SUBSCRIBER}", server.headers
    )
    assert not contact["opted_out"] and contact["suppressions"] == []
    assert "Twilio-Message-stop" not in contact["tags"]
    assert len(await events(server, http, type="contact.opted_in")) == 1


async def test_a_sentence_mentioning_stop_is_a_reply_not_an_opt_out(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_provider(server, simulator, http)
    await reply(http, simulator, provider, "please don't stop the deals")
    assert await events(server, http, type="contact.opted_out") == []
    received = await events(server, http, type="message.received")
    assert len(received) == 1 and received[0]["contact_id"] is not None


async def test_keyword_rules_reply_with_twiml_and_extend_opt_out_words(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_provider(server, simulator, http)
    url = f"{server.url}/api/v1/keywords"
    rules = [
        {"keyword": "Promo", "provider": provider["name"], "reply": "Use code <SAVE10> & smile"},
        {"keyword": "help", "provider": provider["id"], "reply": "Acme: help at acme.example"},
        {"keyword": "ARRET", "provider": provider["name"], "action": "opt_out"},
    ]
    for rule in rules:
        status, body = await api(http, "POST", url, server.headers, rule)
        assert status == 201, body

    status, text = await reply(http, simulator, provider, " PROMO ")
    assert status == 200
    assert "<Message>Use code &lt;SAVE10&gt; &amp; smile</Message>" in text
    # INFO belongs to the HELP family, so the HELP text answers it.
    assert "Acme: help at acme.example" in (await reply(http, simulator, provider, "info"))[1]
    assert "<Message>" not in (await reply(http, simulator, provider, "hello"))[1]

    await reply(http, simulator, provider, "arret", from_number="+14155550100")
    async with server.ctx.sessions() as session:
        phones = set(await session.scalars(select(Suppression.phone)))
    assert phones == {"+14155550100"}

    status, body = await api(http, "POST", url, server.headers, rules[0])
    assert status == 409, body
    status, body = await api(
        http,
        "POST",
        url,
        server.headers,
        {"keyword": "stop", "provider": provider["name"], "reply": "x"},
    )
    assert status == 422 and body["field"] == "action", body
    status, body = await api(
        http, "POST", url, server.headers, {"keyword": "deal", "provider": provider["name"]}
    )
    assert status == 422 and body["field"] == "reply", body

    # A rule is changed in place (PUT), checked as a new one is.
    _, listed = await api(http, "GET", url, server.headers)
    promo = next(r for r in listed if r["keyword"] == "PROMO")
    changed = {"keyword": "promo", "provider": provider["name"], "reply": "Use code SAVE20"}
    status, body = await api(http, "PUT", f"{url}/{promo['id']}", server.headers, changed)
    assert (status, body["reply"], body["id"]) == (200, "Use code SAVE20", promo["id"]), body
    assert "SAVE20" in (await reply(http, simulator, provider, "promo"))[1]
    taken = {**changed, "keyword": "help"}
    status, body = await api(http, "PUT", f"{url}/{promo['id']}", server.headers, taken)
    assert status == 409, body
    status, body = await api(http, "PUT", f"{url}/999999", server.headers, changed)
    assert status == 404, body


async def test_a_sender_that_leaves_keywords_to_the_provider_answers_none_but_stop_still_counts(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_provider(server, simulator, http)
    sender = provider["senders"][0]
    assert sender["keyword_responses"] is True  # as every sender did before the setting
    for rule in (
        {"keyword": "promo", "provider": provider["name"], "reply": "Use code SAVE10"},
        {"keyword": "help", "provider": provider["name"], "reply": "Acme: help at acme.example"},
        {"keyword": "stop", "provider": provider["name"], "action": "opt_out", "reply": "Bye"},
        {"keyword": "arret", "provider": provider["name"], "action": "opt_out"},
    ):
        status, body = await api(
            http, "POST", f"{server.url}/api/v1/keywords", server.headers, rule
        )
        assert status == 201, body
    assert "SAVE10" in (await reply(http, simulator, provider, "promo"))[1]

    url = f"{server.url}/api/v1/senders/{sender['id']}"
    status, body = await api(http, "PATCH", url, server.headers, {"keyword_responses": False})
    assert (status, body["keyword_responses"]) == (200, False), body
    for word in ("promo", "help", "info", "STOP"):
        status, text = await reply(http, simulator, provider, word)
        assert status == 200 and "<Message>" not in text, (word, text)
    # STOP still opts out (the provider blocks the number either way); ARRET, an
    # operator's rule, is not applied for this sender.
    await reply(http, simulator, provider, "arret", from_number="+14155550100")
    async with server.ctx.sessions() as session:
        phones = set(await session.scalars(select(Suppression.phone)))
    assert phones == {SUBSCRIBER}

    changed = await cli(server.ctx, "senders", "update", "main", "--keyword-responses", "--json")
    assert changed.exit_code == 0 and json.loads(changed.stdout)["keyword_responses"] is True
    assert "SAVE10" in (await reply(http, simulator, provider, "promo"))[1]
    status, body = await api(http, "PATCH", url, server.headers, {"keyword_responses": "maybe"})
    assert status == 422 and body["field"] == "keyword_responses", body


async def test_sender_scoped_opt_out_blocks_only_that_sender(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_provider(server, simulator, http)
    status, second = await api(
        http,
        "POST",
        f"{server.url}/api/v1/providers/{provider['id']}/senders",
        server.headers,
        {"name": "brand-b", "type": "long_code", "sender_id": "+15005550001"},
    )
    assert status == 201, second
    status, body = await api(
        http,
        "PATCH",
        f"{server.url}/api/v1/providers/{provider['id']}",
        server.headers,
        {"opt_out_scope": "sender"},
    )
    assert status == 200 and body["opt_out_scope"] == "sender", body
    await reply(http, simulator, provider, "STOP", to="+15005550006")
    first_id = provider["senders"][0]["id"]
    async with server.ctx.sessions() as session:
        blocked = await suppressions.blocked(
            session,
            [(provider["id"], first_id, SUBSCRIBER), (provider["id"], second["id"], SUBSCRIBER)],
        )
    assert blocked == {(provider["id"], first_id, SUBSCRIBER)}

    status, body = await api(
        http,
        "PATCH",
        f"{server.url}/api/v1/providers/{provider['id']}",
        server.headers,
        {"opt_out_scope": "everyone"},
    )
    assert status == 422 and body["field"] == "opt_out_scope"


async def test_conversation_thread_interleaves_messages_and_replies(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_provider(server, simulator, http)
    status, _ = await api(
        http,
        "POST",
        f"{server.url}/api/v1/messages",
        server.headers,
        {"to": SUBSCRIBER, "body": "Your table is ready"},
    )
    assert status == 202
    await reply(http, simulator, provider, "On my way")
    status, body = await api(
        http, "GET", f"{server.url}/api/v1/contacts/{SUBSCRIBER}/conversation", server.headers
    )
    assert status == 200, body
    assert [item["direction"] for item in body["thread"]] == ["inbound", "outbound"]
    assert body["thread"][0]["in_reply_to"] == body["thread"][1]["message_id"]

    status, body = await api(
        http,
        "PATCH",
        f"{server.url}/api/v1/contacts/{SUBSCRIBER}",
        server.headers,
        {"add_tags": ["vip", "vip"], "remove_tags": []},
    )
    assert status == 200 and body["tags"] == ["vip"], body
    status, listed = await api(http, "GET", f"{server.url}/api/v1/contacts?tag=vip", server.headers)
    assert [c["phone"] for c in listed["contacts"]] == [SUBSCRIBER]
    status, body = await api(
        http, "GET", f"{server.url}/api/v1/contacts/+14155550199", server.headers
    )
    assert status == 404


async def test_events_api_filters_and_pages(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_provider(server, simulator, http)
    for i in range(5):
        status, _ = await api(
            http,
            "POST",
            f"{server.url}/api/v1/messages",
            server.headers,
            {"to": f"+1415555010{i}", "body": "hi", "campaign": "even" if i % 2 == 0 else "odd"},
        )
        assert status == 202
    queued = await events(server, http, type="message.queued", campaign="even")
    assert len(queued) == 3 and {e["campaign"] for e in queued} == {"even"}
    first = await events(server, http, type="message.queued", limit=2)
    rest = await events(server, http, type="message.queued", after_id=first[-1]["id"])
    assert [e["id"] for e in first + rest] == sorted(e["id"] for e in first + rest)
    assert len(first + rest) >= 5

    status, body = await api(
        http, "GET", f"{server.url}/api/v1/events?type=message.exploded", server.headers
    )
    assert status == 422 and body["field"] == "type"
    status, body = await api(
        http, "GET", f"{server.url}/api/v1/events?since=2026-01-01T00:00:00", server.headers
    )
    assert status == 422 and body["field"] == "since"


async def test_relay_signed_with_the_textcast_scheme_is_accepted(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    message = await accepted_message(server, simulator, http)
    provider = message["provider"]
    status, body = await api(
        http,
        "POST",
        f"{server.url}/api/v1/providers/{provider['id']}/relay-secret",
        server.headers,
    )
    assert status == 200 and body["relay_secret"].startswith("rly_"), body
    secret = body["relay_secret"]
    status, shown = await api(
        http, "GET", f"{server.url}/api/v1/providers/{provider['id']}", server.headers
    )
    assert secret not in str(shown)

    raw = urlencode(with_sid(SEED_DELIVERED, message["provider_message_id"])).encode()
    url = provider["status_callback_url"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    async def post(signature: str) -> int:
        headers = {**form, "X-Textcast-Signature": signature}
        async with http.post(url, data=raw, headers=headers) as response:
            return response.status

    stale = int(time.time()) - 3600
    assert await post(hmac_signing.sign(secret, raw, stale)) == 403
    assert await post(hmac_signing.sign("rly_wrong", raw)) == 403
    assert await post(hmac_signing.sign(secret, raw + b"&x=1")) == 403
    async with server.ctx.sessions() as session:
        assert (await session.get(Message, message["id"])).status != "delivered"  # type: ignore[union-attr]
    assert await post(hmac_signing.sign(secret, raw)) == 200
    async with server.ctx.sessions() as session:
        assert (await session.get(Message, message["id"])).status == "delivered"  # type: ignore[union-attr]


async def test_a_senders_own_inbound_url_attributes_the_reply_and_keeps_location(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_provider(server, simulator, http)
    sender = provider["senders"][0]
    assert sender["inbound_url"].endswith(f"/inbound/{sender['id']}")
    result = await simulator.control(
        "POST",
        "inbound",
        {
            "url": sender["inbound_url"],
            "method": "GET",
            "account_sid": simulator.account_sid,
            "from": SUBSCRIBER,
            "to": "+15005550099",  # not the sender's number: the URL decides
            "body": "hello there",
        },
    )
    assert result["status"] == 200, result
    async with server.ctx.sessions() as session:
        inbound = await session.scalar(select(InboundMessage))
    assert inbound is not None and inbound.sender_id == sender["id"]
    assert inbound.location["FromCity"] == "SAN FRANCISCO"


async def test_a_reply_delivered_twice_is_stored_once(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_provider(server, simulator, http)
    for _ in range(2):  # no idempotency token: the MessageSid tells the repeat
        status, text = await reply(http, simulator, provider, "STOP", sid="SM" + "7" * 32)
        assert status == 200 and "<Response>" in text
    async with server.ctx.sessions() as session:
        stored = list(await session.scalars(select(InboundMessage)))
    assert len(stored) == 1
    assert len(await events(server, http, type="message.received")) == 1


async def test_dispatch_honours_sender_scoped_opt_outs_and_meta_carries_attribution(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_provider(server, simulator, http)
    base = f"{server.url}/api/v1"
    status, second = await api(
        http,
        "POST",
        f"{base}/providers/{provider['id']}/senders",
        server.headers,
        {"name": "brand-b", "type": "long_code", "sender_id": "+14155550123"},
    )
    assert status == 201, second
    await api(
        http,
        "PATCH",
        f"{base}/providers/{provider['id']}",
        server.headers,
        {"opt_out_scope": "sender"},
    )
    await reply(http, simulator, provider, "STOP", to="+15005550006")  # to "main" only
    sent = {}
    for sender in ("main", "brand-b"):
        status, body = await api(
            http,
            "POST",
            f"{base}/messages",
            server.headers,
            {"to": SUBSCRIBER, "body": f"via {sender}", "sender": sender, "campaign": "fall"},
        )
        assert status == 202, body
        sent[sender] = body["id"]

    async def settled() -> dict[str, Any] | None:
        found = {}
        for sender, mid in sent.items():
            _, body = await api(http, "GET", f"{base}/messages/{mid}", server.headers)
            if body["status"] in ("queued", "dispatching"):
                return None
            found[sender] = body
        return found

    done = await eventually(settled)
    assert (done["main"]["status"], done["main"]["error_code"]) == ("failed", "21610")
    assert "suppression list" in done["main"]["error_description"]
    assert done["brand-b"]["status"] != "failed"
    (at_provider,) = simulator.state.messages.values()
    assert at_provider.body == "via brand-b"
    meta = parse_qs(urlsplit(at_provider.status_callback or "").query)["meta"][0]
    payload = json.loads(base64.urlsafe_b64decode(meta.split(".")[1] + "=="))
    assert payload["m"] == sent["brand-b"] and payload["cp"] == "fall"
    assert payload["s"] == second["id"] and isinstance(payload["c"], int)
