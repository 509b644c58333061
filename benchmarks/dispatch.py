"""Dispatch throughput: the HTTP ceiling vs Textcast's dispatcher, in one run.

Prints, against the built-in simulator in fast mode (no callbacks) on this
machine:
  (a) raw aiohttp requests/s to the simulator (the ceiling),
  (b) Textcast queued → provider-accepted on SQLite,
  (c) the same on PostgreSQL with 1 and 2 `textcast worker` processes,
each with p50/p99 send latency, the ratio to (a) and the CPU per message of
Textcast (or the raw client), the simulator and PostgreSQL, plus peak RSS, and
  (d) 100,000 messages accepted through the batch API.

    .venv/bin/python benchmarks/dispatch.py [--messages 20000] [--intake 100000]
        [--pg-dsn postgresql://postgres@127.0.0.1/test] [--skip-pg]

The simulator runs in a child process so it does not share the dispatcher's
event loop (it still shares the machine's two cores, as in the issue).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import uvicorn
from cryptography.fernet import Fernet
from harness import (
    SID,
    TOKEN,
    CpuMeter,
    drop_pg_database,
    free_port,
    fresh_pg_database,
    run_simulator,
    wait_until_up,
)
from sqlalchemy import func, select

from textcast import runtime
from textcast.api.app import create_app
from textcast.config import Settings
from textcast.context import Context
from textcast.db import migrate
from textcast.db.models import Message, SendAttempt
from textcast.dispatch.dispatcher import Dispatcher
from textcast.providers.base import basic_auth
from textcast.services import apikeys
from textcast.services import messages as message_service
from textcast.services.providers import create_provider

SECRET_KEY = Fernet.generate_key().decode()


async def http_ceiling(url: str, count: int, concurrency: int, meter: CpuMeter) -> dict[str, float]:
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
        meter.start()
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        used = meter.per_message()
    return {"rate": count / elapsed, **percentiles(latencies), **used}


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"p50_ms": 0.0, "p99_ms": 0.0}
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    }


def bench_settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        demo=False,
        allow_private_targets=True,
        dispatch_poll_interval=0.01,
        public_url="http://127.0.0.1:9",
        secret_key=SECRET_KEY,
    )


async def prepare(database_url: str, sim_url: str, count: int, data_dir: Path) -> Context:
    """A migrated database with the benchmark provider and ``count`` queued messages."""
    migrate.upgrade(database_url)
    ctx = Context.create(bench_settings(database_url, data_dir))
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
    rows: list[object] = [
        {"to": f"+1415555{i % 10000:04d}", "body": f"bench message {i}"} for i in range(count)
    ]
    for start in range(0, count, 10_000):
        async with ctx.session() as session:
            await message_service.submit_batch(ctx.settings, session, rows[start : start + 10_000])
    return ctx


async def figures(ctx: Context, count: int, elapsed: float) -> dict[str, float]:
    async with ctx.sessions() as session:
        accepted = await session.scalar(select(func.count()).where(Message.status == "accepted"))
        latencies = [
            v / 1000 for v in await session.scalars(select(SendAttempt.latency_ms)) if v is not None
        ]
    if accepted != count:
        raise RuntimeError(f"only {accepted} of {count} messages were accepted")
    return {"rate": count / elapsed, **percentiles(latencies)}


async def textcast_in_process(
    database_url: str, sim_url: str, count: int, data_dir: Path, meter: CpuMeter
) -> dict[str, float]:
    """The dispatcher in this process (queued → accepted; intake excluded)."""
    ctx = await prepare(database_url, sim_url, count, data_dir)
    meter.start()
    started = time.perf_counter()
    await Dispatcher(ctx).drain(timeout=600)
    elapsed = time.perf_counter() - started
    used = meter.per_message()
    result = await figures(ctx, count, elapsed)
    await ctx.close()
    return {**result, **used}


async def textcast_workers(
    database_url: str, sim_url: str, count: int, data_dir: Path, processes: int, meter: CpuMeter
) -> dict[str, float]:
    """``processes`` separate `textcast worker` processes sharing the database."""
    ctx = await prepare(database_url, sim_url, count, data_dir)
    env = {
        **os.environ,
        "TEXTCAST_DATABASE_URL": database_url,
        "TEXTCAST_DATA_DIR": str(data_dir),
        "TEXTCAST_SECRET_KEY": SECRET_KEY,
        "TEXTCAST_ALLOW_PRIVATE_TARGETS": "true",
        "TEXTCAST_DEMO": "false",
        "TEXTCAST_DISPATCH_POLL_INTERVAL": "0.01",
        "TEXTCAST_PUBLIC_URL": "http://127.0.0.1:9",
    }
    meter.start()
    started = time.perf_counter()
    workers = [
        subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited in a hot path
            [sys.executable, "-m", "textcast", "worker", "--log-level", "warning"], env=env
        )
        for _ in range(processes)
    ]
    try:
        while time.perf_counter() - started < 600:
            async with ctx.sessions() as session:
                done = await session.scalar(
                    select(func.count()).where(Message.status == "accepted")
                )
            if done == count:
                break
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    used = meter.per_message()  # the workers have exited: their CPU, start-up included
    result = await figures(ctx, count, elapsed)
    await ctx.close()
    return {**result, **used}


async def batch_intake(count: int, data_dir: Path) -> dict[str, float]:
    """POST /api/v1/messages/batch, 10,000 rows per call, to a running server (SQLite)."""
    database_url = f"sqlite+aiosqlite:///{data_dir}/intake.db"
    migrate.upgrade(database_url)
    port = free_port()
    settings = bench_settings(database_url, data_dir)
    settings.port = port
    ctx = Context.create(settings)
    async with ctx.session() as session:
        await create_provider(
            ctx,
            session,
            {
                "name": "intake",
                "type": "twilio",
                "account_sid": SID,
                "auth_token": TOKEN,
                "base_url": "http://127.0.0.1:9",
                "senders": [{"name": "intake", "type": "short_code", "sender_id": "12345"}],
            },
        )
        key = (await apikeys.create_key(session, "bench")).key
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(ctx, run_dispatcher=False), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.05)
    rows = [{"to": f"+1415555{i % 10000:04d}", "body": f"intake {i}"} for i in range(count)]
    headers = {"Authorization": f"Bearer {key}"}
    started = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        for start in range(0, count, 10_000):
            async with http.post(
                f"http://127.0.0.1:{port}/api/v1/messages/batch",
                headers=headers,
                json={"messages": rows[start : start + 10_000]},
            ) as response:
                answer = await response.json()
                if response.status != 202 or answer["rejected"]:
                    raise RuntimeError(
                        f"batch intake failed: {response.status} {str(answer)[:300]}"
                    )
    elapsed = time.perf_counter() - started
    server.should_exit = True
    await task
    await ctx.close()
    return {"rate": count / elapsed, "seconds": elapsed}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    sim_url = f"http://127.0.0.1:{port}"
    simulator = multiprocessing.Process(target=run_simulator, args=(port,), daemon=True)
    simulator.start()
    results: dict[str, dict[str, float]] = {}
    assert simulator.pid is not None
    meter = CpuMeter(simulator.pid, args.messages)
    try:
        await wait_until_up(sim_url)
        results["(a) HTTP ceiling, raw aiohttp"] = await http_ceiling(
            sim_url, args.messages, args.concurrency, meter
        )
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            results["(b) Textcast on SQLite"] = await textcast_in_process(
                url, sim_url, args.messages, Path(tmp), meter
            )
        if not args.skip_pg:
            for processes in (1, 2):
                name, url = await fresh_pg_database(args.pg_dsn)
                try:
                    with tempfile.TemporaryDirectory() as tmp:
                        plural = "es" if processes > 1 else ""
                        label = f"(c) Textcast on PostgreSQL, {processes} worker process{plural}"
                        results[label] = await textcast_workers(
                            url, sim_url, args.messages, Path(tmp), processes, meter
                        )
                finally:
                    await drop_pg_database(args.pg_dsn, name)
    finally:
        simulator.terminate()
    ceiling = results["(a) HTTP ceiling, raw aiohttp"]["rate"]
    print(f"\n{args.messages} messages, concurrency {args.concurrency}, {os.cpu_count()} cores\n")
    print(f"{'run':48} {'msg/s':>9} {'ratio':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for label, result in results.items():
        print(
            f"{label:48} {result['rate']:9.0f} {result['rate'] / ceiling:6.2f} "
            f"{result['p50_ms']:8.1f} {result['p99_ms']:8.1f}"
        )
    # client: the raw aiohttp client, or Textcast (its worker processes with their
    # start-up included). PostgreSQL counts every postgres process on the machine.
    print(f"\n{'CPU per message, us':48} {'client':>9} {'simulator':>10} {'PostgreSQL':>11}")
    for label, result in results.items():
        print(
            f"{label:48} {result['cpu_client']:9.0f} {result['cpu_simulator']:10.0f} "
            f"{result['cpu_postgres']:11.0f}"
        )
    print(
        "\npeak RSS of the benchmark process (simulator and workers excluded): "
        f"{peak_rss_mb():.0f} MB"
    )
    if args.intake:
        with tempfile.TemporaryDirectory() as tmp:
            intake = await batch_intake(args.intake, Path(tmp))
        print(
            f"batch API intake: {args.intake} messages in {intake['seconds']:.1f} s "
            f"({intake['rate']:.0f}/s)"
        )


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
    parser.add_argument(
        "--intake", type=int, default=100_000, help="messages for the batch API run (0 = skip)"
    )
    runtime.run(main(parser.parse_args()))  # the event loop Textcast's own processes use
    sys.exit(0)
