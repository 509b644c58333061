"""Shared fixtures: real SQLite and PostgreSQL databases, the simulator on
127.0.0.1, and a Textcast server over real HTTP."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import uvicorn
from sqlalchemy import text

from textcast.app import TextcastApp, create_app
from textcast.config import Settings
from textcast.context import Context
from textcast.db import migrate
from textcast.db.models import Base
from textcast.services import apikeys
from textcast.simulator import SimulatorState, start_simulator

PG_ADMIN_DSN = os.environ.get("TEXTCAST_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated, dropped at the end."""
    name = f"textcast_test_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = (
        PG_ADMIN_DSN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0]
        + f"/{name}"
    )
    migrate.upgrade(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once; each test copies the file (much faster than migrating again)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "textcast.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        target = tmp_path / "textcast.db"
        target.write_bytes(sqlite_template.read_bytes())
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("pg_url")
    return url


async def _truncate(ctx: Context) -> None:
    if ctx.engine.dialect.name != "postgresql":
        return
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with ctx.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    port = free_port()
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        demo=False,
        allow_private_targets=True,
        dispatch_poll_interval=0.02,
    )


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[Context]:
    context = Context.create(settings)
    await _truncate(context)
    yield context
    await context.close()


@dataclass
class Simulator:
    state: SimulatorState
    url: str
    account_sid: str
    auth_token: str

    async def control(self, method: str, path: str, payload: Any = None) -> Any:
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, f"{self.url}/_simulator/{path}", json=payload) as response,
        ):
            return await response.json()


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    state = SimulatorState()
    sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
    state.add_account(sid, token)
    port = free_port()
    runner = await start_simulator(state, "127.0.0.1", port)
    yield Simulator(state, f"http://127.0.0.1:{port}", sid, token)
    await runner.cleanup()


@dataclass
class RunningServer:
    ctx: Context
    url: str
    api_key: str
    app: TextcastApp | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture
async def server(ctx: Context) -> AsyncIterator[RunningServer]:
    """Textcast on 127.0.0.1 with its dispatcher, reachable by real HTTP callbacks."""
    async with ctx.session() as session:
        key = (await apikeys.create_key(session, "tests")).key
    app = create_app(ctx)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=ctx.settings.port,
        log_level="warning",
        lifespan="on",
    )
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve())
    for _ in range(200):
        if uv.started:
            break
        await asyncio.sleep(0.02)
    yield RunningServer(ctx, f"http://127.0.0.1:{ctx.settings.port}", key, app)
    uv.should_exit = True
    await task


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def twilio_provider_payload(sim: Simulator, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": "twilio-sim",
        "type": "twilio",
        "account_sid": sim.account_sid,
        "auth_token": sim.auth_token,
        "base_url": sim.url,
        "senders": [{"name": "main", "type": "long_code", "sender_id": "+15005550006", "mps": 500}],
    }
    payload.update(overrides)
    return payload
