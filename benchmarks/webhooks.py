"""Callback intake: signed Twilio status callbacks per second into Textcast,
against trivial endpoints on the same machine, and a kill -9 in the middle
of a run.

    .venv/bin/python benchmarks/webhooks.py [--callbacks 20000] [--concurrency 50]
        [--pg-dsn postgresql://postgres@127.0.0.1/test] [--skip-pg]

Prints, in one run:
  (a) reference ceilings: the same form POSTs answered 200 by a trivial
      endpoint on bare uvicorn (the server `textcast serve` runs on, with the
      same event loop and HTTP parser), on aiohttp and on a one-route FastAPI
      app;
  (b) on SQLite and on PostgreSQL, one `textcast serve` (API process,
      dispatcher off) measured twice: first its own trivial endpoint
      (`GET /livez`, through the same app and middleware: the ratio's
      denominator), then signed status callbacks, each callback's signature
      and meta verified, its receipt stored and its status applied before the
      answer; with p50/p99 latency, the server's CPU per request, the ratio to
      the same server's trivial endpoint and, for scale, to bare uvicorn;
  (c) replay: the server is SIGKILLed part-way; every callback that got no 200
      is sent again (as Twilio does) after a restart. Every message must end
      delivered with its status applied exactly once: nothing acknowledged is
      lost, nothing is applied twice.

Callbacks are built and signed before the clock starts, and sent by the lean
client in ``loadgen.py``: aiohttp's client costs about as much CPU per request
as the server under test, which on two cores would measure the client.
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
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import loadgen
from cryptography.fernet import Fernet
from harness import SID, TOKEN, drop_pg_database, free_port, fresh_pg_database, process_cpu
from sqlalchemy import Table, func, insert, select
from sqlalchemy.sql import ColumnElement

from textcast.callback_meta import sign_meta, with_meta
from textcast.config import Settings
from textcast.context import Context
from textcast.db import migrate
from textcast.db.models import Message, WebhookReceipt, utcnow
from textcast.db.models import Provider as ProviderRow
from textcast.providers.twilio.signature import compute_signature
from textcast.services.providers import create_provider

SECRET_KEY = Fernet.generate_key().decode()
MESSAGES: Table = Message.__table__  # type: ignore[assignment]


def run_aiohttp_endpoint(port: int) -> None:
    from aiohttp import web

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="")

    app = web.Application()
    app.router.add_post("/{tail:.*}", ok)
    app.router.add_get("/healthz", lambda _: web.Response(text="ok"))
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def trivial_asgi(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    """Read the body, answer 200: what any endpoint on uvicorn costs at least."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()  # type: ignore[operator]
        more = message.get("more_body", False)
    await send(  # type: ignore[operator]
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]}
    )
    await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]


def run_uvicorn_endpoint(port: int, kind: str) -> None:
    """A trivial endpoint on uvicorn, configured as `textcast serve` runs it."""
    import uvicorn
    from fastapi import FastAPI, Request, Response

    from textcast import runtime

    app: object = trivial_asgi
    if kind == "fastapi":
        api = FastAPI()

        @api.post("/webhooks/twilio/{provider_id}/status")
        async def status(provider_id: int, request: Request) -> Response:
            await request.body()
            return Response(status_code=200)

        @api.get("/healthz")
        async def healthz() -> dict[str, str]:
            return {}

        app = api
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    runtime.run(uvicorn.Server(config).serve())


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


def signed_callbacks(base_url: str, sids: list[str], metas: list[str]) -> list[bytes]:
    """One signed ``delivered`` callback per message, as Twilio would send it:
    to the message's own StatusCallback URL, which carries its ``meta``."""
    requests = []
    for sid, meta in zip(sids, metas, strict=True):
        url = with_meta(base_url, meta)
        params = form(sid, "delivered")
        headers = {
            "X-Twilio-Signature": compute_signature(TOKEN, url, params),
            "I-Twilio-Idempotency-Token": f"tok-{sid}",
        }
        requests.append(loadgen.post_form(url, params, headers))
    return requests


