"""A batch with every kind of bad row among good ones, on both databases:
each bad row is reported by its index (or CSV line) with the field at fault,
and every good row is queued all the same."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import RunningServer, Simulator, _truncate, twilio_provider_payload
from tests.integration.helpers import api
from textcast.cli import app as cli_app
from textcast.config import Settings
from textcast.context import Context
from textcast.db.models import Message
from textcast.services.providers import create_provider

OK = "+14155552671"
SENDERS = [
    {"name": "main", "type": "long_code", "sender_id": "+15005550006", "mps": 500},
    {"name": "dlt", "type": "alphanumeric", "sender_id": "TXTCST", "template_id_required": True},
]

# (row, the field its rejection names; None for a good row)
ROWS: list[tuple[Any, str | None]] = [
    ({"to": OK, "body": "good 0"}, None),
    ({"to": "not-a-phone", "body": "x"}, "to"),
    ({"to": OK, "body": "good 2", "sender": "main", "campaign": "spring"}, None),
    ({"to": OK, "body": "x", "sender": "nobody"}, "sender"),
    ({"to": OK, "body": "a" * 1601}, "body"),  # past Twilio's 1,600 characters
    ({"to": OK, "body": "x", "sender": "dlt"}, "template_id"),
    ({"to": OK, "body": "keyed 6", "idempotency_key": "k-1"}, None),
    ({"to": OK, "body": "y", "idempotency_key": "k-1"}, "idempotency_key"),  # twice in a batch
    ({"to": OK, "body": "a\x00b"}, "body"),
    ({"to": OK, "body": "lone \ud800"}, "body"),
    (42, "body"),
    (None, "body"),
    ({"to": OK, "body": 12}, "body"),
    ({"to": OK, "body": "x", "media_urls": ["https://cdn.example.com/a.png"]}, "media_urls"),
    ({"to": OK, "body": "x", "campaign": "c" * 101}, "campaign"),
    ({"to": OK, "body": "   "}, "body"),
    ({"to": OK, "body": "x", "colour": "blue"}, "colour"),
    ({"to": OK, "body": "x", "sender": "ma\x00in"}, "sender"),
    ({"to": "+1415555\x002671", "body": "x"}, "to"),
    ({"to": OK, "body": "good 19", "sender": "dlt", "template_id": "1107000000001"}, None),
    ({"to": OK, "body": "x", "template_id": "t" * 101}, "template_id"),
    ({"to": OK, "body": "good 21 ✓"}, None),
    ({"to": OK, "body": "x", "idempotency_key": 7}, "idempotency_key"),
    ({"to": OK, "body": "x", "idempotency_key": "k\x00"}, "idempotency_key"),
    ({"to": OK, "body": "x", "idempotency_key": "k" * 201}, "idempotency_key"),
    ({"to": OK, "body": "other text", "idempotency_key": "used-once"}, "idempotency_key"),
    ({"to": OK, "body": "sent before", "idempotency_key": "used-twice"}, None),  # replayed
]
# Keys already used by single sends before the batch: one for the same message
# (the row answers that message), one for another (a bad row).
EARLIER = {"used-once": "sent before", "used-twice": "sent before"}
GOOD = [index for index, (_, field) in enumerate(ROWS) if field is None]


async def add_provider(server: RunningServer, simulator: Simulator, http: Any) -> None:
    payload = twilio_provider_payload(simulator, senders=SENDERS)
    status, answer = await api(
        http, "POST", f"{server.url}/api/v1/providers", server.headers, payload
    )
    assert status == 201, answer


async def send_earlier(server: RunningServer, http: Any) -> dict[str, int]:
    """The single sends that used EARLIER's keys: key -> message id."""
    ids = {}
    for key, body in EARLIER.items():
        headers = {**server.headers, "Idempotency-Key": key}
        url = f"{server.url}/api/v1/messages"
        status, answer = await api(http, "POST", url, headers, {"to": OK, "body": body})
        assert status == 202, answer
        ids[key] = answer["id"]
    return ids


