"""Chaos: `kill -9` dispatcher workers while they send, then check nothing was
lost and no message reached the provider twice without being flagged.

    .venv/bin/python benchmarks/chaos.py [--messages 20000] [--workers 3] [--kill-every 2]
        [--lease-seconds 5] [--time-limit 240] [--pg-dsn postgresql://postgres@127.0.0.1/test]

A fresh PostgreSQL database is created and dropped; the Twilio simulator runs in
fast mode (no callbacks) in a child process; N messages with unique recipients
and bodies are queued; then `textcast worker` subprocesses dispatch them while a
random one is SIGKILLed every few seconds and replaced. A killed worker's leases
expire after TEXTCAST_LEASE_SECONDS and another worker recovers its messages
(looking each up at the provider: found → recorded, not resent; absent →
resent; unknown → resent flagged possible_duplicate).

Stops when no message is queued or dispatching, or at the time limit, then
prints a report. Exit code: 0 clean; 1 a bug was seen (a body the simulator got
more than once whose message is not flagged possible_duplicate, or a message
recorded as accepted the simulator never got); 2 unfinished at the time limit, or a
worker crashed by itself or did not exit 0 on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

import aiohttp
from cryptography.fernet import Fernet
from harness import (
    drop_pg_database,
    free_port,
    fresh_pg_database,
    provider_payload,
    run_simulator,
    wait_until_up,
)
from sqlalchemy import func, select

from textcast.config import Settings
from textcast.context import Context
from textcast.db import migrate
from textcast.db.models import Message, MessageEvent
from textcast.dispatch import recovery
from textcast.services import messages as message_service
from textcast.services.providers import create_provider

BATCH = 10_000
NOT_ACCEPTED = ("queued", "dispatching", "failed", "canceled")
SHUTDOWN_TIMEOUT = 30.0  # a worker's own grace for in-flight sends is 20 s
# What recovery writes in each decision's event (read from the dispatcher, so
# the counts follow its wording).
RECOVERY_DETAILS = {
    "found at the provider, not resent": recovery.FOUND,
    "resent, never reached the provider": recovery.ABSENT,
    "resent as possible duplicate": recovery.UNKNOWN_RESEND,
}


def log_text(path: str) -> str:
    return Path(path).read_text(errors="replace")


class Workers:
    """The `textcast worker` subprocesses: start, SIGKILL, replace, stop."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.live: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []
        self.all_logs: list[Path] = []
        self.started = 0
        self.killed = 0
        self.crashed: list[str] = []  # workers that exited without being killed

    def start(self) -> None:
        path = self.log_dir / f"worker-{self.started}.log"
        log = path.open("wb")
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "textcast", "worker", "--log-level", "info"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        except BaseException:
            log.close()
            raise
        self.live.append((process, log))
        self.all_logs.append(path)
        self.started += 1

    async def wait_ready(self, timeout: float = 15.0) -> None:
        """Until every live worker has its signal handlers (it logs "worker started"):
        a SIGTERM during start-up would kill it before it can shut down cleanly."""
        deadline = time.monotonic() + timeout
        for process, log in self.live:
            while time.monotonic() < deadline and process.poll() is None:
                log.flush()
                if "worker started" in log_text(log.name):
                    break
                await asyncio.sleep(0.1)

    def kill_one(self, rng: random.Random) -> None:
        process, log = self.live.pop(rng.randrange(len(self.live)))
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGKILL)
        process.wait()
        log.close()
        self.killed += 1

    def reap(self) -> None:
        """Note (and forget) workers that exited on their own."""
        for process, log in list(self.live):
            if process.poll() is not None:
                self.live.remove((process, log))
                log.close()
                tail = log_text(log.name)[-2000:]
                self.crashed.append(f"pid {process.pid} exited {process.returncode}:\n{tail}")

    async def stop_all(self) -> list[int | None]:
        """SIGTERM everyone, wait; SIGKILL whoever is still there after the timeout."""
        await self.wait_ready()
        for process, _ in self.live:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT
        codes: list[int | None] = []
        for process, _ in self.live:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                codes.append(await asyncio.to_thread(process.wait, remaining))
            except subprocess.TimeoutExpired:
                codes.append(None)
        self.kill_all()
        return codes

    def kill_all(self) -> None:
        for process, log in self.live:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()
            log.close()
        self.live = []


