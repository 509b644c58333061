"""A campaign's stats (API, CLI, Prometheus) against a hand-built campaign
whose every number is known: recipients with every skip reason, messages in
every status, errors with codes, replies in and out of the window, opt-outs,
human and bot clicks, two variants and a control group; and rows that must
not count (a test send, another campaign's message and click)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api, cli, eventually
from tests.integration.test_campaigns_api import call, campaign_body, setup_audience
from tests.integration.test_webhooks import add_provider
from textcast import error_codes
from textcast.audience.contacts import ensure_many
from textcast.db.models import (
    Campaign,
    CampaignRecipient,
    LinkClick,
    Message,
    MessageEvent,
    Sender,
    ShortLink,
)
from textcast.services.campaign_stats import campaign_stats, price_of

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
GB = "+447400123456"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# key: (variant, status, sent, carrier done, final, error, segments, phone)
MESSAGES: dict[str, tuple[Any, ...]] = {
    "m1": ("A", "delivered", at(0.5), at(40 / 60), at(0.75), None, 1, None),
    "m2": ("A", "delivered", at(70 / 60), None, at(125 / 60), None, 2, GB),
    "m3": ("A", "undelivered", at(80 / 60), None, at(110 / 60), "30003", 1, None),
    "m4": ("A", "failed", None, None, at(20 / 60), "21211", 1, None),
    "m5": ("A", "queued", None, None, None, None, 1, None),
    "m9": ("B", "delivered", at(7 * 60 + 5), at(7 * 60 + 6), at(7 * 60 + 6), None, 1, None),
    "m10": ("B", "read", at(0.5), at(31 / 60), at(0.6), None, 1, None),
    "m11": ("B", "failed", at(0.75), None, at(3), "30007", 1, None),
    "m12": ("B", "sent", at(50 / 60), None, None, None, 1, None),
    "m13": ("B", "canceled", None, None, at(1), None, 1, None),
}
# Every reason the issue names and the fan-out writes.
SKIPPED = {
    "A": [
        "opted_out",
        "frequency_cap",
        "duplicate_phone",
        "geo_not_allowed",
        "quiet_hours",
        "contact_removed",
    ],
    "B": [
        "invalid_number",
        "render_error",
        "quiet_hours_expired",
        "campaign_expired",
        "local_time_passed",
        "cancelled",
    ],
}


async def build(server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession) -> int:
    status, body = await api(
        http,
        "POST",
        f"{server.url}/api/v1/providers",
        server.headers,
        twilio_provider_payload(simulator),
    )
    assert status == 201, body
    async with server.ctx.session() as session:
        sender = await session.scalar(select(Sender))
        assert sender is not None
        await ensure_many(session, [GB], ids=False)
        spring = Campaign(
            name="spring",
            # Paused: the server's campaign runner leaves it alone.
            status="paused",
            sender_id=sender.id,
            variants=[{"name": "A", "percent": 50}, {"name": "B", "percent": 50}],
            control_percent=20,
            click_tracking=True,
            launched_at=T0,
            created_at=T0,
        )
        other = Campaign(name="other", status="completed", launched_at=T0, created_at=T0)
        session.add_all([spring, other])
        await session.flush()

        def message(campaign: Campaign, variant: str | None, state: str, **extra: Any) -> Message:
            return Message(
                provider_id=sender.provider_id,
                sender_id=sender.id,
                to=extra.pop("to", None) or "+14155550123",
                body="Spring sale",
                status=state,
                encoding="GSM-7",
                campaign=campaign.name,
                campaign_id=campaign.id,
                variant=variant,
                category="promotional",
                created_at=T0,
                # The running dispatcher leaves a queued one waiting for a retry.
                next_attempt_at=T0 + timedelta(days=3650),
                **{"segments": 1, **extra},
            )

        made: dict[str, Message] = {}
        for key, (variant, state, sent, done, final, error, segments, phone) in MESSAGES.items():
            made[key] = message(
                spring,
                variant,
                state,
                sent_at=sent,
                delivered_at=done,
                final_at=final,
                error_code=error,
                segments=segments,
                to=phone,
            )
        # Not counted: a test send of the campaign, another campaign's message.
        made["test"] = message(spring, "A", "delivered", sent_at=at(1), is_test=True)
        made["elsewhere"] = message(other, None, "delivered", sent_at=at(1), final_at=at(2))
        session.add_all(made.values())
        await session.flush()

        contact = iter(range(1, 1000))
        recipients = [
            CampaignRecipient(
                campaign_id=spring.id,
                contact_id=next(contact),
                phone=made[key].to,
                variant=MESSAGES[key][0],
                status="queued",
                message_id=made[key].id,
            )
            for key in MESSAGES
        ]
        recipients += [
            CampaignRecipient(
                campaign_id=spring.id,
                contact_id=next(contact),
                phone="+14155550199",
                variant=variant,
                status="skipped",
                reason=reason,
            )
            for variant, reasons in SKIPPED.items()
            for reason in reasons
        ]
        recipients.append(
            CampaignRecipient(
                campaign_id=spring.id,
                contact_id=next(contact),
                phone="+14155550198",
                variant="A",
                status="pending",
            )
        )
        recipients += [
            CampaignRecipient(
                campaign_id=spring.id,
                contact_id=next(contact),
                phone="+14155550197",
                variant="control",
                status="control",
            )
            for _ in range(3)
        ]
        session.add_all(recipients)

        def event(kind: str, key: str, minutes_after_sent: float) -> MessageEvent:
            sent = made[key].sent_at or T0
            return MessageEvent(
                type=kind,
                message_id=made[key].id,
                source="inbound",
                created_at=sent + timedelta(minutes=minutes_after_sent),
            )

        session.add_all(
            [
                event("message.replied", "m1", 10),
                event("message.replied", "m2", 5),
                event("message.replied", "m2", 50),  # the same recipient again
                event("message.replied", "m10", 80 * 60),  # after the 72-hour window
                event("message.replied", "elsewhere", 5),
                event("message.replied", "test", 5),
                event("contact.opted_out", "m3", 1),
                event("contact.opted_out", "m11", 4 * 24 * 60),  # no window for STOP
                event("contact.opted_out", "elsewhere", 1),
            ]
        )
        links = {
            key: ShortLink(
                code=f"c{key}",
                url="https://example.com/spring",
                message_id=made[key].id,
                campaign="spring",
            )
            for key in ("m1", "m2", "m10", "elsewhere", "test")
        }
        session.add_all(links.values())
        await session.flush()

        def click(key: str, minutes: float, *, first: bool = False, bot: bool = False) -> LinkClick:
            return LinkClick(
                link_id=links[key].id,
                message_id=made[key].id,
                campaign="spring",  # "elsewhere" carries the same label: held apart by ID
                clicked_at=at(minutes),
                is_bot=bot,
                first=first,
            )

        session.add_all(
            [
                click("m1", 31 / 60, bot=True),
                click("m1", 35 / 60, first=True),
                click("m1", 50 / 60),
                click("m2", 3, bot=True),
                click("m10", 7 * 60 + 20, first=True),
                click("elsewhere", 2, first=True),
                click("test", 2, first=True),  # a test send's click does not count
            ]
        )
        return spring.id


def pick(numbers: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: numbers[key] for key in keys}


KEYS = (
    "targeted",
    "skipped_total",
    "control",
    "pending",
    "queued",
    "in_flight",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "canceled",
    "delivery_rate",
    "segments",
    "replied",
    "opted_out",
    "clicks",
    "unique_clicks",
    "ctr",
)


def row(*values: Any) -> dict[str, Any]:
    return dict(zip(KEYS, values, strict=True))


async def test_campaign_stats_are_exact(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    campaign_id = await build(server, simulator, http)
    status, numbers = await api(
        http, "GET", f"{server.url}/api/v1/campaigns/{campaign_id}/stats", server.headers
    )
    assert status == 200, numbers
    assert numbers["campaign"]["name"] == "spring"
    # targeted skipped control pending queued in-flight sent delivered undelivered failed
    # canceled delivery-rate segments replied opted-out clicks unique-clicks ctr
    assert pick(numbers, *KEYS) == row(
        26, 12, 3, 1, 10, 1, 7, 4, 1, 2, 1, 0.5714, 8, 2, 2, 3, 2, 0.5
    )
    variant_a, variant_b = numbers["variants"]
    assert variant_a["variant"] == "A" and variant_b["variant"] == "B"
    assert pick(variant_a, *KEYS) == row(12, 6, 0, 1, 5, 1, 3, 2, 1, 1, 0, 0.5, 4, 2, 1, 2, 1, 0.5)
    assert pick(variant_b, *KEYS) == row(
        11, 6, 0, 0, 5, 0, 4, 2, 0, 1, 1, 0.6667, 4, 0, 1, 1, 1, 0.5
    )
    control = numbers["control_group"]
    assert pick(control, *KEYS) == row(3, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, None, 0, 0, 0, 0, 0, None)
    assert numbers["skipped"] == {reason: 1 for reasons in SKIPPED.values() for reason in reasons}
    assert variant_a["skipped"] == dict.fromkeys(sorted(SKIPPED["A"]), 1)
    assert [(e["error_code"], e["count"]) for e in numbers["errors"]] == [
        ("21211", 1),
        ("30003", 1),
        ("30007", 1),
    ]
    for entry in numbers["errors"]:
        assert entry["description"] == error_codes.describe(entry["error_code"]) is not None
    assert numbers["estimated_cost"] is None and numbers["currency"] is None

    series = numbers["series"]
    assert series["start"] == T0.isoformat()
    assert series["per_minute_until"] == at(6 * 60).isoformat()
    assert [
        (p["at"], p["sent"], p["delivered"], p["failed"], p["clicked"]) for p in series["points"]
    ] == [
        (at(0).isoformat(), 4, 2, 1, 2),
        (at(1).isoformat(), 2, 0, 1, 0),
        (at(2).isoformat(), 0, 1, 0, 0),
        (at(3).isoformat(), 0, 0, 1, 0),
        (at(7 * 60).isoformat(), 1, 1, 0, 1),  # an hour's point after six hours
    ]

    shown = await cli(server.ctx, "campaigns", "stats", str(campaign_id), "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == numbers
    table = await cli(server.ctx, "campaigns", "stats", "spring")
    assert table.exit_code == 0, table.output
    for text in ("spring", "57.1%", "local_time_passed", "30007", "control"):
        assert text in table.stdout, text


@pytest.mark.parametrize(
    ("prices", "total", "a", "b"),
    [
        ({"*": 0.01}, 0.08, 0.04, 0.04),
        # m2 (2 segments) went to a GB number.
        ({"*": 0.01, "twilio-sim:GB": 0.05}, 0.16, 0.12, 0.04),
        ({"another-provider": 1.0}, None, None, None),
    ],
)
async def test_estimated_cost_per_segment(
    server: RunningServer,
    simulator: Simulator,
    http: aiohttp.ClientSession,
    prices: dict[str, float],
    total: float | None,
    a: float | None,
    b: float | None,
) -> None:
    campaign_id = await build(server, simulator, http)
    numbers = await campaign_stats(server.ctx, campaign_id, prices, "EUR")
    assert numbers["estimated_cost"] == total and numbers["currency"] == "EUR"
    assert [v["estimated_cost"] for v in numbers["variants"]] == [a, b]
    assert numbers["control_group"]["estimated_cost"] is None


def test_the_most_specific_price_applies() -> None:
    prices = {"*": 1.0, "*:GB": 2.0, "main": 3.0, "main:GB": 4.0}
    assert price_of(prices, "main", "GB") == 4.0
    assert price_of(prices, "main", "US") == 3.0
    assert price_of(prices, "other", "GB") == 2.0
    assert price_of(prices, "other", "US") == 1.0
    assert price_of({}, "main", "GB") is None


async def test_campaign_metrics_and_bad_ids(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    campaign_id = await build(server, simulator, http)
    async with http.get(f"{server.url}/metrics") as response:
        page = await response.text()
    for line in (
        'textcast_campaign_messages{campaign="spring",status="delivered"} 3',
        'textcast_campaign_messages{campaign="spring",status="read"} 1',
        'textcast_campaign_messages{campaign="spring",status="failed"} 2',
        'textcast_campaign_messages{campaign="spring",status="dispatching"} 0',
        'textcast_campaign_recipients_skipped{campaign="spring",reason="frequency_cap"} 1',
    ):
        assert line in page.splitlines(), line
    assert 'campaign="other"' not in page  # completed: its series ended with it

    status, body = await api(
        http, "GET", f"{server.url}/api/v1/campaigns/{campaign_id + 100}/stats", server.headers
    )
    assert status == 404, body
    status, body = await api(
        http, "GET", f"{server.url}/api/v1/campaigns/nope/stats", server.headers
    )
    assert status == 404, body
    status, by_name = await api(
        http, "GET", f"{server.url}/api/v1/campaigns/spring/stats", server.headers
    )
    assert status == 200 and by_name["campaign"]["id"] == campaign_id
    missing = await cli(server.ctx, "campaigns", "stats", str(campaign_id + 100))
    assert missing.exit_code == 1 and "no campaign" in missing.stderr, missing.output


async def test_a_campaign_not_yet_launched_has_zeros(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    async with server.ctx.session() as session:
        draft = Campaign(name="draft", status="draft", body="Hi")
        session.add(draft)
        await session.flush()
        draft_id = draft.id
    numbers = await campaign_stats(server.ctx, draft_id)
    assert numbers["targeted"] == numbers["sent"] == numbers["clicks"] == 0
    assert numbers["delivery_rate"] is None and numbers["ctr"] is None
    assert numbers["variants"] == [] and numbers["errors"] == []
    assert numbers["series"]["points"] == [] and numbers["control_group"]["targeted"] == 0


async def test_a_launched_campaign_counts_through_the_simulator(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """The real path: fan-out, dispatch to the simulator, its callbacks; the
    test send stays out of the numbers."""
    await add_provider(server, simulator, http)
    await setup_audience(server, http)
    status, made = await call(server, http, "POST", "campaigns", campaign_body())
    assert status == 201, made
    status, tested = await call(
        server, http, "POST", "campaigns/spring/test", {"phones": ["+14155552671"]}
    )
    assert status == 201, tested
    assert (await call(server, http, "POST", "campaigns/spring/launch"))[0] == 200

    async def settled() -> dict[str, Any] | None:
        _, numbers = await call(server, http, "GET", "campaigns/spring/stats")
        done = numbers["campaign"]["status"] == "completed"
        return numbers if done and numbers["delivered"] + numbers["failed"] == 2 else None

    numbers = await eventually(settled, timeout=60)
    assert (numbers["targeted"], numbers["queued"], numbers["skipped"]) == (
        3,
        2,
        {"render_error": 1},
    ), numbers
    assert (numbers["sent"], numbers["delivered"], numbers["in_flight"]) == (2, 2, 0), numbers
    assert numbers["delivery_rate"] == 1.0 and numbers["segments"] == 2
    assert sum(p["sent"] for p in numbers["series"]["points"]) == 2
