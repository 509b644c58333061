"""Dispatch throughput: the HTTP ceiling vs Textcast's dispatcher, in one run.

Prints, against the built-in simulator in fast mode (no callbacks) on this
machine:
  (a) raw aiohttp requests/s to the simulator (the ceiling),
  (b) Textcast queued → provider-accepted on SQLite,
  (c) the same on PostgreSQL (one dispatcher process),
each with p50/p99 send latency and the ratio to (a), plus peak RSS.

    .venv/bin/python benchmarks/dispatch.py [--messages 20000] [--pg-dsn postgresql://postgres@127.0.0.1/test]

The simulator runs in a child process so it does not share the dispatcher's
event loop (it still shares the machine's two cores, as in the issue).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import secrets
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg
from sqlalchemy import func, select

from textcast.config import Settings
from textcast.context import Context
from textcast.db import migrate
from textcast.db.models import Message, SendAttempt
from textcast.dispatch.dispatcher import Dispatcher
from textcast.providers.base import basic_auth
from textcast.services import messages as message_service
from textcast.services.providers import create_provider

SID = "AC" + "b" * 32
TOKEN = "bench-token-" + "x" * 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_simulator(port: int) -> None:
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
                await asyncio.sleep(0.05)
    raise RuntimeError("simulator did not start")


async def http_ceiling(url: str, count: int, concurrency: int) -> dict[str, float]:
    """Raw form POSTs to Messages.json with the same concurrency as the dispatcher."""
    endpoint = f"{url}/2010-04-01/Accounts/{SID}/Messages.json"
    headers = basic_auth(SID, TOKEN)
    latencies: list[float] = []
    queue = iter(range(count))

    async def worker(http: aiohttp.ClientSession) -> None:
        for i in queue:
            form = {
                "To": f"+1415555{i % 10000:04d}",
                "From": "+15005550006",
                "Body": f"ceiling {i}",
            }
            started = time.perf_counter()
            async with http.post(endpoint, data=form, headers=headers) as response:
                await response.read()
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"rate": count / elapsed, **percentiles(latencies)}


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"p50_ms": 0.0, "p99_ms": 0.0}
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    }


async def textcast_run(
    database_url: str, sim_url: str, count: int, data_dir: Path
) -> dict[str, float]:
    migrate.upgrade(database_url)
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        demo=False,
        allow_private_targets=True,
        dispatch_poll_interval=0.01,
        public_url="http://127.0.0.1:9",
    )
    ctx = Context.create(settings)
    async with ctx.session() as session:
        await create_provider(
            ctx,
            session,
            {
                "name": "bench",
                "type": "twilio",
                "account_sid": SID,
                "auth_token": TOKEN,
                "base_url": sim_url,
                "senders": [
                    {"name": "bench", "type": "short_code", "sender_id": "12345", "mps": 10_000}
                ],
            },
        )
    rows = [{"to": f"+1415555{i % 10000:04d}", "body": f"bench message {i}"} for i in range(count)]
    for start in range(0, count, 10_000):
        async with ctx.session() as session:
            await message_service.submit_batch(
                settings, session, list(rows[start : start + 10_000])
            )
    dispatcher = Dispatcher(ctx)
    started = time.perf_counter()
    await dispatcher.drain(timeout=600)
    elapsed = time.perf_counter() - started
    async with ctx.sessions() as session:
        accepted = await session.scalar(select(func.count()).where(Message.status == "accepted"))
        latencies = [
            v / 1000 for v in await session.scalars(select(SendAttempt.latency_ms)) if v is not None
        ]
    await ctx.close()
    if accepted != count:
        raise RuntimeError(f"only {accepted} of {count} messages were accepted")
    return {"rate": count / elapsed, **percentiles(latencies)}


async def fresh_pg_database(dsn: str) -> tuple[str, str]:
    name = f"textcast_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = dsn.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"
    return name, url


async def drop_pg_database(dsn: str, name: str) -> None:
    conn = await asyncpg.connect(dsn)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    sim_url = f"http://127.0.0.1:{port}"
    simulator = multiprocessing.Process(target=run_simulator, args=(port,), daemon=True)
    simulator.start()
    try:
        await wait_until_up(sim_url)
        results: dict[str, dict[str, float]] = {}
        results["(a) HTTP ceiling, raw aiohttp"] = await http_ceiling(
            sim_url, args.messages, args.concurrency
        )
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            results["(b) Textcast on SQLite"] = await textcast_run(
                url, sim_url, args.messages, Path(tmp)
            )
        if not args.skip_pg:
            name, url = await fresh_pg_database(args.pg_dsn)
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    results["(c) Textcast on PostgreSQL, 1 process"] = await textcast_run(
                        url, sim_url, args.messages, Path(tmp)
                    )
            finally:
                await drop_pg_database(args.pg_dsn, name)
    finally:
        simulator.terminate()
    ceiling = results["(a) HTTP ceiling, raw aiohttp"]["rate"]
    print(f"\n{args.messages} messages, concurrency {args.concurrency}, {os.cpu_count()} cores\n")
    print(f"{'run':42} {'msg/s':>9} {'ratio':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for label, figures in results.items():
        print(
            f"{label:42} {figures['rate']:9.0f} {figures['rate'] / ceiling:6.2f} "
            f"{figures['p50_ms']:8.1f} {figures['p99_ms']:8.1f}"
        )
    print(f"\npeak RSS of the benchmark process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--pg-dsn",
        default=os.environ.get("TEXTCAST_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--skip-pg", action="store_true")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
