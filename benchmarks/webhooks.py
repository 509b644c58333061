"""Callback intake: Twilio status callbacks per second into Textcast, against a
trivial endpoint on the same machine, and a kill -9 in the middle of a run.

    .venv/bin/python benchmarks/webhooks.py [--callbacks 10000] [--concurrency 50]
        [--pg-dsn postgresql://postgres@127.0.0.1/test] [--skip-pg]

Prints, in one run:
  (a) the ceiling: signed form POSTs/s to an aiohttp handler that answers 200,
  (b) Textcast `serve` (API process, dispatcher off) verifying the signature,
      storing the receipt and applying the status: on SQLite and PostgreSQL,
      with p50/p99 latency and the ratio to (a);
  (c) replay: the server is SIGKILLed part-way; every callback that got no 200
      is sent again (as Twilio does) after a restart. Every message must end
      delivered with its status applied exactly once: nothing acknowledged is
      lost, nothing is applied twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet
from harness import SID, TOKEN, drop_pg_database, free_port, fresh_pg_database
from sqlalchemy import Table, func, insert, select
from sqlalchemy.sql import ColumnElement

from textcast.config import Settings
from textcast.context import Context
from textcast.db import migrate
from textcast.db.models import Message, WebhookReceipt, utcnow
from textcast.services.providers import create_provider
from textcast.webhooks.signature import compute_signature

SECRET_KEY = Fernet.generate_key().decode()
MESSAGES: Table = Message.__table__  # type: ignore[assignment]


def run_trivial_endpoint(port: int) -> None:
    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="")

    app = web.Application()
    app.router.add_post("/{tail:.*}", ok)
    app.router.add_get("/healthz", lambda _: web.Response(text="ok"))
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def form(sid: str, status: str) -> list[tuple[str, str]]:
    return [
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("To", "+14155550100"),
        ("MessageSid", sid),
        ("AccountSid", SID),
        ("From", "+15005550006"),
        ("ApiVersion", "2010-04-01"),
    ]


async def fire(
    url: str, sids: list[str], concurrency: int, *, stop_after: int | None = None
) -> tuple[float, list[float], set[str]]:
    """POST one signed ``delivered`` callback per SID; (seconds, latencies, SIDs answered 200)."""
    latencies: list[float] = []
    acknowledged: set[str] = set()
    queue = iter(sids)
    sent = 0

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal sent
        for sid in queue:
            if stop_after is not None and sent >= stop_after:
                return
            sent += 1
            params = form(sid, "delivered")
            headers = {
                "X-Twilio-Signature": compute_signature(TOKEN, url, params),
                "I-Twilio-Idempotency-Token": f"tok-{sid}",
            }
            started = time.perf_counter()
            try:
                async with http.post(url, data=params, headers=headers) as response:
                    await response.read()
                    if response.status == 200:
                        acknowledged.add(sid)
            except (aiohttp.ClientError, OSError):
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, acknowledged


def figures(label: str, count: int, seconds: float, latencies: list[float], ceiling: float) -> str:
    rate = count / seconds
    p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) > 100 else p50
    ratio = f"{rate / ceiling:.2f}" if ceiling else "1.00"
    return f"{label:<30} {rate:>9,.0f}/s  ratio {ratio}  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"


class Textcast:
    """`textcast serve` as a subprocess over one database."""

    def __init__(self, database_url: str, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "TEXTCAST_DATABASE_URL": database_url,
            "TEXTCAST_DATA_DIR": str(data_dir),
            "TEXTCAST_SECRET_KEY": SECRET_KEY,
            "TEXTCAST_PORT": str(self.port),
            "TEXTCAST_DEMO": "false",
            "TEXTCAST_DISPATCHER": "false",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "textcast", "serve", "--log-level", "warning"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def start(self) -> None:
        self.spawn()
        await wait_http(f"{self.url}/healthz")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(15)
            self.kill()


async def prepare(database_url: str, data_dir: Path, count: int) -> tuple[Context, int, list[str]]:
    """A Twilio provider and ``count`` messages already accepted by it."""
    settings = Settings(
        database_url=database_url, data_dir=data_dir, secret_key=SECRET_KEY, demo=False
    )
    migrate.upgrade(database_url)
    ctx = Context.create(settings)
    async with ctx.session() as session:
        provider = await create_provider(
            ctx,
            session,
            {
                "name": "bench",
                "type": "twilio",
                "account_sid": SID,
                "auth_token": TOKEN,
                "base_url": "https://api.twilio.com",
                "senders": [{"name": "bench", "type": "long_code", "sender_id": "+15005550006"}],
            },
        )
        provider_id, sender_id = provider.id, provider.senders[0].id
    sids = [f"SM{i:032x}" for i in range(count)]
    now = utcnow()
    rows = [
        {
            "provider_id": provider_id,
            "sender_id": sender_id,
            "to": f"+1415{3_000_000 + i:07d}",
            "body": "bench",
            "media_urls": [],
            "status": "sent",
            "segments": 1,
            "encoding": "GSM-7",
            "provider_message_id": sid,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
            "sent_at": now,
        }
        for i, sid in enumerate(sids)
    ]
    async with ctx.session() as session:
        for start in range(0, count, 5000):
            await session.execute(insert(MESSAGES), rows[start : start + 5000])
    return ctx, provider_id, sids


async def count_where(ctx: Context, *conditions: ColumnElement[bool]) -> int:
    async with ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).where(*conditions)) or 0)


async def receipt_outcomes(ctx: Context) -> Counter[str]:
    async with ctx.sessions() as session:
        rows = await session.execute(
            select(WebhookReceipt.outcome, func.count()).group_by(WebhookReceipt.outcome)
        )
        return Counter({row[0]: int(row[1]) for row in rows})


async def throughput(
    label: str, database_url: str, args: argparse.Namespace, ceiling: float
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ctx, provider_id, sids = await prepare(database_url, Path(tmp), args.callbacks)
        server = Textcast(database_url, Path(tmp))
        await server.start()
        try:
            url = f"{server.url}/webhooks/twilio/{provider_id}/status"
            seconds, latencies, acked = await fire(url, sids, args.concurrency)
            print(figures(label, len(sids), seconds, latencies, ceiling), flush=True)
            delivered = await count_where(ctx, Message.status == "delivered")
            if len(acked) != len(sids) or delivered != len(sids):
                print(f"  !! acknowledged {len(acked)}, delivered {delivered} of {len(sids)}")
        finally:
            server.stop()
            await ctx.close()


async def replay_after_kill(database_url: str, args: argparse.Namespace) -> bool:
    """Kill the server mid-run, restart it, resend whatever got no 200."""
    with tempfile.TemporaryDirectory() as tmp:
        ctx, provider_id, sids = await prepare(database_url, Path(tmp), args.callbacks)
        server = Textcast(database_url, Path(tmp))
        await server.start()
        url = f"{server.url}/webhooks/twilio/{provider_id}/status"
        try:
            run = asyncio.create_task(fire(url, sids, args.concurrency))
            await asyncio.sleep(args.kill_after)
            server.kill()
            _, _, acked = await run
            lost_acks = len(acked) - await count_where(ctx, Message.status == "delivered")
            await server.start()
            # Twilio retries what it got no answer for, with the same idempotency token;
            # resend a sample of acknowledged ones too, as a duplicate delivery would.
            retry = [sid for sid in sids if sid not in acked] + sorted(acked)[:200]
            _, _, acked_again = await fire(url, retry, args.concurrency)
            delivered = await count_where(ctx, Message.status == "delivered")
            outcomes = await receipt_outcomes(ctx)
        finally:
            server.stop()
            await ctx.close()
    ok = (
        lost_acks == 0
        and delivered == len(sids)
        and outcomes["applied"] == len(sids)
        and len(acked_again) == len(retry)
    )
    print(
        f"replay after kill -9: {len(acked):,} acknowledged before the kill "
        f"(lost after ack: {lost_acks}), {len(retry):,} resent after restart; "
        f"delivered {delivered:,}/{len(sids):,}; receipts applied {outcomes['applied']:,}, "
        f"duplicate {outcomes['duplicate']:,} -> {'OK' if ok else 'FAILED'}",
        flush=True,
    )
    return ok


async def main(args: argparse.Namespace) -> int:
    port = free_port()
    endpoint = multiprocessing.Process(target=run_trivial_endpoint, args=(port,), daemon=True)
    endpoint.start()
    try:
        await wait_http(f"http://127.0.0.1:{port}/healthz")
        trivial_url = f"http://127.0.0.1:{port}/webhooks/twilio/1/status"
        sids = [f"SM{i:032x}" for i in range(args.callbacks)]
        seconds, latencies, _ = await fire(trivial_url, sids, args.concurrency)
        ceiling = len(sids) / seconds
    finally:
        endpoint.terminate()
    print(f"{args.callbacks:,} callbacks, concurrency {args.concurrency}, uvloop off in the client")
    print(figures("(a) trivial endpoint", len(sids), seconds, latencies, 0.0))
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await throughput("(b) Textcast on SQLite", sqlite_url, args, ceiling)
    databases: list[str] = []
    try:
        if not args.skip_pg:
            name, pg_url = await fresh_pg_database(args.pg_dsn, "textcast_hooks")
            databases.append(name)
            await throughput("(b) Textcast on PostgreSQL", pg_url, args, ceiling)
        with tempfile.TemporaryDirectory() as tmp:
            ok = await replay_after_kill(f"sqlite+aiosqlite:///{Path(tmp) / 'kill.db'}", args)
    finally:
        for name in databases:
            await drop_pg_database(args.pg_dsn, name)
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callbacks", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--kill-after", type=float, default=1.5, help="seconds into the replay run")
    parser.add_argument("--pg-dsn", default="postgresql://postgres@127.0.0.1/test")
    parser.add_argument("--skip-pg", action="store_true")
    sys.exit(asyncio.run(main(parser.parse_args())))
