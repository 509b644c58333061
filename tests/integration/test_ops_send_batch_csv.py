"""`textcast send-batch` takes every per-message field of the batch API as a CSV column."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from typer.testing import CliRunner

from textcast.cli import app
from textcast.config import Settings
from textcast.context import Context
from textcast.db.models import Message
from textcast.services.providers import create_provider

CSV = (
    "to,body,sender,campaign,automation,template_id,append_unsubscribe_text,media_urls,name\n"
    "+14155550100,Spring is here,mms,spring-sale,welcome-flow,T-1,true,"
    "https://example.com/a.jpg https://example.com/b.jpg,Ann\n"
    "+14155550101,Just text,,,,,,,Bob\n"
    "+14155550102,,mms,,,,,https://example.com/c.jpg,Cy\n"
)


@pytest.fixture
def settings(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A SQLite database with an MMS-capable sender, and the CLI pointed at it."""
    database = tmp_path / "textcast.db"
    database.write_bytes(sqlite_template.read_bytes())
    env = {
        "TEXTCAST_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "TEXTCAST_DATA_DIR": str(tmp_path / "data"),
        "TEXTCAST_SECRET_KEY": Fernet.generate_key().decode(),
        "TEXTCAST_DEMO": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    asyncio.run(add_provider(settings))
    return settings


async def add_provider(settings: Settings) -> None:
    ctx = Context.create(settings)
    try:
        async with ctx.session() as session:
            await create_provider(
                ctx,
                session,
                {
                    "name": "twilio-main",
                    "type": "twilio",
                    "account_sid": "AC" + "1" * 32,
                    "auth_token": "an-auth-token",
                    "senders": [
                        {"name": "plain", "type": "long_code", "sender_id": "+14155550001"},
                        {
                            "name": "mms",
                            "type": "long_code",
                            "sender_id": "+14155550002",
                            "mms_capable": True,
                            "unsubscribe_text": "Reply STOP to opt out",
                        },
                    ],
                },
            )
    finally:
        await ctx.close()


async def queued(settings: Settings) -> list[Message]:
    ctx = Context.create(settings)
    try:
        async with ctx.sessions() as session:
            return list(await session.scalars(select(Message).order_by(Message.id)))
    finally:
        await ctx.close()


def test_send_batch_carries_campaign_automation_and_the_other_message_fields(
    settings: Settings, tmp_path: Path
) -> None:
    csv_file = tmp_path / "campaign.csv"
    csv_file.write_text(CSV, encoding="utf-8")
    result = CliRunner().invoke(app, ["send-batch", str(csv_file), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accepted"] == 3
    assert "ignoring unknown columns: name" in result.stderr

    first, second, third = asyncio.run(queued(settings))
    assert (first.campaign, first.automation, first.template_id) == (
        "spring-sale",
        "welcome-flow",
        "T-1",
    )
    assert first.body == "Spring is here\nReply STOP to opt out"
    assert first.media_urls == ["https://example.com/a.jpg", "https://example.com/b.jpg"]
    assert (second.campaign, second.automation, second.media_urls) == (None, None, [])
    assert second.body == "Just text"
    assert (third.body, third.media_urls) == ("", ["https://example.com/c.jpg"])


def test_send_batch_reports_a_bad_field_value_by_line(settings: Settings, tmp_path: Path) -> None:
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text(
        "to,body,append_unsubscribe_text\n+14155550100,Hi,perhaps\n+14155550101,Hi,false\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["send-batch", str(csv_file), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert (report["accepted"], report["rejected"]) == (1, 1)
    assert report["errors"][0]["line"] == 2
    assert report["errors"][0]["field"] == "append_unsubscribe_text"
