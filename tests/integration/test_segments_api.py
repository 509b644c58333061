"""Saved segments and live counts through the API."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.conftest import RunningServer, Simulator
from tests.integration.helpers import api, eventually
from tests.integration.test_engagement import reply
from tests.integration.test_webhooks import add_provider

GOLD_ADULTS = {
    "all": [
        {"field": "attributes.plan", "op": "in", "value": ["gold", "platinum"]},
        {"field": "attributes.age", "op": "gte", "value": 30},
        {"not": {"field": "tags", "op": "has", "value": "churned"}},
    ]
}


async def call(
    server: RunningServer, http: aiohttp.ClientSession, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    return await api(http, method, f"{server.url}/api/v1/{path}", server.headers, body)


async def add_people(server: RunningServer, http: aiohttp.ClientSession) -> None:
    people = [
        ("+14155552671", {"plan": "gold", "age": 36}, []),
        ("+14155552672", {"plan": "platinum", "age": 52}, []),
        ("+14155552673", {"plan": "gold", "age": 25}, []),
        ("+14155552674", {"plan": "gold", "age": 41}, ["churned"]),
        ("+442079460001", {"plan": "gold", "age": 30}, []),
        ("+33612345678", {"plan": "silver", "age": 60}, []),
    ]
    for phone, values, tags in people:
        body = {"phone": phone, "attributes": values, "tags": tags}
        assert (await call(server, http, "POST", "contacts", body))[0] == 201


async def test_saved_segments_are_created_counted_changed_and_deleted(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    await add_people(server, http)
    body = {"rules": GOLD_ADULTS, "description": "Gold and platinum, 30 and over"}
    status, segment = await call(server, http, "PUT", "segments/gold-adults", body)
    assert status == 201, segment
    assert (await call(server, http, "PUT", "segments/gold-adults", body))[0] == 200

    status, counted = await call(server, http, "GET", "segments/gold-adults/count?sample=2")
    assert status == 200, counted
    assert (counted["count"], counted["sendable"], counted["opted_out"], counted["invalid"]) == (
        3,
        3,
        0,
        0,
    )
    assert counted["by_country"] == [{"country": "US", "count": 2}, {"country": "GB", "count": 1}]
    assert [c["phone"] for c in counted["sample"]] == ["+14155552671", "+14155552672"]
    assert counted["segment"]["name"] == "gold-adults"

    status, counted = await call(server, http, "GET", f"segments/{segment['id']}/count", None)
    assert counted["count"] == 3
    change = {"rules": {"field": "country", "op": "eq", "value": "GB"}, "name": "uk"}
    status, changed = await call(server, http, "PATCH", "segments/gold-adults", change)
    assert (status, changed["name"]) == (200, "uk")
    _, listed = await call(server, http, "GET", "segments")
    assert [s["name"] for s in listed["segments"]] == ["uk"]
    _, page = await call(server, http, "GET", "contacts?segment=uk")
    assert [c["phone"] for c in page["contacts"]] == ["+442079460001"]
    assert (await call(server, http, "DELETE", "segments/uk"))[0] == 200
    assert (await call(server, http, "GET", "segments/uk"))[0] == 404


async def test_bad_rules_and_names_are_a_422_naming_where(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    bad_rules = {"all": [{"field": "attributes.age", "op": "gte", "value": "thirty"}]}
    status, body = await call(server, http, "PUT", "segments/x", {"rules": bad_rules})
    assert (status, body["field"]) == (422, "rules.all[0].value")
    status, body = await call(server, http, "POST", "segments/count", {"rules": bad_rules})
    assert (status, body["field"]) == (422, "rules.all[0].value")
    unknown = {"rules": {"field": "favourite_colour", "op": "eq", "value": "red"}}
    status, body = await call(server, http, "POST", "segments/count", unknown)
    assert (status, body["field"]) == (422, "rules.field")
    status, body = await call(server, http, "PUT", "segments/123", {"rules": {"all": []}})
    assert (status, body["field"]) == (422, "name")
    # The SMS segment preview keeps its address.
    status, body = await call(server, http, "POST", "segments", {"body": "a" * 161})
    assert (status, body["segments"]) == (200, 2)


async def test_counts_read_opt_outs_invalid_numbers_and_activity(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    provider = await add_provider(server, simulator, http)
    await add_people(server, http)
    for phone in ("+14155552671", "+14155552672"):
        body = {"to": phone, "body": "Spring sale", "campaign": "spring"}
        assert (await call(server, http, "POST", "messages", body))[0] == 202

    async def delivered() -> bool:
        _, counted = await call(
            server, http, "POST", "segments/count", {"rules": {"activity": "delivered"}}
        )
        return bool(counted["count"] == 2)

    await eventually(delivered)
    await reply(http, simulator, provider, "STOP", from_number="+14155552672")
    # A number that writes in without being valid becomes an invalid contact.
    await reply(http, simulator, provider, "hi", from_number="+12845551234")

    async def count(rules: Any) -> Any:
        status, counted = await call(server, http, "POST", "segments/count", {"rules": rules})
        assert status == 200, counted
        return counted

    everyone = await count({"all": []})
    assert (everyone["count"], everyone["opted_out"], everyone["invalid"]) == (7, 1, 1)
    assert everyone["sendable"] == 5
    assert (await count({"activity": "received", "campaign": "spring"}))["count"] == 2
    assert (await count({"activity": "received", "campaign": "fall"}))["count"] == 0
    assert (await count({"activity": "replied", "within_last": "1d"}))["count"] == 2
    assert (await count({"activity": "replied", "campaign": "spring"}))["count"] == 1
    assert (await count({"activity": "failed"}))["count"] == 0
    assert (await count({"activity": "clicked"}))["count"] == 0
    assert (await count({"field": "opted_out", "op": "eq", "value": True}))["count"] == 1
    gold = await count(GOLD_ADULTS)
    assert (gold["count"], gold["opted_out"], gold["sendable"]) == (3, 1, 2)
    recent = {"field": "last_inbound_at", "op": "within_last", "value": "1h"}
    assert (await count(recent))["count"] == 2
