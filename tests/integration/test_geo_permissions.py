"""Geographic permissions on both databases: a provider's allowed_countries
set and changed (bad codes refused), single messages and batch rows to other
countries refused, campaign recipients there skipped with geo_not_allowed
(the others queued), test sends held to the single-message rule, and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration import test_campaign_fanout as fanout_tests
from tests.integration.helpers import api, cli
from textcast.campaigns.materialise import bucket_of
from textcast.context import Context
from textcast.services import campaign_stats
from textcast.services.providers import create_provider, update_provider

US, CANADA, UK = "+14155552671", "+14165550123", "+442079460958"


async def call(
    server: RunningServer, http: aiohttp.ClientSession, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    return await api(http, method, f"{server.url}/api/v1/{path}", server.headers, body)


def words(output: str) -> str:
    """CLI output as one line: Rich folds long messages at the terminal's width."""
    return " ".join(output.split())


async def add_provider(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession, **overrides: Any
) -> dict[str, Any]:
    status, provider = await call(
        server, http, "POST", "providers", twilio_provider_payload(simulator, **overrides)
    )
    assert status == 201, provider
    return dict(provider)


@pytest.mark.parametrize("bad", [["US", "XX"], ["USA"], "US,CA", [None], ["ZZ"]], ids=str)
async def test_a_provider_with_an_unknown_country_code_is_refused(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession, bad: Any
) -> None:
    payload = twilio_provider_payload(simulator, allowed_countries=bad)
    status, body = await call(server, http, "POST", "providers", payload)
    assert status == 422, body
    assert body["field"] == "allowed_countries"
    assert (await call(server, http, "GET", "providers"))[1] == []


