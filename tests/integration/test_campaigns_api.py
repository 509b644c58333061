"""Campaigns through the API: create, test send, launch to a segment through
the simulator, and the lifecycle's moves and refusals."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.conftest import RunningServer, Simulator
from tests.integration.helpers import api, eventually
from tests.integration.test_webhooks import add_provider

OPEN_ALL_DAY = {"off": True, "follow_law": False}
PEOPLE = [
    ("+14155552671", {"first_name": "Ada", "plan": "gold"}),
    ("+14155552672", {"first_name": "Bob", "plan": "gold"}),
    ("+14155552673", {"plan": "gold"}),  # no first name: a render error
    ("+14155552674", {"first_name": "Cy", "plan": "silver"}),
]


async def call(
    server: RunningServer, http: aiohttp.ClientSession, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    return await api(http, method, f"{server.url}/api/v1/{path}", server.headers, body)


async def setup_audience(server: RunningServer, http: aiohttp.ClientSession) -> None:
    for phone, values in PEOPLE:
        assert (
            await call(server, http, "POST", "contacts", {"phone": phone, "attributes": values})
        )[0] == 201
    gold = {"rules": {"field": "attributes.plan", "op": "eq", "value": "gold"}}
    assert (await call(server, http, "PUT", "segments/gold", gold))[0] == 201
    template = {"name": "hello", "body": "Hi {{ contact.first_name }}, 20% off today"}
    assert (await call(server, http, "POST", "templates", template))[0] == 201


def campaign_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "spring",
        "template": "hello",
        "audience": {"segment": "gold"},
        "quiet_hours": OPEN_ALL_DAY,
    }
    body.update(overrides)
    return body


async def test_a_campaign_goes_from_draft_to_completed_through_the_simulator(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_provider(server, simulator, http)
    await setup_audience(server, http)
    status, campaign = await call(server, http, "POST", "campaigns", campaign_body())
    assert status == 201, campaign
    assert (campaign["status"], campaign["template_version"]) == ("draft", 1)

    status, tested = await call(
        server, http, "POST", "campaigns/spring/test", {"phones": ["+14155550100"], "variant": None}
    )
    assert status == 422 and tested["field"] == "phones[0]", tested  # no first_name for a stranger
    status, tested = await call(
        server, http, "POST", "campaigns/spring/test", {"phones": ["+14155552671"]}
    )
    assert status == 201, tested
    (test_message,) = tested["messages"]
    assert test_message["is_test"] and test_message["campaign"] == "spring"
    assert test_message["body"] == "Hi Ada, 20% off today"

    status, launched = await call(server, http, "POST", "campaigns/spring/launch")
    assert (status, launched["status"]) == (200, "sending"), launched

    async def completed() -> dict[str, Any] | None:
        _, shown = await call(server, http, "GET", "campaigns/spring")
        return shown if shown["status"] == "completed" else None

    shown = await eventually(completed)
    assert (shown["targeted"], shown["queued"], shown["skipped"]) == (3, 2, 1)
    assert shown["recipients"]["skipped:render_error"] == 1
    _, listed = await call(server, http, "GET", "campaigns/spring/recipients?status=skipped")
    (skipped,) = listed["recipients"]
    assert (skipped["phone"], skipped["detail"]) == ("+14155552673", "contact.first_name")
    # A state no recipient can be in is refused by name, not answered with nothing.
    refused, problem = await call(server, http, "GET", "campaigns/spring/recipients?status=sent")
    assert refused == 422 and "one of: pending, queued, skipped, control" in str(problem)
    _, listed = await call(server, http, "GET", "campaigns/spring/recipients?status=queued")
    bodies = set()
    for recipient in listed["recipients"]:
        _, message = await call(server, http, "GET", f"messages/{recipient['message_id']}")
        assert message["campaign"] == "spring" and not message["is_test"]
        bodies.add(message["body"])
    assert bodies == {"Hi Ada, 20% off today", "Hi Bob, 20% off today"}
    # Attribution: the campaign's events (the test message's too) carry its name.
    _, events = await call(server, http, "GET", "events?campaign=spring&type=message.queued")
    assert len(events["events"]) == 3, events
    assert {e["campaign"] for e in events["events"]} == {"spring"}

    # Finished: nothing moves it any more, and it cannot be edited or deleted.
    for action in ("launch", "pause", "resume", "cancel"):
        status, refused = await call(server, http, "POST", f"campaigns/spring/{action}")
        assert status == 409 and "completed" in refused["message"], (action, refused)
    status, refused = await call(server, http, "PATCH", "campaigns/spring", {"body": "x"})
    assert status == 409 and "cannot be edited" in refused["message"]
    assert (await call(server, http, "DELETE", "campaigns/spring"))[0] == 409


async def test_lifecycle_moves_and_refusals(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_provider(server, simulator, http)
    await setup_audience(server, http)
    later = {"send_at": "2099-01-01T10:00:00Z"}
    assert (await call(server, http, "POST", "campaigns", campaign_body(**later)))[0] == 201
    for action in ("pause", "resume"):
        status, refused = await call(server, http, "POST", f"campaigns/spring/{action}")
        assert status == 409 and "draft" in refused["message"], refused
    status, scheduled = await call(server, http, "POST", "campaigns/spring/launch")
    assert (status, scheduled["status"]) == (200, "scheduled")
    # Not started yet: still editable.
    status, changed = await call(server, http, "PATCH", "campaigns/spring", {"labels": ["q2"]})
    assert (status, changed["labels"]) == (200, ["q2"]), changed
    assert (await call(server, http, "POST", "campaigns/spring/launch"))[0] == 409
    status, paused = await call(server, http, "POST", "campaigns/spring/pause")
    assert (status, paused["status"]) == (200, "paused")
    status, refused = await call(server, http, "PATCH", "campaigns/spring", {"labels": []})
    assert status == 409 and "paused" in refused["message"]
    status, resumed = await call(server, http, "POST", "campaigns/spring/resume")
    assert (status, resumed["status"]) == (200, "scheduled")
    status, cancelled = await call(server, http, "POST", "campaigns/spring/cancel")
    assert (status, cancelled["status"]) == (200, "cancelled")
    assert (await call(server, http, "POST", "campaigns/spring/resume"))[0] == 409
    assert (await call(server, http, "DELETE", "campaigns/spring"))[0] == 409

    assert (await call(server, http, "POST", "campaigns", campaign_body(name="draft-one")))[
        0
    ] == 201
    assert (await call(server, http, "DELETE", "campaigns/draft-one"))[0] == 200
    assert (await call(server, http, "GET", "campaigns/draft-one"))[0] == 404


async def test_bad_campaigns_are_a_422_naming_the_field(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_provider(server, simulator, http)
    await setup_audience(server, http)
    cases = [
        (campaign_body(template="nope"), "template"),
        (campaign_body(template=None, body="Hi {{ contact.x"), "body"),
        (campaign_body(audience={"segment": "nope"}), "audience.segment"),
        (campaign_body(audience={"phones": ["not a number"]}), "audience.phones[0]"),
        (campaign_body(audience={}), "audience"),
        (campaign_body(local_time="25:00"), "local_time"),
        (campaign_body(sender="nobody"), "sender"),
        (campaign_body(frequency_caps=[{"limit": 2}]), "frequency_caps[0]"),
        (campaign_body(frequency_caps=["1/24h", "2/banana"]), "frequency_caps[1]"),
        (campaign_body(frequency_caps=["1/100d"]), "frequency_caps[0].hours"),
        (campaign_body(quiet_hours={"from": "9pm", "until": "08:00"}), "quiet_hours.from"),
        (campaign_body(expires_at="2000-01-01T00:00:00Z"), "expires_at"),
        (
            campaign_body(
                template=None,
                variants=[
                    {"name": "a", "body": "A", "percent": 50},
                    {"name": "b", "body": "B", "percent": 40},
                ],
            ),
            "variants",
        ),
        (campaign_body(control_percent=90), "control_percent"),
    ]
    for body, field in cases:
        status, refused = await call(server, http, "POST", "campaigns", body)
        assert (status, refused.get("field")) == (422, field), (body, refused)
    assert (await call(server, http, "POST", "campaigns", campaign_body()))[0] == 201
    status, refused = await call(server, http, "POST", "campaigns", campaign_body())
    assert status == 409
    # Caps written as the installation's are stored as the objects they mean.
    written = campaign_body(name="written-caps", frequency_caps=["1/24h", "3/week", "2/7d"])
    status, made = await call(server, http, "POST", "campaigns", written)
    assert status == 201, made
    assert made["frequency_caps"] == [
        {"limit": 1, "hours": 24},
        {"limit": 3, "per": "week"},
        {"limit": 2, "hours": 168},
    ]


async def test_the_list_pages_newest_first_with_before_id(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_provider(server, simulator, http)
    for index in range(5):
        draft = {"name": f"c{index}", "body": "Hi", "audience": {"phones": ["+14155552671"]}}
        assert (await call(server, http, "POST", "campaigns", draft))[0] == 201
    assert (await call(server, http, "POST", "campaigns/c1/launch"))[0] == 200

    pages, cursor = [], ""
    while True:
        status, page = await call(server, http, "GET", f"campaigns?limit=2{cursor}")
        assert status == 200, page
        pages.append([c["name"] for c in page["campaigns"]])
        if page["next_before_id"] is None:
            break
        cursor = f"&before_id={page['next_before_id']}"
    assert pages == [["c4", "c3"], ["c2", "c1"], ["c0"]]
    # The cursor holds with a filter, and a full last page still points on (to nothing).
    _, drafts = await call(server, http, "GET", "campaigns?status=draft&limit=2&before_id=4")
    assert [c["name"] for c in drafts["campaigns"]] == ["c2", "c0"]
    _, rest = await call(
        server, http, "GET", f"campaigns?limit=2&before_id={drafts['next_before_id']}"
    )
    assert rest == {"campaigns": [], "next_before_id": None}
    status, refused = await call(server, http, "GET", "campaigns?before_id=0")
    assert (status, refused["field"]) == (422, "before_id"), refused
