"""Contacts through the API: create or update by number or external ID,
change, tag, look up, list with filters and pages, opt-out state from the
suppression list."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api

ADA = "+14155552671"
GRACE = "+442079460001"


async def upsert(
    server: RunningServer, http: aiohttp.ClientSession, **body: Any
) -> tuple[int, Any]:
    return await api(http, "POST", f"{server.url}/api/v1/contacts", server.headers, body)


async def get(server: RunningServer, http: aiohttp.ClientSession, path: str) -> tuple[int, Any]:
    return await api(http, "GET", f"{server.url}/api/v1/{path}", server.headers)


async def test_a_contact_is_created_then_updated_by_number_or_external_id(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    status, ada = await upsert(
        server,
        http,
        phone="(415) 555-2671",
        external_id="user-1",
        attributes={"first_name": "Ada", "plan": "gold", "renewal_date": "2026-03-01"},
        tags=["vip"],
    )
    assert status == 201 and ada["created"]
    assert ada["phone"] == ADA and ada["country"] == "US"
    assert (ada["time_zone"], ada["time_zone_source"]) == ("America/Los_Angeles", "phone")
    assert ada["opted_out"] is False

    # By external ID: the number changes, attributes merge, null deletes, tags add.
    status, moved = await upsert(
        server,
        http,
        external_id="user-1",
        phone="+1 415 555 2672",
        attributes={"plan": "silver", "renewal_date": None},
        tags=["beta"],
    )
    assert status == 200 and not moved["created"] and moved["id"] == ada["id"]
    assert moved["phone"] == "+14155552672"
    assert moved["attributes"] == {"first_name": "Ada", "plan": "silver"}
    assert moved["tags"] == ["vip", "beta"]

    # By number, with no external ID: the same contact again.
    status, same = await upsert(server, http, phone="+14155552672", attributes={"age": 36})
    assert status == 200 and same["id"] == ada["id"] and same["attributes"]["age"] == 36


async def test_conflicting_identities_are_a_409_and_bad_input_a_422(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    await upsert(server, http, phone=ADA, external_id="user-1")
    await upsert(server, http, phone=GRACE, external_id="user-2")
    status, body = await upsert(server, http, phone=GRACE, external_id="user-1")
    assert status == 409, body
    status, body = await upsert(server, http, phone=ADA, external_id="user-9")
    assert status == 409 and "user-1" in body["message"]
    for payload, field in [
        ({}, "phone"),
        ({"external_id": "nobody-yet"}, "phone"),
        ({"phone": "12"}, "phone"),
        ({"phone": ADA, "attributes": {"first name": "x"}}, "attributes"),
        ({"phone": ADA, "attributes": {"renewal": "2026-02-30"}}, "attributes.renewal"),
        ({"phone": ADA, "attributes": {"nested": {"a": 1}}}, "attributes.nested"),
        ({"phone": ADA, "time_zone": "Etc/Unknown"}, "time_zone"),
        ({"phone": ADA, "colour": "red"}, "colour"),
    ]:
        status, body = await upsert(server, http, **payload)
        assert (status, body["field"]) == (422, field), payload


async def test_patch_changes_attributes_tags_zone_and_ids(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    _, ada = await upsert(server, http, phone=ADA, attributes={"plan": "gold", "city": "SF"})
    url = f"{server.url}/api/v1/contacts/{ada['id']}"
    status, changed = await api(
        http,
        "PATCH",
        url,
        server.headers,
        {
            "attributes": {"plan": "platinum", "city": None, "points": 12},
            "add_tags": ["vip", "beta"],
            "time_zone": "Europe/Paris",
            "external_id": "user-1",
        },
    )
    assert status == 200, changed
    assert changed["attributes"] == {"plan": "platinum", "points": 12}
    assert changed["tags"] == ["vip", "beta"]
    assert (changed["time_zone"], changed["time_zone_source"]) == ("Europe/Paris", "explicit")
    status, changed = await api(
        http, "PATCH", url, server.headers, {"remove_tags": ["vip"], "time_zone": None}
    )
    assert changed["tags"] == ["beta"]
    assert (changed["time_zone"], changed["time_zone_source"]) == ("America/Los_Angeles", "phone")
    for ref in (str(ada["id"]), ADA, quote("(415) 555-2671"), "user-1", "external_id:user-1"):
        status, found = await get(server, http, f"contacts/{ref}")
        assert (status, found["id"]) == (200, ada["id"]), ref
    assert (await get(server, http, "contacts/nobody"))[0] == 404


async def test_opted_out_is_the_suppression_lists_answer_not_a_tag(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await upsert(server, http, phone=ADA, tags=["opted-out"])
    _, contact = await get(server, http, f"contacts/{ADA}")
    assert contact["opted_out"] is False  # a tag is only a label
    payload = twilio_provider_payload(simulator)
    status, provider = await api(
        http, "POST", f"{server.url}/api/v1/providers", server.headers, payload
    )
    assert status == 201, provider
    body = {"provider": payload["name"], "phone": ADA}
    await api(http, "POST", f"{server.url}/api/v1/suppressions", server.headers, body)
    body = {"remove_tags": ["opted-out", "Twilio-Message-stop"]}  # labels, removable
    await api(http, "PATCH", f"{server.url}/api/v1/contacts/{ADA}", server.headers, body)
    _, contact = await get(server, http, f"contacts/{ADA}")
    assert contact["opted_out"] is True and contact["tags"] == []
    assert [s["scope"] for s in contact["suppressions"]] == ["account"]


async def test_the_list_filters_and_pages_by_id(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    for i in range(7):
        await upsert(
            server,
            http,
            phone=f"+1415555{2670 + i}",
            attributes={"plan": "gold" if i % 2 else "silver", "age": 20 + i},
            tags=["vip"] if i < 4 else [],
        )
    await upsert(server, http, phone=GRACE, attributes={"plan": "gold"}, tags=["vip"])

    async def listing(**query: Any) -> tuple[int, Any]:
        return await get(server, http, f"contacts?{urlencode(query, doseq=True)}")

    pages, after = [], 0
    while after is not None:
        status, page = await listing(limit=3, after_id=after)
        assert status == 200
        pages.append([c["phone"] for c in page["contacts"]])
        after = page["next_after_id"]
    assert [len(p) for p in pages] == [3, 3, 2]
    _, page = await listing(tag="vip", country="US")
    assert len(page["contacts"]) == 4
    rule = {"all": [{"field": "attributes.plan", "op": "eq", "value": "gold"}]}
    _, page = await listing(rules=json.dumps(rule), country="US,GB")
    assert len(page["contacts"]) == 4
    rule = {"field": "attributes.age", "op": "gte", "value": 24}
    _, page = await listing(rules=json.dumps(rule))
    assert [c["attributes"]["age"] for c in page["contacts"]] == [24, 25, 26]

    for query, field in [
        ({"colour": "red"}, "colour"),
        ({"country": "USA"}, "country"),
        ({"opted_out": "maybe"}, "opted_out"),
        ({"rules": "{not json"}, "rules"),
        ({"rules": json.dumps({"field": "attributes.age", "op": "gt", "value": "old"})},
         "rules.value"),
        ({"rules": json.dumps({"field": "plan", "op": "eq", "value": "gold"})}, "rules.field"),
    ]:  # fmt: skip
        status, body = await listing(**query)
        assert (status, body["field"]) == (422, field), query
    assert (await listing(segment="nope"))[0] == 404
