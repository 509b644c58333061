"""The suppression list as operators see it: every entry with its true source,
listed and filtered through the API and the CLI, and the provider's opt-out
tag on the contact (seed 003), which START and lifting take off again."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api, cli
from tests.integration.test_engagement import reply
from tests.integration.test_send_flow import final, send

SUBSCRIBER = "+14155552671"
TEXTLOCAL = {
    "name": "textlocal",
    "type": "generic",
    "preset": "textlocal",
    "credentials": {"apikey": "a-textlocal-key"},
    "senders": [{"name": "tl-brand", "type": "alphanumeric", "sender_id": "TXTLCL"}],
}


async def create(
    http: aiohttp.ClientSession, server: RunningServer, payload: dict[str, Any]
) -> dict[str, Any]:
    status, body = await api(
        http, "POST", f"{server.url}/api/v1/providers", server.headers, payload
    )
    assert status == 201, body
    return dict(body)


async def listed(http: aiohttp.ClientSession, server: RunningServer, query: str = "") -> Any:
    status, body = await api(
        http, "GET", f"{server.url}/api/v1/suppressions?{query}", server.headers
    )
    assert status == 200, body
    return body


async def contact(http: aiohttp.ClientSession, server: RunningServer) -> Any:
    status, body = await api(
        http, "GET", f"{server.url}/api/v1/contacts/{SUBSCRIBER}", server.headers
    )
    assert status == 200, body
    return body


async def test_operator_suppressions_record_the_face_used_and_tag_per_provider(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    twilio = await create(http, server, twilio_provider_payload(simulator))
    generic = await create(http, server, TEXTLOCAL)
    assert (twilio["opt_out_tag"], generic["opt_out_tag"]) == ("Twilio-Message-stop", "opted-out")

    status, added = await api(
        http,
        "POST",
        f"{server.url}/api/v1/suppressions",
        server.headers,
        {"provider": twilio["name"], "phone": "(415) 555-2671"},
    )
    assert status == 201 and added["added"], added
    shown = await cli(
        server.ctx, "suppressions", "add", SUBSCRIBER, "--provider", "textlocal", "--json"
    )
    assert shown.exit_code == 0, shown.output

    rows = (await listed(http, server))["suppressions"]
    assert [(r["provider_id"], r["source"], r["source_detail"], r["reason"]) for r in rows] == [
        (generic["id"], "operator", "cli", "added by an operator"),
        (twilio["id"], "operator", "api", "added by an operator"),
    ]
    person = await contact(http, server)
    assert person["opted_out"] and set(person["tags"]) == {"Twilio-Message-stop", "opted-out"}

    # Lifting one provider's takes its tag off; the other still holds.
    status, _ = await api(
        http,
        "DELETE",
        f"{server.url}/api/v1/suppressions?provider=twilio-sim&phone=%2B14155552671",
        server.headers,
    )
    assert status == 200
    person = await contact(http, server)
    assert person["opted_out"] and person["tags"] == ["opted-out"]
    lifted = await cli(server.ctx, "suppressions", "remove", SUBSCRIBER, "--provider", "textlocal")
    assert lifted.exit_code == 0, lifted.output
    person = await contact(http, server)
    assert not person["opted_out"] and person["tags"] == []


async def test_the_list_filters_by_provider_sender_and_phone_and_pages(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    senders = [
        {"name": "main", "type": "long_code", "sender_id": "+15005550006"},
        {"name": "other", "type": "long_code", "sender_id": "+14155550199"},
    ]
    await create(
        http, server, twilio_provider_payload(simulator, senders=senders, opt_out_scope="sender")
    )
    await create(http, server, TEXTLOCAL)
    for body in (
        {"provider": "twilio-sim", "phone": "+14155550001"},
        {"provider": "twilio-sim", "phone": "+14155550002", "sender": "other"},
        {"provider": "textlocal", "phone": "+14155550001"},
    ):
        status, answer = await api(
            http, "POST", f"{server.url}/api/v1/suppressions", server.headers, body
        )
        assert status == 201, answer

    def phones(body: Any) -> list[tuple[str, str]]:
        return [(r["phone"], r["scope"]) for r in body["suppressions"]]

    assert phones(await listed(http, server, "provider=twilio-sim")) == [
        ("+14155550002", "sender"),
        ("+14155550001", "account"),
    ]
    assert phones(await listed(http, server, "sender=other")) == [("+14155550002", "sender")]
    assert len((await listed(http, server, "phone=%2B14155550001"))["suppressions"]) == 2
    first = await listed(http, server, "limit=2")
    assert len(first["suppressions"]) == 2 and first["next_before_id"] is not None
    rest = await listed(http, server, f"limit=2&before_id={first['next_before_id']}")
    assert phones(rest) == [("+14155550001", "account")] and rest["next_before_id"] is None
    status, body = await api(
        http, "GET", f"{server.url}/api/v1/suppressions?provider=nope", server.headers
    )
    assert status == 422 and body["field"] == "provider"
    status, body = await api(
        http,
        "GET",
        f"{server.url}/api/v1/suppressions?provider=textlocal&sender=other",
        server.headers,
    )
    assert status == 422 and body["field"] == "sender"

    # The CLI takes the same filters and lists everything by default.
    everything = await cli(server.ctx, "suppressions", "list", "--json")
    assert everything.exit_code == 0, everything.output
    assert len(json.loads(everything.stdout)) == 3
    one = await cli(
        server.ctx,
        "suppressions",
        "list",
        "--provider",
        "twilio-sim",
        "--sender",
        "other",
        "--json",
    )
    assert [r["phone"] for r in json.loads(one.stdout)] == ["+14155550002"]
    paged = await cli(server.ctx, "suppressions", "list", "--limit", "1", "--json")
    (newest,) = json.loads(paged.stdout)
    older = await cli(
        server.ctx, "suppressions", "list", "--before-id", str(newest["id"]), "--json"
    )
    assert len(json.loads(older.stdout)) == 2
    table = await cli(server.ctx, "suppressions", "list", "--phone", "+14155550002")
    assert table.exit_code == 0 and "+1415555000" in table.stdout, table.output
    assert "operator" in table.stdout and "(api)" in table.stdout


async def test_stop_and_provider_error_21610_record_their_source(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await create(http, server, twilio_provider_payload(simulator))
    await reply(http, simulator, provider, "Stop")
    failed = await send(http, server, to="+15005550004", body="to an unsubscribed number")
    assert (await final(http, server, failed["id"], {"failed"}))["error_code"] == "21610"
    rows = (await listed(http, server))["suppressions"]
    assert [(r["phone"], r["source"], r["source_detail"], r["reason"]) for r in rows] == [
        ("+15005550004", "provider_error", "21610", "provider error 21610"),
        (SUBSCRIBER, "reply", "STOP", "replied STOP"),
    ]
    table = await cli(server.ctx, "contacts", "show", SUBSCRIBER)
    assert table.exit_code == 0, table.output
    assert "reply STOP" in table.stdout and not table.stdout.lstrip().startswith("{")


async def test_the_opt_out_tag_is_set_per_provider_and_removed_on_start(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await create(
        http, server, twilio_provider_payload(simulator, opt_out_tag="sms-unsubscribed")
    )
    await reply(http, simulator, provider, "STOP")
    assert (await contact(http, server))["tags"] == ["sms-unsubscribed"]
    for bad in ("", "x" * 51, 42):
        status, body = await api(
            http,
            "PATCH",
            f"{server.url}/api/v1/providers/{provider['id']}",
            server.headers,
            {"opt_out_tag": bad},
        )
        assert status == 422 and body["field"] == "opt_out_tag", body
    status, changed = await api(
        http,
        "PATCH",
        f"{server.url}/api/v1/providers/{provider['id']}",
        server.headers,
        {"opt_out_tag": "Twilio-Message-stop"},
    )
    assert status == 200 and changed["opt_out_tag"] == "Twilio-Message-stop"
    await reply(http, simulator, provider, "START")
    # START takes off the provider's tag as it is now; an old one stays a label.
    person = await contact(http, server)
    assert not person["opted_out"] and person["tags"] == ["sms-unsubscribed"]
    await reply(http, simulator, provider, "STOP")
    await reply(http, simulator, provider, "UNSTOP")
    assert "Twilio-Message-stop" not in (await contact(http, server))["tags"]
