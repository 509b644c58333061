"""What the benchmarks share: the simulator in a child process, a throwaway
PostgreSQL database, a free port. Imported by the scripts beside it."""

from __future__ import annotations

import asyncio
import secrets
import socket

import aiohttp
import asyncpg

SID = "AC" + "b" * 32
TOKEN = "bench-token-" + "x" * 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_simulator(port: int) -> None:
    """Child-process target: the simulator in fast mode (no callbacks) for SID/TOKEN."""
    from aiohttp import web

    from textcast.simulator import SimulatorConfig, SimulatorState, create_app

    state = SimulatorState(SimulatorConfig(callbacks=False))
    state.add_account(SID, TOKEN)
    web.run_app(create_app(state), host="127.0.0.1", port=port, access_log=None, print=None)


async def wait_until_up(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"{url}/_simulator/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("simulator did not start")


async def fresh_pg_database(dsn: str, prefix: str = "textcast_bench") -> tuple[str, str]:
    """Create an empty database; returns (name, SQLAlchemy async URL)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = dsn.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"
    return name, url


async def drop_pg_database(dsn: str, name: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
