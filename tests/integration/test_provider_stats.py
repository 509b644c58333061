"""A provider's Stats tab (API and CLI) against a hand-built set of messages
whose every number is known: per sender, per destination country, errors
by code with their descriptions, median and p95 time to delivery."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import select

from tests.conftest import RunningServer, Simulator, twilio_provider_payload
from tests.integration.helpers import api, cli
from textcast import error_codes
from textcast.audience.contacts import ensure_many
from textcast.db.models import Message, Sender

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
US, US2, GB, DE = "+14155552671", "+14155552672", "+447400123456", "+4915123456789"
ERASED = "erased:abcdefghijklm"
SENDERS = [
    {"name": "main", "type": "long_code", "sender_id": "+15005550006", "mps": 500},
    {"name": "second", "type": "long_code", "sender_id": "+14155550100", "mps": 500},
]


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# (sender, to, status, sent_at, carrier done, final_at, error, segments, created)
SCENARIO: list[tuple[str, str, str, Any, Any, Any, Any, int, datetime]] = [
    # main: delivered in 2 s (carrier time), 4 s (no carrier time: final_at),
    # 0 s (carrier's minute-resolution time reads before sent_at).
    ("main", US, "delivered", T0, s(2), s(3), None, 1, T0),
    ("main", US2, "delivered", T0, None, s(4), None, 1, T0),
    ("main", GB, "read", T0, s(-30), s(5), None, 1, T0),
    ("main", GB, "undelivered", T0, s(9), s(10), "30003", 1, T0),
    ("main", US, "failed", None, None, s(1), "21211", 1, T0),
    ("main", US, "sent", T0, None, None, None, 2, T0),
    ("main", US2, "queued", None, None, None, None, 3, T0),
    # second: delivered in 10 s; an erased recipient; a failure after acceptance.
    ("second", DE, "delivered", T0, s(10), s(11), None, 1, T0),
    ("second", ERASED, "undelivered", T0, None, s(12), "30003", 1, T0),
    ("second", DE, "failed", T0, None, s(13), "30007", 1, T0),
    # Created before the window.
    ("main", US, "delivered", T0, s(100), s(100), None, 1, T0 - timedelta(days=2)),
]
WINDOW = "since=2026-11-30T00:00:00Z&until=2026-12-02T00:00:00Z"


async def build(server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession) -> None:
    for name, senders in (("twilio-sim", SENDERS), ("other", [{**SENDERS[0], "name": "o"}])):
        status, body = await api(
            http,
            "POST",
            f"{server.url}/api/v1/providers",
            server.headers,
            twilio_provider_payload(simulator, name=name, senders=senders),
        )
        assert status == 201, body
    async with server.ctx.session() as session:
        await ensure_many(session, [US, US2, GB, DE], ids=False)
        senders = {row.name: row for row in await session.scalars(select(Sender))}
        rows = [*SCENARIO, ("o", US, "delivered", T0, s(1), s(1), None, 1, T0)]
        for sender, to, state, sent, done, final, error, segments, created in rows:
            session.add(
                Message(
                    provider_id=senders[sender].provider_id,
                    sender_id=senders[sender].id,
                    to=to,
                    body="hi",
                    status=state,
                    segments=segments,
                    encoding="GSM-7",
                    error_code=error,
                    created_at=created,
                    sent_at=sent,
                    delivered_at=done,
                    final_at=final,
                    # The queued one waits for a retry: the running dispatcher leaves it.
                    next_attempt_at=T0 + timedelta(days=3650),
                )
            )


def counts(numbers: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("messages", "sent", "delivered", "undelivered", "failed", "segments", "delivery_rate")
    return tuple(numbers[k] for k in keys)


async def test_provider_stats_add_up_per_sender_and_country(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await build(server, simulator, http)
    status, numbers = await api(
        http, "GET", f"{server.url}/api/v1/providers/twilio-sim/stats?{WINDOW}", server.headers
    )
    assert status == 200, numbers
    assert numbers["provider"]["name"] == "twilio-sim"
    assert counts(numbers) == (10, 8, 4, 2, 2, 9, 0.5)
    # Deliveries took 0, 2, 4 and 10 s: percentile_cont interpolates.
    assert numbers["delivery_seconds"] == {"median": 3.0, "p95": 9.1, "measured": 4}
    main, second = numbers["senders"]
    assert (main["name"], counts(main)) == ("main", (7, 5, 3, 1, 1, 6, 0.6))
    assert main["delivery_seconds"] == {"median": 2.0, "p95": 3.8, "measured": 3}
    assert (second["name"], counts(second)) == ("second", (3, 3, 1, 1, 1, 3, 0.3333))
    assert second["delivery_seconds"] == {"median": 10.0, "p95": 10.0, "measured": 1}
    assert [(c["country"], *counts(c)) for c in numbers["countries"]] == [
        ("US", 5, 3, 2, 0, 1, 4, 0.6667),
        ("DE", 2, 2, 1, 0, 1, 2, 0.5),
        ("GB", 2, 2, 1, 1, 0, 2, 0.5),
        ("ZZ", 1, 1, 0, 1, 0, 1, 0.0),
    ]
    assert [(e["error_code"], e["count"]) for e in numbers["errors"]] == [
        ("30003", 2),
        ("21211", 1),
        ("30007", 1),
    ]
    for entry in numbers["errors"]:
        assert entry["description"] and entry["description"] == error_codes.describe(
            entry["error_code"]
        )

    # Everything the provider ever sent: the message before the window too.
    _, all_time = await api(
        http, "GET", f"{server.url}/api/v1/providers/twilio-sim/stats", server.headers
    )
    assert counts(all_time)[:3] == (11, 9, 5)

    _, one = await api(
        http,
        "GET",
        f"{server.url}/api/v1/providers/twilio-sim/stats?{WINDOW}&sender=second",
        server.headers,
    )
    assert counts(one) == counts(second) and [x["name"] for x in one["senders"]] == ["second"]
    assert one["delivery_seconds"] == second["delivery_seconds"]

    cli_numbers = await cli(
        server.ctx,
        "providers",
        "stats",
        "twilio-sim",
        "--since",
        "2026-11-30T00:00:00Z",
        "--until",
        "2026-12-02T00:00:00Z",
        "--json",
    )
    assert cli_numbers.exit_code == 0, cli_numbers.output
    assert json.loads(cli_numbers.stdout) == numbers
    table = await cli(server.ctx, "providers", "stats", "twilio-sim", "--sender", "main")
    assert table.exit_code == 0, table.output
    # main over all time: 4 of 6 final messages delivered; 30007 was second's.
    assert "30003" in table.stdout and "66.7%" in table.stdout, table.stdout
    assert "30007" not in table.stdout


async def test_provider_stats_refuse_bad_input(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await build(server, simulator, http)
    base = f"{server.url}/api/v1/providers"
    for query, field in (
        ("twilio-sim/stats?sender=o", "sender"),
        ("twilio-sim/stats?since=2026-12-01T00:00:00", "since"),
        ("twilio-sim/stats?since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z", "until"),
    ):
        status, body = await api(http, "GET", f"{base}/{query}", server.headers)
        assert status == 422 and field in json.dumps(body), (query, body)
    status, _ = await api(http, "GET", f"{base}/nope/stats", server.headers)
    assert status == 404
    naive = await cli(server.ctx, "providers", "stats", "twilio-sim", "--since", "2026-12-01")
    assert naive.exit_code == 2 and "time zone" in naive.stderr, naive.output
    foreign = await cli(server.ctx, "providers", "stats", "twilio-sim", "--sender", "o")
    assert foreign.exit_code == 2 and "not a sender" in foreign.stderr, foreign.output
