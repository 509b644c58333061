"""`textcast campaigns` against a running server (whose runner fans out)."""

from __future__ import annotations

import json

import aiohttp

from tests.conftest import RunningServer, Simulator
from tests.integration.helpers import cli
from tests.integration.test_campaigns_api import call, setup_audience
from tests.integration.test_webhooks import add_provider


async def test_create_test_launch_watch_and_list_recipients(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_provider(server, simulator, http)
    await setup_audience(server, http)
    ctx = server.ctx
    made = await cli(
        ctx, "campaigns", "create", "spring", "--template", "hello", "--segment", "gold",
        "--quiet-hours", '{"off": true, "follow_law": false}', "--label", "q2", "--json",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["status"] == "draft"

    tested = await cli(ctx, "campaigns", "test", "spring", "+14155552672", "--json")
    assert tested.exit_code == 0, tested.output
    assert json.loads(tested.output)[0]["body"] == "Hi Bob, 20% off today"

    watched = await cli(ctx, "campaigns", "launch", "spring", "--watch", "--timeout", "60")
    assert watched.exit_code == 0, watched.output
    assert "spring: completed, 3 targeted, 2 queued, 1 skipped" in watched.output

    skipped = await cli(ctx, "campaigns", "recipients", "spring", "--status", "skipped", "--json")
    [row] = json.loads(skipped.output)
    assert (row["reason"], row["detail"]) == ("render_error", "contact.first_name")
    listed = await cli(ctx, "campaigns", "list")
    assert "spring" in listed.output and "completed" in listed.output

    refused = await cli(ctx, "campaigns", "pause", "spring")
    assert refused.exit_code == 1 and "completed" in refused.output
    bad = await cli(ctx, "campaigns", "create", "x", "--body", "hi", "--segment", "gold",
                    "--local-time", "7pm")  # fmt: skip
    assert bad.exit_code == 2 and "local_time" in bad.output and "Traceback" not in bad.output
    neither = await cli(ctx, "campaigns", "create", "x", "--body", "hi")
    assert neither.exit_code == 2 and "audience" in neither.output


async def test_the_list_pages_newest_first_with_before_id(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_provider(server, simulator, http)
    for index in range(3):
        draft = {"name": f"c{index}", "body": "Hi", "audience": {"phones": ["+14155552671"]}}
        assert (await call(server, http, "POST", "campaigns", draft))[0] == 201
    ctx = server.ctx

    async def names(*options: str) -> list[str]:
        listed = await cli(ctx, "campaigns", "list", *options, "--json")
        assert listed.exit_code == 0, listed.output
        return [c["name"] for c in json.loads(listed.output)]

    assert await names("--limit", "2") == ["c2", "c1"]
    assert await names("--limit", "2", "--before-id", "2") == ["c0"]
    refused = await cli(ctx, "campaigns", "list", "--before-id", "0")
    assert refused.exit_code == 2 and "--before-id" in refused.output