async def test_allowed_countries_are_stored_shown_and_changed(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    made = await add_provider(server, simulator, http, allowed_countries=["us", "CA", "US"])
    assert made["config"]["allowed_countries"] == ["CA", "US"]
    path = f"providers/{made['id']}"

    status, refused = await call(server, http, "PATCH", path, {"allowed_countries": ["GB", "UK"]})
    assert (status, refused["field"]) == (422, "allowed_countries"), refused
    assert "'UK'" in refused["message"]
    assert (await call(server, http, "GET", path))[1]["config"]["allowed_countries"] == ["CA", "US"]

    status, changed = await call(server, http, "PATCH", path, {"allowed_countries": ["GB"]})
    assert (status, changed["config"]["allowed_countries"]) == (200, ["GB"]), changed
    # Other changes and new credentials keep the list.
    status, renamed = await call(server, http, "PATCH", path, {"name": "uk-only"})
    assert renamed["config"]["allowed_countries"] == ["GB"]
    status, moved = await call(server, http, "PATCH", path, {"base_url": simulator.url + "/"})
    assert (status, moved["config"]["allowed_countries"]) == (200, ["GB"]), moved
    credentials = {"auth_token": simulator.auth_token}
    status, reauthed = await call(server, http, "PUT", f"{path}/credentials", credentials)
    assert (status, reauthed["config"]["allowed_countries"]) == (200, ["GB"]), reauthed

    status, cleared = await call(server, http, "PATCH", path, {"allowed_countries": []})
    assert status == 200 and "allowed_countries" not in cleared["config"], cleared


async def test_a_message_to_a_country_not_allowed_is_refused_naming_to(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_provider(server, simulator, http, allowed_countries=["US", "CA"])
    status, refused = await call(server, http, "POST", "messages", {"to": UK, "body": "hi"})
    assert status == 422, refused
    assert refused["field"] == "to"
    assert "'twilio-sim'" in refused["message"] and "exclude GB" in refused["message"]
    for allowed in (US, CANADA):
        status, queued = await call(server, http, "POST", "messages", {"to": allowed, "body": "hi"})
        assert status == 202, queued
    _, listed = await call(server, http, "GET", "messages")
    assert sorted(m["to"] for m in listed["messages"]) == sorted([US, CANADA])


async def test_a_batch_refuses_the_row_to_a_country_not_allowed_and_queues_the_rest(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_provider(server, simulator, http, allowed_countries=["US"])
    rows = [{"to": US, "body": "one"}, {"to": UK, "body": "two"}, {"to": US, "body": "three"}]
    status, answer = await call(server, http, "POST", "messages/batch", {"messages": rows})
    assert status == 202, answer
    assert [m["index"] for m in answer["messages"]] == [0, 2]
    [error] = answer["errors"]
    assert (error["index"], error["field"]) == (1, "to")
    assert "exclude GB" in error["message"]


async def test_the_cli_sets_changes_and_honours_the_list(
    server: RunningServer, simulator: Simulator
) -> None:
    ctx = server.ctx
    base = ["providers", "add", "--name", "sim", "--account-sid", simulator.account_sid,
            "--auth-token", simulator.auth_token, "--base-url", simulator.url,
            "--sender-id", "+15005550006"]  # fmt: skip
    bad = await cli(ctx, *base, "--allowed-countries", "US,XX")
    assert bad.exit_code == 2 and "allowed_countries: 'XX'" in words(bad.output), bad.output
    made = await cli(ctx, *base, "--allowed-countries", "us, ca", "--json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["config"]["allowed_countries"] == ["CA", "US"]

    refused = await cli(ctx, "send", "--to", UK, "--body", "hi")
    assert refused.exit_code == 2 and "exclude GB" in words(refused.output), refused.output

    changed = await cli(ctx, "providers", "update", "sim", "--allowed-countries", "GB", "--json")
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.output)["config"]["allowed_countries"] == ["GB"]
    shown = await cli(ctx, "providers", "show", "sim")
    assert "GB" in shown.output
    sent = await cli(ctx, "send", "--to", UK, "--body", "hi", "--json")
    assert sent.exit_code == 0, sent.output

    cleared = await cli(ctx, "providers", "update", "sim", "--allowed-countries", "", "--json")
    assert "allowed_countries" not in json.loads(cleared.output)["config"]


async def test_campaign_recipients_in_a_country_not_allowed_are_skipped_and_the_rest_queued(
    ctx: Context,
) -> None:
    payload = {**fanout_tests.PROVIDER, "allowed_countries": ["US", "CA"]}
    async with ctx.session() as session:
        await create_provider(ctx, session, payload)
    americans = [f"+1415555{2600 + i}" for i in range(12)]
    londoners = [f"+4420794600{i:02d}" for i in range(12)]
    await fanout_tests.add_contacts(ctx, [(p, {}, None) for p in [*americans, CANADA, *londoners]])
    # Half held out: the control group is drawn from recipients who could be messaged only.
    campaign_id = await fanout_tests.launch(ctx, control_percent=50)
    now = datetime.now(UTC)
    await fanout_tests.choose(ctx, campaign_id, now)
    found = await fanout_tests.recipients(ctx, campaign_id)

    held = [p for p in londoners if bucket_of(found[p].contact_id, campaign_id)[0] < 50]
    assert held, "no Londoner drew a control bucket: the check below would prove nothing"
    for number in londoners:
        row = found[number]
        assert (row.status, row.reason, row.variant) == ("skipped", "geo_not_allowed", None)
        assert row.detail == "GB is not among the allowed countries of provider 'twilio'"
    reachable = [*americans, CANADA]
    for number in reachable:
        in_control = bucket_of(found[number].contact_id, campaign_id)[0] < 50
        assert found[number].status == ("control" if in_control else "pending"), number
        assert found[number].reason is None and found[number].detail is None

    await fanout_tests.fan_out(ctx, campaign_id, now)
    found = await fanout_tests.recipients(ctx, campaign_id)
    queued = {p for p, r in found.items() if r.status == "queued"}
    assert queued == {p for p in reachable if found[p].status != "control"} and queued
    numbers = await campaign_stats.campaign_stats(ctx, campaign_id)
    assert numbers["skipped"] == {"geo_not_allowed": len(londoners)}
    assert numbers["targeted"] == len(found)


async def test_a_provider_without_a_list_skips_nobody_for_their_country(ctx: Context) -> None:
    await fanout_tests.add_provider(ctx)
    await fanout_tests.add_contacts(ctx, [(US, {}, None), (UK, {}, None)])
    campaign_id = await fanout_tests.launch(ctx)
    await fanout_tests.choose(ctx, campaign_id, datetime.now(UTC))
    found = await fanout_tests.recipients(ctx, campaign_id)
    assert {p: r.status for p, r in found.items()} == {US: "pending", UK: "pending"}


async def test_a_country_left_out_after_recipients_were_chosen_is_skipped_at_fan_out(
    ctx: Context,
) -> None:
    await fanout_tests.add_provider(ctx)
    await fanout_tests.add_contacts(ctx, [(US, {}, None), (UK, {}, None)])
    campaign_id = await fanout_tests.launch(ctx)
    now = datetime.now(UTC)
    await fanout_tests.choose(ctx, campaign_id, now)
    async with ctx.session() as session:
        await update_provider(ctx, session, "twilio", {"allowed_countries": ["US"]})
    await fanout_tests.fan_out(ctx, campaign_id, now)
    found = await fanout_tests.recipients(ctx, campaign_id)
    assert (found[US].status, found[UK].status, found[UK].reason) == (
        "queued",
        "skipped",
        "geo_not_allowed",
    )
    assert found[UK].detail == "GB is not among the allowed countries of provider 'twilio'"


async def test_a_test_send_to_a_country_not_allowed_is_refused_naming_the_number(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_provider(server, simulator, http, allowed_countries=["US"])
    draft = {"name": "spring", "body": "Spring sale", "audience": {"phones": [US]}}
    assert (await call(server, http, "POST", "campaigns", draft))[0] == 201
    numbers = {"phones": [US, UK]}
    status, refused = await call(server, http, "POST", "campaigns/spring/test", numbers)
    assert (status, refused["field"]) == (422, "phones[1]"), refused
    assert "exclude GB" in refused["message"]
    _, listed = await call(server, http, "GET", "messages")
    assert listed["messages"] == []  # all or nothing, as for any refused number
    status, sent = await call(server, http, "POST", "campaigns/spring/test", {"phones": [US]})
    assert status == 201 and sent["messages"][0]["is_test"], sent