async def statuses(ctx: Context) -> Counter[str]:
    async with ctx.sessions() as session:
        rows = await session.execute(select(Message.status, func.count()).group_by(Message.status))
        return Counter({row[0]: int(row[1]) for row in rows})


async def queue_messages(ctx: Context, sim_url: str, count: int) -> None:
    async with ctx.session() as session:
        await create_provider(
            ctx,
            session,
            provider_payload(sim_url, "chaos"),
        )
    for start in range(0, count, BATCH):
        rows: list[object] = [
            {"to": f"+1415{2_000_000 + i:07d}", "body": f"chaos message {i}"}
            for i in range(start, min(count, start + BATCH))
        ]
        async with ctx.session() as session:
            result = await message_service.submit_batch(ctx.settings, session, rows)
        if result.rejected:
            raise RuntimeError(f"messages rejected: {result.rejected[:3]}")


async def chaos_loop(
    ctx: Context, workers: Workers, args: argparse.Namespace, rng: random.Random
) -> tuple[bool, float]:
    """Kill and replace workers until nothing is pending; (finished?, seconds)."""
    for _ in range(args.workers):
        workers.start()
    started = time.monotonic()
    next_kill = started + args.kill_every * rng.uniform(0.5, 1.5)
    next_report = started + 5.0
    while True:
        now = time.monotonic()
        counts = await statuses(ctx)
        pending = counts["queued"] + counts["dispatching"]
        if not pending:
            return True, now - started
        if now - started > args.time_limit:
            return False, now - started
        workers.reap()
        if now >= next_kill and workers.live:
            workers.kill_one(rng)
            next_kill = now + args.kill_every * rng.uniform(0.5, 1.5)
        while len(workers.live) < args.workers:
            workers.start()
        if now >= next_report:
            print(
                f"  {now - started:6.1f}s  pending {pending:6d}  accepted {counts['accepted']:6d}"
                f"  kills {workers.killed}",
                flush=True,
            )
            next_report = now + 5.0
        await asyncio.sleep(0.25)


async def report(ctx: Context, sim_url: str) -> tuple[dict[str, Any], list[str]]:
    """The figures, and the problems that are bugs."""
    timeout = aiohttp.ClientTimeout(total=120)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(f"{sim_url}/_simulator/messages") as response,
    ):
        seen = await response.json()
    per_body: dict[str, int] = {}
    for item in seen["post_counts"]:
        per_body[item["body"]] = per_body.get(item["body"], 0) + int(item["count"])
    accepted_at_sim = Counter(m["body"] for m in seen["messages"])
    async with ctx.sessions() as session:
        rows = (
            await session.execute(select(Message.body, Message.status, Message.possible_duplicate))
        ).all()
        recovered = {}
        for label, detail in RECOVERY_DETAILS.items():
            recovered[label] = int(
                await session.scalar(
                    select(func.count())
                    .select_from(MessageEvent)
                    .where(MessageEvent.detail == detail)
                )
                or 0
            )
        found = RECOVERY_DETAILS["found at the provider, not resent"]
        found_twice = int(
            await session.scalar(
                select(func.count()).select_from(
                    select(MessageEvent.message_id)
                    .where(MessageEvent.detail == found)
                    .group_by(MessageEvent.message_id)
                    .having(func.count() > 1)
                    .subquery()
                )
            )
            or 0
        )
    by_body = {row.body: row for row in rows}
    counts = Counter(row.status for row in rows)
    duplicates = sorted(body for body, n in per_body.items() if n > 1)
    flagged = [b for b in duplicates if b in by_body and by_body[b].possible_duplicate]
    unflagged = [b for b in duplicates if b not in flagged]
    lost = [
        row.body for row in rows if row.status not in NOT_ACCEPTED and not accepted_at_sim[row.body]
    ]
    problems = [f"duplicate NOT flagged possible_duplicate: {b!r}" for b in unflagged]
    problems += [f"recorded as sent but the simulator never accepted it: {b!r}" for b in lost]
    figures: dict[str, Any] = {
        "messages total": len(rows),
        "accepted by the provider (status accepted or later)": sum(
            n for s, n in counts.items() if s not in NOT_ACCEPTED
        ),
        "failed": counts["failed"],
        "still pending (queued/dispatching)": counts["queued"] + counts["dispatching"],
        "statuses": dict(sorted(counts.items())),
        "POSTs seen by the simulator": seen["post_count"],
        "distinct bodies seen by the simulator": len(per_body),
        "duplicates at the simulator (bodies POSTed > 1 time)": len(duplicates),
        "  of which flagged possible_duplicate": len(flagged),
        "  of which NOT flagged (bug)": len(unflagged),
        "flagged possible_duplicate in the DB (sent once or more)": sum(
            1 for row in rows if row.possible_duplicate
        ),
        "accepted in the DB but never seen by the simulator (bug)": len(lost),
        **{f"recovery: {label}": n for label, n in recovered.items()},
        "recovery: messages found at the provider twice (decided twice)": found_twice,
    }
    return figures, problems


