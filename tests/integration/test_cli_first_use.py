"""What a first user does with the CLI: a generic provider added and shown,
messages sent with every field the API takes, numbers for a sender and a
time window, contacts as tables (issue 19's defects, each kept fixed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api, cli
from tests.integration.test_send_flow import final

SENDERS = [
    {"name": "main", "type": "long_code", "sender_id": "+15005550006", "mps": 500},
    {
        "name": "dlt",
        "type": "long_code",
        "sender_id": "+15005550006",
        "mps": 500,
        "template_id_required": True,
        "mms_capable": True,
    },
]


async def test_a_generic_provider_is_added_and_shown_with_its_receipt_url(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    added = await cli(
        server.ctx,
        "providers",
        "add",
        "--name",
        "textlocal",
        "--type",
        "generic",
        "--preset",
        "textlocal",
        "-c",
        "apikey=a-textlocal-key",
        "--sender-type",
        "alphanumeric",
        "--sender-id",
        "TXTLCL",
    )
    assert added.exit_code == 0, added.output
    assert "Traceback" not in added.output and "receipt_url" in added.stdout
    shown = await cli(server.ctx, "providers", "show", "textlocal")
    assert shown.exit_code == 0, shown.output
    assert "/webhooks/generic/" in shown.stdout and "/webhooks/twilio/" not in shown.stdout

    _, provider = await api(http, "GET", f"{server.url}/api/v1/providers/textlocal", server.headers)
    (sender,) = provider["senders"]
    assert sender["receipt_url"] == provider["receipt_url"]
    assert "status_callback_url" not in sender and "inbound_url" not in sender
    assert provider["opt_out_tag"] == "opted-out"
    listed = await cli(server.ctx, "senders", "list", "--provider", "textlocal", "--json")
    assert json.loads(listed.stdout)[0]["receipt_url"] == provider["receipt_url"]


async def test_send_takes_every_field_and_the_message_keeps_its_template_id(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    status, _ = await api(
        http,
        "POST",
        f"{server.url}/api/v1/providers",
        server.headers,
        twilio_provider_payload(simulator, senders=SENDERS),
    )
    assert status == 201
    refused = await cli(
        server.ctx, "send", "--to", "+14155552671", "--body", "x", "--sender", "dlt"
    )
    assert refused.exit_code == 2 and "template_id" in refused.stderr, refused.output
    sent = await cli(
        server.ctx,
        "send",
        "--to",
        "+14155552671",
        "--body",
        "[SALE] spring",
        "--sender",
        "dlt",
        "--template-id",
        "1107161234567890123",
        "--campaign",
        "spring",
        "--automation",
        "welcome",
        "--media-url",
        "https://example.com/a.jpg",
        "--media-url",
        "https://example.com/b.jpg",
        "--json",
    )
    assert sent.exit_code == 0, sent.output
    message = json.loads(sent.stdout)
    assert (message["template_id"], message["campaign"], message["automation"]) == (
        "1107161234567890123",
        "spring",
        "welcome",
    )
    assert message["media_urls"] == ["https://example.com/a.jpg", "https://example.com/b.jpg"]

    done = await final(http, server, message["id"], {"delivered"})
    assert done["template_id"] == "1107161234567890123"
    table = await cli(server.ctx, "messages", "show", str(message["id"]))
    assert "1107161234567890123" in table.stdout and "delivered" in table.stdout, table.output
    listed = await cli(server.ctx, "messages", "list", "--json")
    assert json.loads(listed.stdout)[0]["template_id"] == "1107161234567890123"
    # A test SMS from such a sender takes the template ID too.
    test_sms = await cli(
        server.ctx,
        "send-test",
        "--to",
        "+14155552672",
        "--sender",
        "dlt",
        "--template-id",
        "T1",
        "--json",
    )
    assert test_sms.exit_code == 0 and json.loads(test_sms.stdout)["template_id"] == "T1"
    status, body = await api(
        http,
        "POST",
        f"{server.url}/api/v1/test-messages",
        server.headers,
        {"number": "+14155552673", "sender": "dlt", "template_id": "T2", "wait": 0},
    )
    assert status == 201 and body["template_id"] == "T2", body


async def test_stats_for_a_sender_and_a_time_window(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    status, _ = await api(
        http,
        "POST",
        f"{server.url}/api/v1/providers",
        server.headers,
        twilio_provider_payload(simulator, senders=SENDERS),
    )
    assert status == 201
    for sender, to in (("main", "+14155552671"), ("main", "+14155552672"), ("dlt", "+14155552673")):
        status, body = await api(
            http,
            "POST",
            f"{server.url}/api/v1/messages",
            server.headers,
            {"to": to, "body": "hi", "sender": sender, "template_id": "T"},
        )
        assert status == 202, body

    async def numbers(*args: str) -> Any:
        result = await cli(server.ctx, "stats", *args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    assert (await numbers())["messages"] == 3
    assert (await numbers("--sender", "main"))["messages"] == 2
    now = datetime.now(UTC)
    hour_ago, in_an_hour = (
        (now - timedelta(hours=1)).isoformat(),
        (now + timedelta(hours=1)).isoformat(),
    )
    assert (await numbers("--since", hour_ago, "--until", in_an_hour))["messages"] == 3
    assert (await numbers("--since", in_an_hour))["messages"] == 0
    naive = await cli(server.ctx, "stats", "--since", "2026-12-01T00:00:00")
    assert naive.exit_code == 2 and "time zone" in naive.stderr, naive.output
    unknown = await cli(server.ctx, "stats", "--sender", "nope")
    assert unknown.exit_code == 1 and "no sender" in unknown.stderr


async def test_contacts_show_is_a_table_unless_json_is_asked_for(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    status, _ = await api(
        http,
        "POST",
        f"{server.url}/api/v1/providers",
        server.headers,
        twilio_provider_payload(simulator),
    )
    assert status == 201
    added = await cli(server.ctx, "suppressions", "add", "+14155552671", "--provider", "twilio-sim")
    assert added.exit_code == 0, added.output
    table = await cli(server.ctx, "contacts", "show", "+14155552671")
    assert table.exit_code == 0, table.output
    assert not table.stdout.lstrip().startswith("{")
    assert "Twilio-Message-stop" in table.stdout and "operator (cli)" in table.stdout
    tagged = await cli(server.ctx, "contacts", "tag", "+14155552671", "--add", "vip", "--json")
    assert json.loads(tagged.stdout)["tags"] == ["Twilio-Message-stop", "vip"]


async def test_providers_add_takes_the_opt_out_tag(server: RunningServer) -> None:
    added = await cli(
        server.ctx,
        "providers",
        "add",
        "--name",
        "twilio-main",
        "--account-sid",
        "AC" + "1" * 32,
        "--auth-token",
        "an-auth-token",
        "--opt-out-tag",
        "sms-stop",
        "--json",
    )
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["opt_out_tag"] == "sms-stop"
