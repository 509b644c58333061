"""The campaign wizard's review, on both databases: an audience of phone
numbers counted by the segment service (known contacts opted out or not,
new numbers), a saved segment, a number the service refuses, and the cost
estimated from per-segment prices."""

from __future__ import annotations

import aiohttp

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api
from textcast.dashboard.pages import campaign_form as cf
from textcast.dashboard.pages import campaign_review as review

KNOWN, SUPPRESSED, NEW = "+14155552671", "+14155552672", "+14155552673"


async def setup(server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession) -> None:
    calls = [
        ("POST", "providers", twilio_provider_payload(simulator)),
        ("POST", "contacts", {"phone": KNOWN, "tags": ["vip"]}),
        ("POST", "contacts", {"phone": SUPPRESSED, "tags": ["vip"]}),
        ("POST", "suppressions", {"provider": "twilio-sim", "phone": SUPPRESSED}),
        ("PUT", "segments/vip", {"rules": {"field": "tags", "op": "has", "value": "vip"}}),
    ]
    for method, path, body in calls:
        status, answer = await api(
            http, method, f"{server.url}/api/v1/{path}", server.headers, body
        )
        assert status in (200, 201), answer


def wizard(**given: str) -> dict[str, object]:
    return cf.payload(dict.fromkeys(cf.ALL_FIELDS, "") | cf.DEFAULTS | {"name": "x"} | given)


async def test_the_review_counts_phone_numbers_and_segments_and_prices_them(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await setup(server, simulator, http)
    settings = server.ctx.settings
    phones = wizard(audience_kind="phones", phones=f"{KNOWN}, {SUPPRESSED}\n{NEW}", body="Hi")
    segment = wizard(segment="vip", body="Olá, 20% off 🌷", control_percent="50")
    async with server.ctx.session() as session:
        numbers = await review.audience_numbers(session, settings, phones["audience"])  # type: ignore[arg-type]
        assert {k: numbers[k] for k in ("total", "opted_out", "invalid", "sendable", "new")} == {
            "total": 3,
            "opted_out": 1,
            "invalid": 0,
            "sendable": 2,
            "new": 1,
        }
        by_segment = await review.audience_numbers(session, settings, segment["audience"])  # type: ignore[arg-type]
        assert (by_segment["total"], by_segment["sendable"]) == (2, 1)
        refused = await review.audience_numbers(session, settings, {"phones": ["12"]})
        assert "error" in refused
        missing = await review.audience_numbers(session, settings, {"segment": "nobody"})
        assert "no segment" in missing["error"]

        texts = await review.texts(session, settings, segment)
        assert (texts[0]["encoding"], texts[0]["segments"]) == ("UCS-2", 1)
        assert "🌷" in texts[0]["unicode"]
        # Rendered for the segment's first contacts by the template preview service.
        assert texts[0]["sample"] == {
            "sampled": 2,
            "max_segments": 1,
            "ucs2": 2,
            "render_errors": 0,
            "first_error": None,
        }
        assert (await review.texts(session, settings, phones))[0]["sample"] is None
        assert await review.estimated_cost(session, settings, segment, by_segment, texts) is None
        settings.segment_prices = {"*": 0.5, "twilio-sim:US": 2.0}
        cost = await review.estimated_cost(session, settings, phones, numbers, texts)
        # 2 sendable of 3, the US price (the known contacts' country), 1 segment each
        assert cost == {"amount": 4.0, "currency": "USD"}
        halved = await review.estimated_cost(session, settings, segment, by_segment, texts)
        assert halved == {"amount": 1.0, "currency": "USD"}  # a 50 % control group is not sent


async def test_the_review_leaves_out_countries_the_provider_may_not_send_to(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """A provider allowed only Canada cannot message the two US contacts
    (materialise skips them ``geo_not_allowed``): the wizard says so before
    the launch instead of promising them."""
    await setup(server, simulator, http)
    status, answer = await api(
        http,
        "PATCH",
        f"{server.url}/api/v1/providers/twilio-sim",
        server.headers,
        {"allowed_countries": ["CA"]},
    )
    assert status == 200, answer
    segment = wizard(segment="vip", body="Hi")
    phones = wizard(audience_kind="phones", phones=f"{KNOWN}, {NEW}", body="Hi")
    async with server.ctx.session() as session:
        settings = server.ctx.settings
        by_segment = await review.audience_numbers(session, settings, segment["audience"])  # type: ignore[arg-type]
        # Of two: one opted out, the other in the US.
        assert (by_segment["total"], by_segment["outside"], by_segment["sendable"]) == (2, 1, 0)
        listed = await review.audience_numbers(session, settings, phones["audience"])  # type: ignore[arg-type]
        # The known US contact is out; the new number is counted at launch.
        assert (listed["outside"], listed["sendable"], listed["new"]) == (1, 1, 1)
