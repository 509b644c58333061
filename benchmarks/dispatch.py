"""Dispatch throughput: the HTTP ceiling vs Textcast's dispatcher, in one run.

Prints, against the built-in simulator in fast mode (no callbacks) on this
machine:
  (a) raw aiohttp requests/s to the simulator (the ceiling),
  (b) Textcast queued → provider-accepted on SQLite,
  (c) the same on PostgreSQL with 1 and 2 `textcast worker` processes,
each with p50/p99 send latency, the ratio to (a) and the CPU per message of
Textcast (or the raw client), the simulator and PostgreSQL, plus peak RSS, and
  (d) 100,000 messages accepted through the batch API.

Each Textcast run is paired with a ceiling run measured just before it, and
every configuration runs ``--rounds`` times: the machine's speed drifts by a
factor of two within minutes (shared cores), so one ceiling for the whole
script made the ratios swing from 0.47 to 0.69 between identical runs. The
table prints each configuration's median run and the range of its ratios.

    .venv/bin/python benchmarks/dispatch.py [--messages 20000] [--intake 100000]
        [--pg-dsn postgresql://postgres@127.0.0.1/test] [--skip-pg] [--rounds 3]

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
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

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
    process_cpu,
    provider_payload,
    run_simulator,
    wait_until_up,
)
from sqlalchemy import func, select

from textcast import runtime
from textcast.app import create_app
from textcast.config import Settings
from textcast.context import Context
from textcast.db import migrate
from textcast.db.models import Message, SendAttempt
from textcast.dispatch.dispatcher import Dispatcher
from textcast.providers.http import basic_auth
from textcast.services import apikeys
from textcast.services import messages as message_service
from textcast.services.providers import create_provider

SECRET_KEY = Fernet.generate_key().decode()
Results = dict[str, list[dict[str, float]]]


async def http_ceiling(url: str, count: int, concurrency: int, meter: CpuMeter) -> dict[str, float]:
    """Form POSTs to Messages.json with the same concurrency as the dispatcher,
    bodies encoded before the clock starts: aiohttp doing nothing but POST."""
    endpoint = f"{url}/2010-04-01/Accounts/{SID}/Messages.json"
    headers = {**basic_auth(SID, TOKEN), "Content-Type": "application/x-www-form-urlencoded"}
    bodies = [
        urlencode(
            {"To": f"+1415555{i % 10000:04d}", "From": "+15005550006", "Body": f"ceiling {i}"}
        ).encode()
        for i in range(count)
    ]
    latencies: list[float] = []
    queue = iter(bodies)

    async def worker(http: aiohttp.ClientSession) -> None:
        for body in queue:
            started = time.perf_counter()
            async with http.post(endpoint, data=body, headers=headers) as response:
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


async def prepare(database_url: str, sim_url: str, data_dir: Path) -> Context:
    """A migrated database with the benchmark provider, nothing queued yet."""
    migrate.upgrade(database_url)
    ctx = Context.create(bench_settings(database_url, data_dir))
    async with ctx.session() as session:
        await create_provider(
            ctx,
            session,
            provider_payload(sim_url),
        )
    return ctx


async def queue(ctx: Context, count: int) -> None:
    """Queue ``count`` messages in one transaction: all due from its commit on."""
    rows: list[object] = [
        {"to": f"+1415555{i % 10000:04d}", "body": f"bench message {i}"} for i in range(count)
    ]
    async with ctx.session() as session:
        for start in range(0, count, 10_000):
            await message_service.submit_batch(ctx.settings, session, rows[start : start + 10_000])


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
    ctx = await prepare(database_url, sim_url, data_dir)
    await queue(ctx, count)
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
    """``processes`` separate `textcast worker` processes sharing the database.

    Timed from the moment every worker dispatches and the messages are
    committed, as the in-process run is: a worker's start-up (imports,
    migration check, about 2 s of CPU here) is paid once per process, not
    per message, and with it inside the window two workers measured slower
    than one."""
    ctx = await prepare(database_url, sim_url, data_dir)
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
    ports = [free_port() for _ in range(processes)]
    workers = [
        subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited in a hot path
            [sys.executable, "-m", "textcast", "worker", "--log-level", "warning"],
            env={**env, "TEXTCAST_WORKER_METRICS_PORT": str(port)},
        )
        for port in ports
    ]
    try:
        # A worker serves its metrics just before its dispatcher starts.
        await asyncio.gather(
            *(wait_until_up(f"http://127.0.0.1:{p}", "/metrics", what="worker") for p in ports)
        )
        await queue(ctx, count)
        meter.start()
        cpu_before = [process_cpu(worker.pid) for worker in workers]
        started = time.perf_counter()
        while time.perf_counter() - started < 600:
            async with ctx.sessions() as session:
                done = await session.scalar(
                    select(func.count()).where(Message.status == "accepted")
                )
            if done == count:
                break
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        used = meter.per_message()
        workers_cpu = sum(
            process_cpu(worker.pid) - before
            for worker, before in zip(workers, cpu_before, strict=True)
        )
        used["cpu_client"] += workers_cpu * 1e6 / count
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
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


CEILING = "(a) HTTP ceiling, raw aiohttp"
Run = Callable[[str, Path, CpuMeter], Awaitable[dict[str, float]]]


def textcast_runs(args: argparse.Namespace, sim_url: str) -> dict[str, Run]:
    """Each Textcast configuration as one run against a fresh database."""

    async def on_sqlite(url: str, tmp: Path, meter: CpuMeter) -> dict[str, float]:
        return await textcast_in_process(url, sim_url, args.messages, tmp, meter)

    def on_postgres(processes: int) -> Run:
        async def run(url: str, tmp: Path, meter: CpuMeter) -> dict[str, float]:
            return await textcast_workers(url, sim_url, args.messages, tmp, processes, meter)

        return run

    runs: dict[str, Run] = {"(b) Textcast on SQLite": on_sqlite}
    if not args.skip_pg:
        runs["(c) Textcast on PostgreSQL, 1 worker process"] = on_postgres(1)
        runs["(c) Textcast on PostgreSQL, 2 worker processes"] = on_postgres(2)
    return runs


async def database_for(label: str, tmp: Path, pg_dsn: str) -> tuple[str, str | None]:
    """A fresh database for a run: (URL, PostgreSQL database to drop after)."""
    if "SQLite" in label:
        return f"sqlite+aiosqlite:///{tmp}/bench.db", None
    name, url = await fresh_pg_database(pg_dsn)
    return url, name


async def measure(args: argparse.Namespace, sim_url: str, meter: CpuMeter) -> Results:
    """Every configuration, ``args.rounds`` times, each run right after a
    ceiling run of its own: the machine's speed drifts within a minute, so
    a ratio is only fair between runs that close together."""
    results: Results = {CEILING: []}
    for _ in range(args.rounds):
        for label, run in textcast_runs(args, sim_url).items():
            ceiling = await http_ceiling(sim_url, args.messages, args.concurrency, meter)
            results[CEILING].append(ceiling)
            with tempfile.TemporaryDirectory() as tmp:
                url, pg_database = await database_for(label, Path(tmp), args.pg_dsn)
                try:
                    result = await run(url, Path(tmp), meter)
                finally:
                    if pg_database:
                        await drop_pg_database(args.pg_dsn, pg_database)
            result["ratio"] = result["rate"] / ceiling["rate"]
            results.setdefault(label, []).append(result)
    return results


def median_run(runs: list[dict[str, float]], key: str) -> dict[str, float]:
    """The run with the median ``key`` (the lower middle one of an even count)."""
    return sorted(runs, key=lambda run: run[key])[(len(runs) - 1) // 2]


def report(args: argparse.Namespace, results: Results) -> None:
    print(
        f"\n{args.messages} messages, concurrency {args.concurrency}, {os.cpu_count()} cores, "
        f"{args.rounds} round(s); each row is its median run, each ratio to the ceiling "
        "measured just before that run\n"
    )
    print(f"{'run':48} {'msg/s':>9} {'ratio':>6} {'range':>11} {'p50 ms':>8} {'p99 ms':>8}")
    for label, runs in results.items():
        if label == CEILING:
            middle = median_run(runs, "rate")
            ratio, spread = "1.00", ""
        else:
            middle = median_run(runs, "ratio")
            ratios = [run["ratio"] for run in runs]
            ratio, spread = f"{middle['ratio']:.2f}", f"{min(ratios):.2f}-{max(ratios):.2f}"
        print(
            f"{label:48} {middle['rate']:9.0f} {ratio:>6} {spread:>11} "
            f"{middle['p50_ms']:8.1f} {middle['p99_ms']:8.1f}"
        )
    # client: the raw aiohttp client, or Textcast (its worker processes with their
    # start-up included). PostgreSQL counts every postgres process on the machine.
    heading = "CPU per message, us (same runs)"
    print(f"\n{heading:48} {'client':>9} {'simulator':>10} {'PostgreSQL':>11}")
    for label, runs in results.items():
        middle = median_run(runs, "rate" if label == CEILING else "ratio")
        print(
            f"{label:48} {middle['cpu_client']:9.0f} {middle['cpu_simulator']:10.0f} "
            f"{middle['cpu_postgres']:11.0f}"
        )
    print(
        "\npeak RSS of the benchmark process (simulator and workers excluded): "
        f"{peak_rss_mb():.0f} MB"
    )


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    sim_url = f"http://127.0.0.1:{port}"
    simulator = multiprocessing.Process(target=run_simulator, args=(port,), daemon=True)
    simulator.start()
    assert simulator.pid is not None
    meter = CpuMeter(simulator.pid, args.messages)
    try:
        await wait_until_up(sim_url)
        results = await measure(args, sim_url, meter)
    finally:
        simulator.terminate()
    report(args, results)
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
        "--rounds", type=int, default=3, help="times each configuration runs (medians printed)"
    )
    parser.add_argument(
        "--intake", type=int, default=100_000, help="messages for the batch API run (0 = skip)"
    )
    runtime.run(main(parser.parse_args()))  # the event loop Textcast's own processes use
    sys.exit(0)