async def fire(
    url: str, requests: list[bytes], concurrency: int, pid: int | None = None
) -> tuple[loadgen.Run, float]:
    """Send the requests; the run and the server's CPU per request (µs)."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    before = process_cpu(pid) if pid else 0.0
    run = await loadgen.replay("127.0.0.1", port, requests, concurrency)
    cpu = (process_cpu(pid) - before) * 1e6 / len(requests) if pid else float("nan")
    return run, cpu


def figures(
    label: str, run: loadgen.Run, count: int, ceiling: float, cpu: float, note: str = ""
) -> str:
    rate = count / run.seconds
    latencies = run.latencies
    p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) > 100 else p50
    ratio = f"{rate / ceiling:.2f}" if ceiling else "1.00"
    return (
        f"{label:<38} {rate:>9,.0f}/s  ratio {ratio}  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
        f"  server CPU {cpu:5.0f} µs/request{note}"
    )


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


@dataclass
class Prepared:
    ctx: Context
    provider_id: int
    sids: list[str]
    metas: list[str]


async def prepare(database_url: str, data_dir: Path, count: int) -> Prepared:
    """A Twilio provider and ``count`` messages already accepted by it, each
    with the ``meta`` its StatusCallback URL carried."""
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
        row = await session.get(ProviderRow, provider_id)
        assert row is not None
        secret = str(ctx.box.decrypt(row.webhook_secret_encrypted))
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
        ids = list(await session.scalars(select(Message.id).order_by(Message.id)))
    if ctx.engine.dialect.name == "postgresql":
        # As autovacuum would have done by the time callbacks come back: without
        # statistics the planner scans the 20,000 rows just inserted for every look-up.
        async with ctx.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql("ANALYZE messages")
    metas = [sign_meta(secret, message_id, sender_id) for message_id in ids]
    return Prepared(ctx, provider_id, sids, metas)


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
    database: str, database_url: str, args: argparse.Namespace, bare_uvicorn: float
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        prepared = await prepare(database_url, Path(tmp), args.callbacks)
        server = Textcast(database_url, Path(tmp))
        await server.start()
        try:
            assert server.process is not None
            pid = server.process.pid
            probes = [loadgen.get(f"{server.url}/livez")] * args.callbacks
            run, cpu = await fire(server.url, probes, args.concurrency, pid)
            trivial = len(probes) / run.seconds
            label = f"(b) Textcast on {database}, GET /livez"
            print(figures(label, run, len(probes), 0.0, cpu), flush=True)
            url = f"{server.url}/webhooks/twilio/{prepared.provider_id}/status"
            requests = signed_callbacks(url, prepared.sids, prepared.metas)
            run, cpu = await fire(url, requests, args.concurrency, pid)
            rate = len(requests) / run.seconds
            note = f"  ({rate / bare_uvicorn:.2f} of bare uvicorn)"
            label = f"    Textcast on {database}, callbacks"
            print(figures(label, run, len(requests), trivial, cpu, note), flush=True)
            acked = sum(1 for status in run.answered.values() if status == 200)
            delivered = await count_where(prepared.ctx, Message.status == "delivered")
            if acked != len(requests) or delivered != len(requests):
                print(f"  !! acknowledged {acked}, delivered {delivered} of {len(requests)}")
        finally:
            server.stop()
            await prepared.ctx.close()


async def replay_after_kill(database_url: str, args: argparse.Namespace) -> bool:
    """Kill the server mid-run, restart it, resend whatever got no 200."""
    with tempfile.TemporaryDirectory() as tmp:
        prepared = await prepare(database_url, Path(tmp), args.callbacks)
        ctx = prepared.ctx
        server = Textcast(database_url, Path(tmp))
        await server.start()
        url = f"{server.url}/webhooks/twilio/{prepared.provider_id}/status"
        requests = signed_callbacks(url, prepared.sids, prepared.metas)
        try:
            run = asyncio.create_task(fire(url, requests, args.concurrency))
            await asyncio.sleep(args.kill_after)
            server.kill()
            first, _ = await run
            acked = {i for i, status in first.answered.items() if status == 200}
            # Acknowledged but not delivered would be a lost callback. (Delivered but
            # not acknowledged is fine: killed between the commit and the answer.)
            delivered_ids = await delivered_indexes(ctx, prepared.sids)
            lost = len(acked - delivered_ids)
            await server.start()
            # Twilio retries what it got no answer for, with the same idempotency token;
            # resend a sample of acknowledged ones too, as a duplicate delivery would.
            retry = [i for i in range(len(requests)) if i not in acked] + sorted(acked)[:200]
            second, _ = await fire(url, [requests[i] for i in retry], args.concurrency)
            acked_again = sum(1 for status in second.answered.values() if status == 200)
            delivered = await count_where(ctx, Message.status == "delivered")
            outcomes = await receipt_outcomes(ctx)
        finally:
            server.stop()
            await ctx.close()
    ok = (
        lost == 0
        and delivered == len(requests)
        and outcomes["applied"] == len(requests)
        and acked_again == len(retry)
    )
    print(
        f"replay after kill -9: {len(acked):,} acknowledged before the kill "
        f"(lost after ack: {lost}), {len(retry):,} resent after restart; "
        f"delivered {delivered:,}/{len(requests):,}; receipts applied {outcomes['applied']:,}, "
        f"duplicate {outcomes['duplicate']:,} -> {'OK' if ok else 'FAILED'}",
        flush=True,
    )
    return ok


async def delivered_indexes(ctx: Context, sids: list[str]) -> set[int]:
    index = {sid: i for i, sid in enumerate(sids)}
    async with ctx.sessions() as session:
        rows = await session.scalars(
            select(Message.provider_message_id).where(Message.status == "delivered")
        )
        return {index[sid] for sid in rows if sid in index}


async def trivial_rate(
    label: str, target: object, extra: tuple[object, ...], args: argparse.Namespace
) -> float:
    """Requests/s of a trivial endpoint in a child process, printed."""
    port = free_port()
    endpoint = multiprocessing.Process(target=target, args=(port, *extra), daemon=True)
    endpoint.start()
    try:
        url = f"http://127.0.0.1:{port}/webhooks/twilio/1/status"
        await wait_http(f"http://127.0.0.1:{port}/healthz")
        sids = [f"SM{i:032x}" for i in range(args.callbacks)]
        requests = signed_callbacks(url, sids, [f"v2.bench{i}.0" for i in range(len(sids))])
        run, cpu = await fire(url, requests, args.concurrency, endpoint.pid)
    finally:
        endpoint.terminate()
        endpoint.join()
    print(figures(label, run, len(requests), 0.0, cpu), flush=True)
    return len(requests) / run.seconds


async def main(args: argparse.Namespace) -> int:
    print(f"{args.callbacks:,} callbacks, {args.concurrency} in flight")
    bare_uvicorn = await trivial_rate(
        "(a) trivial endpoint, bare uvicorn", run_uvicorn_endpoint, ("asgi",), args
    )
    await trivial_rate("    trivial endpoint, aiohttp", run_aiohttp_endpoint, (), args)
    await trivial_rate("    trivial route, FastAPI", run_uvicorn_endpoint, ("fastapi",), args)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await throughput("SQLite", sqlite_url, args, bare_uvicorn)
    databases: list[str] = []
    try:
        if not args.skip_pg:
            name, pg_url = await fresh_pg_database(args.pg_dsn, "textcast_hooks")
            databases.append(name)
            await throughput("PostgreSQL", pg_url, args, bare_uvicorn)
        with tempfile.TemporaryDirectory() as tmp:
            ok = await replay_after_kill(f"sqlite+aiosqlite:///{Path(tmp) / 'kill.db'}", args)
    finally:
        for name in databases:
            await drop_pg_database(args.pg_dsn, name)
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callbacks", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--kill-after", type=float, default=1.0, help="seconds into the replay run")
    parser.add_argument("--pg-dsn", default="postgresql://postgres@127.0.0.1/test")
    parser.add_argument("--skip-pg", action="store_true")
    sys.exit(asyncio.run(main(parser.parse_args())))