async def test_every_bad_row_is_reported_and_every_good_row_queued(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_provider(server, simulator, http)
    earlier = await send_earlier(server, http)
    rows = [row for row, _ in ROWS]
    url = f"{server.url}/api/v1/messages/batch"
    status, answer = await api(http, "POST", url, server.headers, {"messages": rows})
    assert status == 202, answer
    assert [m["index"] for m in answer["messages"]] == GOOD
    expected = [(i, field) for i, (_, field) in enumerate(ROWS) if field is not None]
    assert [(e["index"], e["field"]) for e in answer["errors"]] == expected
    assert all(e["message"] for e in answer["errors"])
    assert (answer["accepted"], answer["rejected"]) == (len(GOOD), len(expected))
    replayed = [m for m in answer["messages"] if m.get("replayed")]
    assert [(m["index"], m["id"]) for m in replayed] == [(len(ROWS) - 1, earlier["used-twice"])]
    for row_index, entry in zip(GOOD, answer["messages"], strict=True):
        status, message = await api(
            http, "GET", f"{server.url}/api/v1/messages/{entry['id']}", server.headers
        )
        assert status == 200, message
        assert message["body"] == ROWS[row_index][0]["body"]


async def test_a_batch_of_only_bad_rows_queues_nothing_and_says_why(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_provider(server, simulator, http)
    earlier = await send_earlier(server, http)
    # Row 7 is bad only after row 6, which is good.
    bad = [row for index, (row, field) in enumerate(ROWS) if field is not None and index != 7]
    url = f"{server.url}/api/v1/messages/batch"
    status, answer = await api(http, "POST", url, server.headers, {"messages": bad})
    assert status == 202, answer
    assert (answer["accepted"], answer["rejected"]) == (0, len(bad))
    async with server.ctx.sessions() as session:
        assert sorted(await session.scalars(select(Message.id))) == sorted(earlier.values())


async def test_a_retried_keyed_batch_queues_nothing_twice(
    server: RunningServer, simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    await add_provider(server, simulator, http)
    rows = [{"to": OK, "body": f"row {i}", "idempotency_key": f"batch-7-{i}"} for i in range(5)]
    url = f"{server.url}/api/v1/messages/batch"
    status, first = await api(http, "POST", url, server.headers, {"messages": rows})
    assert status == 202 and first["accepted"] == 5, first
    rows[2]["body"] = "changed"  # the same key for another message: refused
    status, again = await api(http, "POST", url, server.headers, {"messages": rows})
    assert status == 202, again
    first_ids = {m["index"]: m["id"] for m in first["messages"]}
    assert [(m["index"], m["id"], m["replayed"]) for m in again["messages"]] == [
        (i, first_ids[i], True) for i in (0, 1, 3, 4)
    ]
    assert [(e["index"], e["field"]) for e in again["errors"]] == [(2, "idempotency_key")]
    async with server.ctx.sessions() as session:
        assert len(list(await session.scalars(select(Message.id)))) == 5


# CSV cells are text: the bad kinds a file can hold, as cells.
CSV_ROWS: list[tuple[dict[str, str], str | None]] = [
    ({"to": OK, "body": "good line 2"}, None),
    ({"to": "not-a-phone", "body": "x"}, "to"),
    ({"to": OK, "body": "x", "sender": "nobody"}, "sender"),
    ({"to": OK, "body": "a" * 1601}, "body"),
    ({"to": OK, "body": "x", "sender": "dlt"}, "template_id"),
    ({"to": OK, "body": "good line 7", "sender": "dlt", "template_id": "1107000000001"}, None),
    ({"to": OK, "body": "a\x00b"}, "body"),
    ({"to": OK, "body": "x", "media_urls": "https://cdn.example.com/a.png"}, "media_urls"),
    ({"to": OK, "body": "x", "append_unsubscribe_text": "perhaps"}, "append_unsubscribe_text"),
    ({"to": OK, "body": "x", "campaign": "c" * 101}, "campaign"),
    ({"to": OK, "body": "good line 12"}, None),
    ({"to": OK, "body": "x", "idempotency_key": "k" * 201}, "idempotency_key"),
]
COLUMNS = [
    "to",
    "body",
    "sender",
    "template_id",
    "media_urls",
    "append_unsubscribe_text",
    "campaign",
    "idempotency_key",
]


def csv_text() -> str:
    lines = [",".join(COLUMNS)]
    for row, _ in CSV_ROWS:
        lines.append(",".join(row.get(column, "") for column in COLUMNS))
    return "\n".join(lines) + "\n"


async def prepare(settings: Settings, simulator_url: str) -> None:
    """An empty database with the provider and its two senders."""
    ctx = Context.create(settings)
    try:
        await _truncate(ctx)
        payload = {
            "name": "twilio-sim",
            "type": "twilio",
            "account_sid": "AC" + "1" * 32,
            "auth_token": "an-auth-token",
            "base_url": simulator_url,
            "senders": SENDERS,
        }
        async with ctx.session() as session:
            await create_provider(ctx, session, payload)
    finally:
        await ctx.close()


async def queued_bodies(settings: Settings) -> list[str]:
    ctx = Context.create(settings)
    try:
        async with ctx.sessions() as session:
            return list(await session.scalars(select(Message.body).order_by(Message.id)))
    finally:
        await ctx.close()


def test_send_batch_csv_reports_each_bad_line_and_queues_the_rest(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing is sent here (no dispatcher runs), so the base URL is never called.
    asyncio.run(prepare(settings, "http://127.0.0.1:9"))
    monkeypatch.setenv("TEXTCAST_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TEXTCAST_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TEXTCAST_DEMO", "false")
    csv_file = tmp_path / "batch.csv"
    csv_file.write_text(csv_text(), encoding="utf-8")

    result = CliRunner().invoke(cli_app, ["send-batch", str(csv_file), "--json"])

    assert result.exit_code == 1, (result.output, result.exception)
    assert "Traceback" not in result.output
    report = json.loads(result.stdout)
    expected = [(i + 2, field) for i, (_, field) in enumerate(CSV_ROWS) if field is not None]
    assert [(e["line"], e["field"]) for e in report["errors"]] == expected
    assert report["accepted"] == len(CSV_ROWS) - len(expected)
    bodies = asyncio.run(queued_bodies(settings))
    assert bodies == ["good line 2", "good line 7", "good line 12"]