async def main(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    port = free_port()
    sim_url = f"http://127.0.0.1:{port}"
    simulator = multiprocessing.Process(target=run_simulator, args=(port,), daemon=True)
    simulator.start()
    name: str | None = None
    try:
        await wait_until_up(sim_url)
        name, url = await fresh_pg_database(args.pg_dsn, "textcast_chaos")
        migrate.upgrade(url)
        with tempfile.TemporaryDirectory() as tmp:
            secret_key = Fernet.generate_key().decode()
            public_url = f"http://127.0.0.1:{free_port()}"  # nothing listens: no callbacks
            settings = Settings(
                data_dir=Path(tmp),
                database_url=url,
                secret_key=secret_key,
                demo=False,
                allow_private_targets=True,
                public_url=public_url,
                lease_seconds=args.lease_seconds,
            )
            ctx = Context.create(settings)
            env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTCAST_")}
            env.update(
                TEXTCAST_DATABASE_URL=url,
                TEXTCAST_SECRET_KEY=secret_key,
                TEXTCAST_DATA_DIR=tmp,
                TEXTCAST_ALLOW_PRIVATE_TARGETS="true",
                TEXTCAST_DEMO="false",
                TEXTCAST_PUBLIC_URL=public_url,
                TEXTCAST_LEASE_SECONDS=str(args.lease_seconds),
            )
            log_dir = Path(args.log_dir) if args.log_dir else Path(tmp)
            log_dir.mkdir(parents=True, exist_ok=True)
            workers = Workers(env, log_dir)
            try:
                queued_at = time.monotonic()
                await queue_messages(ctx, sim_url, args.messages)
                print(
                    f"queued {args.messages} messages in {time.monotonic() - queued_at:.1f}s; "
                    f"{args.workers} workers, a SIGKILL every ~{args.kill_every}s, "
                    f"lease {args.lease_seconds}s, limit {args.time_limit}s",
                    flush=True,
                )
                finished, elapsed = await chaos_loop(ctx, workers, args, rng)
                codes = await workers.stop_all()
                figures, problems = await report(ctx, sim_url)
            finally:
                workers.kill_all()
                await ctx.close()
    finally:
        simulator.terminate()
        simulator.join(5)
        if name is not None:
            await drop_pg_database(args.pg_dsn, name)

    print(f"\nchaos run: {'finished' if finished else 'TIME LIMIT HIT'} after {elapsed:.1f}s")
    print(f"workers started {workers.started}, SIGKILLed {workers.killed}, ", end="")
    print(f"exit codes on SIGTERM {codes}, exited by themselves {len(workers.crashed)}")
    for crash in workers.crashed:
        print(crash)
    for label, value in figures.items():
        print(f"{label:60} {value}")
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for problem in problems[:20]:
            print(f"  {problem}")
        return 1
    if not finished or any(code != 0 for code in codes) or workers.crashed:
        return 2
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument(
        "--kill-every", type=float, default=2.0, help="mean seconds between SIGKILLs"
    )
    parser.add_argument("--lease-seconds", type=float, default=5.0, help="TEXTCAST_LEASE_SECONDS")
    parser.add_argument(
        "--time-limit", type=float, default=240.0, help="seconds of chaos before giving up"
    )
    parser.add_argument("--log-dir", default=None, help="keep the workers' logs here")
    parser.add_argument("--seed", type=int, default=None, help="which workers are killed, when")
    parser.add_argument(
        "--pg-dsn",
        default=os.environ.get("TEXTCAST_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    sys.exit(asyncio.run(main(parser.parse_args())))
