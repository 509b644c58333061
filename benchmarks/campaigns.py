"""Campaign fan-out at scale, and campaign dispatch against plain API messages.

Prints, for each database and size (1 % of the contacts suppressed, 0.5 %
with invalid numbers, 1 % already at a frequency cap of 2 per 24 h, caps
"2/24h,5/week" active, quiet hours off so the clock does not matter):
  - launch → every recipient materialised and every message queued: wall
    seconds, of which the one INSERT … SELECT; peak RSS, CPU per recipient
    and the garbage collector's share of it in the fan-out process (a fresh
    child process running the campaign runner's own ``drive`` through
    ``runtime.run``, as ``textcast serve`` does, with no outbox look-ahead
    limit so the fan-out runs flat out); PostgreSQL's CPU per recipient;
  - recipients queued and skipped, as a check.
Then, on each database, ``--rounds`` pairs: ``--dispatch`` campaign messages
dispatched against the simulator, then as many plain API messages
(``submit_batch``, the same numbers and texts), through the same in-process
dispatcher: messages/s of each, each pair's ratio and the median ratio.

    .venv/bin/python benchmarks/campaigns.py [--sizes 100000 1000000]
        [--dispatch 20000] [--rounds 3] [--pg-dsn postgresql://postgres@127.0.0.1/test]
        [--skip-pg] [--skip-sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from cryptography.fernet import Fernet
from harness import (
    drop_pg_database,
    free_port,
    fresh_pg_database,
    postgres_cpu,
    provider_payload,
    run_simulator,
    wait_until_up,
)
from sqlalchemy import Table, func, insert, select, update

from textcast import runtime
from textcast.campaigns import runner, service
from textcast.campaigns.spec import CampaignIn
from textcast.config import Settings
from textcast.context import Context
from textcast.db import migrate
from textcast.db.models import (
    Campaign,
    CampaignRecipient,
    Contact,
    Message,
    Provider,
    Sender,
    Suppression,
    utcnow,
)
from textcast.dispatch.dispatcher import Dispatcher
from textcast.services import messages as message_service
from textcast.services.providers import create_provider

SECRET_KEY = Fernet.generate_key().decode()
CAPS = "2/24h,5/week"
CONTACTS = cast(Table, Contact.__table__)
CHUNK = 20_000


def settings_for(url: str, data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=url,
        demo=False,
        allow_private_targets=True,
        dispatch_poll_interval=0.01,
        public_url="http://127.0.0.1:9",
        secret_key=SECRET_KEY,
        frequency_caps=CAPS,
        quiet_hours="",
    )


US_AREAS = [201, 202, 206, 212, 213, 305, 312, 404, 415, 503, 512, 602, 617, 646, 702, 713]


def phone_of(i: int) -> str:
    """A distinct valid US number for each ``i``."""
    return f"+1{US_AREAS[i % 16]}{2_000_000 + i // 16:07d}"


async def fill(url: str, data_dir: Path, size: int, sim_url: str) -> None:
    """The provider, ``size`` contacts, suppressions, and messages that put 1 % at the cap."""
    migrate.upgrade(url)
    ctx = Context.create(settings_for(url, data_dir))
    try:
        async with ctx.session() as session:
            await create_provider(
                ctx,
                session,
                provider_payload(sim_url),
            )
            provider_id = await session.scalar(select(Provider.id).limit(1))
            sender_id = await session.scalar(select(Sender.id).limit(1))
        connection_dialect = ctx.dialect
        now = utcnow()
        at = connection_dialect.bind_time(now)
        columns = (
            "phone", "attributes", "tags", "time_zone_source", "country", "phone_type",
            "created_at", "updated_at",
        )  # fmt: skip
        for start in range(0, size, CHUNK):
            rows = [
                (
                    phone_of(i),
                    json.dumps({"first_name": f"N{i % 997}"}),
                    "[]",
                    "install_default",
                    "US",
                    "invalid" if i % 200 == 7 else "fixed_line_or_mobile",
                    at,
                    at,
                )
                for i in range(start, min(size, start + CHUNK))
            ]
            async with ctx.engine.begin() as connection:
                await connection_dialect.insert_rows(connection, CONTACTS, columns, rows)
        async with ctx.session() as session:
            suppressed = [
                {"provider_id": provider_id, "phone": phone_of(i), "reason": "bench",
                 "source": "operator", "created_at": now}
                for i in range(0, size, 100)
            ]  # fmt: skip
            for start in range(0, len(suppressed), CHUNK):
                await session.execute(insert(Suppression), suppressed[start : start + CHUNK])
            capped: list[dict[str, Any]] = [
                {"provider_id": provider_id, "sender_id": sender_id, "to": phone_of(i),
                 "body": "earlier", "status": "delivered", "segments": 1, "encoding": "GSM-7",
                 "category": "promotional", "created_at": now, "updated_at": now,
                 "next_attempt_at": now, "media_urls": []}
                for i in range(50, size, 100)
                for _ in range(2)
            ]  # fmt: skip
            for start in range(0, len(capped), CHUNK):
                await session.execute(insert(Message), capped[start : start + CHUNK])
        if ctx.engine.dialect.name == "postgresql":
            async with ctx.engine.connect() as connection:
                await connection.exec_driver_sql("ANALYZE")
    finally:
        await ctx.close()


async def create_campaign(ctx: Context, name: str) -> int:
    data = CampaignIn.model_validate(
        {
            "name": name,
            "body": "Hi {{ contact.first_name }}, spring sale: https://shop.example/s",
            "audience": {"rules": {"all": []}},
            "click_tracking": True,
            # Off, the law's windows too: the figures must not depend on the hour.
            "quiet_hours": {"off": True, "follow_law": False},
        }
    )
    async with ctx.session() as session:
        campaign = await service.create(ctx.settings, session, data)
        await service.launch(ctx.settings, session, campaign)
        return campaign.id


class CollectorTime:
    """Seconds the cyclic garbage collector ran, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._note)

    def _note(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


def fan_out_in_this_process(url: str, data_dir: str, campaign_id: str) -> dict[str, Any]:
    """The child's work: the runner's own drive of one campaign, timed (the
    process runs as ``textcast serve`` does, through :func:`runtime.run`)."""
    collector = CollectorTime()

    async def go() -> dict[str, Any]:
        ctx = Context.create(settings_for(url, Path(data_dir)))
        owner = f"bench:{os.getpid()}"
        try:
            started = time.perf_counter()
            cpu = time.process_time()
            assert await runner.claim(ctx, owner) == int(campaign_id)
            await runner._start(ctx, int(campaign_id), owner)
            chosen = time.perf_counter() - started
            database_cpu = postgres_cpu()
            await runner.drive(ctx, int(campaign_id), owner, queue_ahead=None)
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            database_cpu = postgres_cpu() - database_cpu
            async with ctx.session() as session:
                campaign = await session.get(Campaign, int(campaign_id))
                assert campaign is not None
                pending = await session.scalar(
                    select(func.count()).where(
                        CampaignRecipient.campaign_id == campaign.id,
                        CampaignRecipient.status == "pending",
                    )
                )
                figures = {
                    "targeted": campaign.targeted,
                    "queued": campaign.queued,
                    "skipped": campaign.skipped,
                    "pending": pending,
                }
        finally:
            await ctx.close()
        return {
            **figures,
            "seconds": seconds,
            "materialise_seconds": chosen,
            "cpu_us": cpu * 1e6 / max(1, figures["targeted"] or 1),
            "collector_share": collector.seconds / cpu if cpu else 0.0,
            # PostgreSQL's processes while the messages were made (0 on SQLite).
            "database_cpu_us": database_cpu * 1e6 / max(1, figures["targeted"] or 1),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }

    return runtime.run(go())


def fan_out_in_child(url: str, data_dir: Path, campaign_id: int) -> dict[str, Any]:
    answer = subprocess.run(
        [sys.executable, __file__, "--child", url, str(data_dir), str(campaign_id)],
        capture_output=True,
        text=True,
        check=False,
    )
    if answer.returncode != 0:
        raise RuntimeError(f"fan-out process failed:\n{answer.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(answer.stdout.strip().splitlines()[-1])
    return result


async def fan_out(url: str, data_dir: Path, size: int, sim_url: str) -> dict[str, Any]:
    await fill(url, data_dir, size, sim_url)
    ctx = Context.create(settings_for(url, data_dir))
    try:
        campaign_id = await create_campaign(ctx, "bench")
    finally:
        await ctx.close()
    # Pages still dirty from filling the database (or from the run before, a
    # SQLite file of a million contacts) are written out now, not during the
    # timed fan-out: a PostgreSQL run right after the SQLite one was 10 s slower.
    os.sync()
    return await asyncio.to_thread(fan_out_in_child, url, data_dir, campaign_id)


async def accepted(ctx: Context) -> int:
    async with ctx.sessions() as session:
        return int(
            await session.scalar(select(func.count()).where(Message.status == "accepted")) or 0
        )


async def drain(ctx: Context) -> None:
    """Dispatch until no message waits in the outbox."""
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        await Dispatcher(ctx).drain(timeout=900)
        async with ctx.sessions() as session:
            waiting = await session.scalar(
                select(func.count()).where(Message.status.in_(("queued", "dispatching")))
            )
        if not waiting:
            return


async def expect_accepted(ctx: Context, count: int) -> None:
    if (found := await accepted(ctx)) != count:
        async with ctx.sessions() as session:
            by_status = (
                await session.execute(
                    select(Message.status, Message.campaign_id.is_(None), func.count()).group_by(
                        Message.status, Message.campaign_id.is_(None)
                    )
                )
            ).all()
        raise RuntimeError(f"{found} accepted, expected {count}: {by_status}")


async def campaign_round(ctx: Context, name: str) -> tuple[float, list[object]]:
    """A campaign to every contact made, then dispatched: messages/s, and its
    numbers and texts for the plain round that follows."""
    async with ctx.write_session() as session:  # earlier rounds must not cap this one
        await session.execute(update(Message).values(category=None))
        # Nor be claimed before it: their messages are all sent.
        await session.execute(update(Campaign).values(status="completed"))
    campaign_id = await create_campaign(ctx, name)
    owner = "bench"
    assert await runner.claim(ctx, owner) == campaign_id
    await runner.drive(ctx, campaign_id, owner, queue_ahead=None)
    async with ctx.session() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        made = campaign.queued
    before = await accepted(ctx)
    started = time.perf_counter()
    await drain(ctx)
    rate = made / (time.perf_counter() - started)
    await expect_accepted(ctx, before + made)
    async with ctx.session() as session:
        sent = (
            await session.execute(
                select(Message.to, Message.body).where(Message.campaign_id == campaign_id)
            )
        ).all()
    return rate, [{"to": to, "body": body} for to, body in sent]


async def plain_round(ctx: Context, rows: list[object]) -> float:
    """The same numbers and texts as plain API messages, dispatched: messages/s."""
    async with ctx.session() as session:
        for start in range(0, len(rows), 10_000):
            result = await message_service.submit_batch(
                ctx.settings, session, rows[start : start + 10_000]
            )
            if result.rejected:
                raise RuntimeError(f"refused: {result.rejected[:3]}")
    before = await accepted(ctx)
    started = time.perf_counter()
    await drain(ctx)
    rate = len(rows) / (time.perf_counter() - started)
    await expect_accepted(ctx, before + len(rows))
    return rate


async def dispatch_compare(
    url: str, data_dir: Path, count: int, sim_url: str, rounds: int
) -> dict[str, Any]:
    """``rounds`` pairs, each ``count`` campaign messages dispatched and then as
    many plain ones (the same numbers and texts), through the same dispatcher:
    a pair's ratio compares two runs a few seconds apart, so a change in the
    machine's load between the two kinds of run is unlikely to decide it."""
    await fill(url, data_dir, count, sim_url)
    ctx = Context.create(settings_for(url, data_dir))
    ratios: list[float] = []
    pairs: list[tuple[float, float]] = []
    try:
        for index in range(rounds):
            campaign_rate, rows = await campaign_round(ctx, f"dispatch-{index}")
            plain_rate = await plain_round(ctx, rows)
            pairs.append((campaign_rate, plain_rate))
            ratios.append(campaign_rate / plain_rate)
    finally:
        await ctx.close()
    return {"messages": count, "pairs": pairs, "ratios": ratios}


async def databases(
    args: argparse.Namespace, folder: Path, label: str
) -> list[tuple[str, str, str | None]]:
    found: list[tuple[str, str, str | None]] = []
    if not args.skip_sqlite:
        found.append(("SQLite", f"sqlite+aiosqlite:///{folder / f'{label}.db'}", None))
    if not args.skip_pg:
        name, url = await fresh_pg_database(args.pg_dsn, f"textcast_bench_{label}")
        found.append(("PostgreSQL", url, name))
    return found


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    simulator = multiprocessing.Process(target=run_simulator, args=(port,), daemon=True)
    simulator.start()
    sim_url = f"http://127.0.0.1:{port}"
    await wait_until_up(sim_url)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for size in args.sizes:
                for db, url, pg_name in await databases(args, folder, f"fanout_{size}"):
                    try:
                        found = await fan_out(url, folder, size, sim_url)
                    finally:
                        if pg_name:
                            await drop_pg_database(args.pg_dsn, pg_name)
                    print(
                        f"{db:10} {size:>9,} contacts: launch → all queued "
                        f"{found['seconds']:.1f} s "
                        f"(INSERT … SELECT {found['materialise_seconds']:.1f} s), "
                        f"{size / found['seconds']:,.0f} recipients/s, peak RSS "
                        f"{found['peak_rss_mb']:.0f} MB, CPU {found['cpu_us']:.0f} µs a "
                        f"recipient (fan-out process; garbage collector "
                        f"{100 * found['collector_share']:.0f} %)"
                        + (
                            f", PostgreSQL {found['database_cpu_us']:.0f} µs a recipient "
                            "after the INSERT … SELECT"
                            if db == "PostgreSQL"
                            else ""
                        )
                        + f"; targeted {found['targeted']:,}, "
                        f"queued {found['queued']:,}, skipped {found['skipped']:,}, "
                        f"pending {found['pending']:,}",
                        flush=True,
                    )
            if args.dispatch and args.rounds:
                for db, url, pg_name in await databases(args, folder, "dispatch"):
                    try:
                        found = await dispatch_compare(
                            url, folder, args.dispatch, sim_url, args.rounds
                        )
                    finally:
                        if pg_name:
                            await drop_pg_database(args.pg_dsn, pg_name)
                    print(
                        f"{db:10} dispatch of {found['messages']:,} a round, campaign vs plain "
                        f"API messages/s: "
                        + ", ".join(f"{c:,.0f}/{p:,.0f}" for c, p in found["pairs"])
                        + f"; ratios {', '.join(f'{r:.2f}' for r in found['ratios'])}, "
                        f"median {statistics.median(found['ratios']):.2f}",
                        flush=True,
                    )
    finally:
        simulator.terminate()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(fan_out_in_this_process(*sys.argv[2:5])))
        sys.exit(0)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--dispatch", type=int, default=20_000)
    parser.add_argument(
        "--rounds", type=int, default=3, help="paired dispatch rounds (0: fan-out only)"
    )
    parser.add_argument(
        "--pg-dsn",
        default=os.environ.get("TEXTCAST_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    runtime.run(main(parser.parse_args()))
