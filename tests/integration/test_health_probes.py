"""Liveness and readiness: /livez answers while the database is down, /healthz
says it is down (503 with the reason), neither needs an API key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from textcast.app import create_app
from textcast.config import Settings
from textcast.context import Context


@pytest.fixture
async def database_down(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # Port 1 on loopback: nothing listens there, so every connection is refused.
    settings = Settings(
        demo=False,
        data_dir=tmp_path,
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/textcast",
        secret_key=Fernet.generate_key().decode(),
    )
    ctx = Context.create(settings)
    app = create_app(ctx, run_dispatcher=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://textcast.test") as http:
        yield http
    await ctx.close()


async def test_liveness_answers_without_the_database(database_down: httpx.AsyncClient) -> None:
    response = await database_down.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_reports_an_unreachable_database(
    database_down: httpx.AsyncClient,
) -> None:
    response = await database_down.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "error"
    assert "unreachable" in response.json()["database"]
