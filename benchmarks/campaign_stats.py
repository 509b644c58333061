"""Campaign stats at scale: one campaign of 1,000,000 recipients on
PostgreSQL and on SQLite, its rows written directly in SQL (no fan-out, no
dispatch), then the stats call (``GET /api/v1/campaigns/{ref}/stats``'s
function) timed.

The rows: recipients in two variants (45 % each) and a control group (10 %),
3 % of them skipped across every reason; a message per queued recipient
(of 872,727: 90 % delivered, 2.2 % undelivered, 2.2 % failed with error
codes, 5.6 % sent and never reported on) sent over 40 minutes; each
message's status events (queued, sent, final), replies from 2 % and STOP
from 0.5 %; short links clicked by 5 % (a fifth of them twice) and opened
by a bot for 1 %.

The campaign is written in two parts, as the campaign runner's roll-up
passes would have met it:

1. everything but the send's last ``--tail-seconds`` (30: fifteen times the
   runner's 2-second interval), then the roll-up made at once (timed: the
   work the passes spread over the send), then (PostgreSQL) VACUUM ANALYZE,
   as autovacuum would have run meanwhile;
2. the last seconds' messages with their rows, not yet counted.

Then the stats call at two moments, each the first call and the median of
the next 5: just after the send (the last part read from its rows, with the
messages never reported on) and settled (one more pass, timed: only the
messages never reported on are read from their rows). Last, one count of
every row (``kept=False``), which the numbers must equal.

    .venv/bin/python benchmarks/campaign_stats.py [--size 1000000]
        [--database postgresql|sqlite|both] [--tail-seconds 30]
        [--pg-dsn postgresql://postgres@127.0.0.1/test] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory, mkdtemp
from typing import Any

from cryptography.fernet import Fernet
from harness import drop_pg_database, fresh_pg_database, process_cpu
from sqlalchemy import text

from textcast import runtime
from textcast.config import Settings
from textcast.context import Context
from textcast.db import migrate
from textcast.services import campaign_rollups, campaign_stats

LAUNCH = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
SEND_SECONDS = 2400  # the messages are sent over 40 minutes, in ID order
REASONS = [
    "opted_out",
    "invalid_number",
    "duplicate_phone",
    "frequency_cap",
    "quiet_hours_expired",
    "render_error",
    "geo_not_allowed",
    "campaign_expired",
]

# The campaign, its provider and sender: the same SQL on both databases.
SETUP = [
    """INSERT INTO providers (id, name, type, config, secrets_encrypted, is_simulated,
        webhook_secret_encrypted, opt_out_scope, opt_out_tag, is_default, created_at, updated_at)
       VALUES (1, 'bench', 'twilio', '{}', 'x', true, 'x', 'account', 'stop', true, :launch,
        :launch)""",
    """INSERT INTO senders (id, provider_id, sender_id, name, type, mms_capable,
        template_id_required, mps, is_default, keyword_responses, created_at)
       VALUES (1, 1, '+15005550006', 'main', 'long_code', false, false, 500, true, true,
        :launch)""",
    """INSERT INTO campaigns (id, name, status, sender_id, category, variants, control_percent,
        audience, click_tracking, labels, missed_local_time, created_at, updated_at,
        launched_at, targeted, skipped, queued)
       VALUES (1, 'bench', 'sending', 1, 'promotional',
        '[{"name": "A", "percent": 50}, {"name": "B", "percent": 50}]', 10, '{}', true, '[]',
        'next', :launch, :launch, :launch, :n, 0, 0)""",
]

# PostgreSQL: each statement fills one table from generate_series; :n is the
# size, :lo and :hi the recipients (and their messages' IDs) of this part.
POSTGRESQL = [
    # Recipient i: control when i % 10 = 0, else A or B; skipped when i % 33 = 1.
    """INSERT INTO campaign_recipients (id, campaign_id, contact_id, phone, variant, status,
        reason, message_id, due_at)
       SELECT i, 1, i, '+1415' || lpad(i::text, 7, '0'),
        CASE WHEN i % 10 = 0 THEN 'control' WHEN i % 2 = 0 THEN 'A' ELSE 'B' END,
        CASE WHEN i % 10 = 0 THEN 'control' WHEN i % 33 = 1 THEN 'skipped' ELSE 'queued' END,
        CASE WHEN i % 10 <> 0 AND i % 33 = 1 THEN (CAST(:reasons AS text[]))[1 + (i / 33) % 8] END,
        CASE WHEN i % 10 <> 0 AND i % 33 <> 1 THEN i END,
        :launch
       FROM generate_series(CAST(:lo AS int), CAST(:hi AS int)) AS i""",
    # The message of each queued recipient, its ID the recipient's.
    """INSERT INTO messages (id, provider_id, sender_id, "to", body, media_urls, status, segments,
        encoding, error_code, attempts, next_attempt_at, is_test, campaign, campaign_id, variant,
        category, possible_duplicate, created_at, updated_at, sent_at, final_at, delivered_at)
       SELECT r.id, 1, 1, r.phone, 'Hello', '[]', s.status, 1 + (r.id % 4 = 0)::int, 'GSM-7',
        CASE s.status WHEN 'undelivered' THEN '30003' WHEN 'failed' THEN
          (ARRAY['30007', '21211', '30005'])[1 + r.id % 3] END,
        1, s.at, false, 'bench', 1, r.variant, 'promotional', false, s.at, s.at,
        s.at + interval '1 second',
        CASE WHEN s.status <> 'sent' THEN s.at + interval '1 second' * (2 + r.id % 30) END,
        CASE WHEN s.status = 'delivered' THEN s.at + interval '1 second' * (1 + r.id % 30) END
       FROM campaign_recipients r,
        LATERAL (SELECT CASE WHEN r.id % 100 < 90 THEN 'delivered'
                             WHEN r.id % 100 < 93 THEN 'undelivered'
                             WHEN r.id % 100 < 95 THEN 'failed' ELSE 'sent' END AS status,
                        CAST(:launch AS timestamptz)
                          + interval '1 millisecond' * (r.id * 2400000 / CAST(:n AS int)) AS at) s
       WHERE r.status = 'queued' AND r.id BETWEEN :lo AND :hi""",
    # Status history: queued, sent, and the final status where there is one.
    """INSERT INTO message_events (type, message_id, provider_id, sender_id, status, source,
        error_code, created_at)
       SELECT 'message.' || e.status, m.id, 1, 1, e.status, 'dispatch', m.error_code, e.at
       FROM messages m, LATERAL (VALUES ('queued', m.created_at), ('sent', m.sent_at),
        (m.status, m.final_at)) AS e(status, at)
       WHERE e.at IS NOT NULL AND NOT (e.status = 'sent' AND m.status = 'sent')
        AND m.id BETWEEN :lo AND :hi""",
    """INSERT INTO message_events (type, message_id, contact_id, provider_id, sender_id, source,
        created_at)
       SELECT 'message.replied', id, id, 1, 1, 'inbound', sent_at + interval '10 minutes'
       FROM messages WHERE id % 50 = 3 AND id BETWEEN :lo AND :hi""",
    """INSERT INTO message_events (type, message_id, contact_id, provider_id, sender_id, source,
        detail, created_at)
       SELECT 'contact.opted_out', id, id, 1, 1, 'inbound', 'replied STOP',
        sent_at + interval '10 minutes'
       FROM messages WHERE id % 200 = 3 AND id BETWEEN :lo AND :hi""",
    """INSERT INTO short_links (id, code, url, message_id, contact_id, campaign, created_at)
       SELECT id, 'c' || id, 'https://example.com/sale', id, id, 'bench', created_at
       FROM messages WHERE id BETWEEN :lo AND :hi""",
    # 5 % click (a fifth of them twice); a bot opens 1 % of links.
    """INSERT INTO link_clicks (link_id, message_id, contact_id, campaign, clicked_at, method,
        is_bot, first)
       SELECT m.id, m.id, m.id, 'bench', m.sent_at + interval '1 minute' * c.k, 'GET',
        c.bot, NOT c.bot AND c.k = 1
       FROM messages m, LATERAL (VALUES (1, false), (2, false), (0, true)) AS c(k, bot)
       WHERE ((c.bot AND m.id % 100 = 7) OR (NOT c.bot AND m.id % 20 = 1
        AND (c.k = 1 OR m.id % 100 = 1))) AND m.id BETWEEN :lo AND :hi""",
]


def _later(moment: str, seconds: str) -> str:
    """SQLite: ``moment`` plus ``seconds`` (an SQL expression), as Textcast
    stores a time (naive UTC text, to the microsecond)."""
    return f"strftime('%Y-%m-%d %H:%M:%f', {moment}, '+' || ({seconds}) || ' seconds') || '000'"


_REASON = "CASE (i / 33) % 8 " + " ".join(f"WHEN {k} THEN '{r}'" for k, r in enumerate(REASONS))

# SQLite: the same rows, from a recursive count instead of generate_series.
SQLITE = [
    f"""INSERT INTO campaign_recipients (id, campaign_id, contact_id, phone, variant, status,
        reason, message_id, due_at)
       WITH RECURSIVE s(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM s WHERE i < :hi)
       SELECT i, 1, i, '+1415' || substr('0000000' || i, -7),
        CASE WHEN i % 10 = 0 THEN 'control' WHEN i % 2 = 0 THEN 'A' ELSE 'B' END,
        CASE WHEN i % 10 = 0 THEN 'control' WHEN i % 33 = 1 THEN 'skipped' ELSE 'queued' END,
        CASE WHEN i % 10 <> 0 AND i % 33 = 1 THEN {_REASON} END END,
        CASE WHEN i % 10 <> 0 AND i % 33 <> 1 THEN i END,
        :launch
       FROM s""",
    f"""INSERT INTO messages (id, provider_id, sender_id, "to", body, media_urls, status, segments,
        encoding, error_code, attempts, next_attempt_at, is_test, campaign, campaign_id, variant,
        category, possible_duplicate, created_at, updated_at, sent_at, final_at, delivered_at)
       SELECT id, 1, 1, phone, 'Hello', '[]', status, 1 + (id % 4 = 0), 'GSM-7',
        CASE status WHEN 'undelivered' THEN '30003' WHEN 'failed' THEN
          CASE id % 3 WHEN 0 THEN '30007' WHEN 1 THEN '21211' ELSE '30005' END END,
        1, at, 0, 'bench', 1, variant, 'promotional', 0, at, at, {_later("at", "1")},
        CASE WHEN status <> 'sent' THEN {_later("at", "2 + id % 30")} END,
        CASE WHEN status = 'delivered' THEN {_later("at", "1 + id % 30")} END
       FROM (SELECT r.id, r.phone, r.variant,
              CASE WHEN r.id % 100 < 90 THEN 'delivered' WHEN r.id % 100 < 93 THEN 'undelivered'
                   WHEN r.id % 100 < 95 THEN 'failed' ELSE 'sent' END AS status,
              {_later(":launch", "(r.id * 2400000 / :n) / 1000.0")} AS at
             FROM campaign_recipients r
             WHERE r.status = 'queued' AND r.id BETWEEN :lo AND :hi)""",
    """INSERT INTO message_events (type, message_id, provider_id, sender_id, status, source,
        error_code, created_at)
       SELECT 'message.queued', id, 1, 1, 'queued', 'dispatch', error_code, created_at
       FROM messages WHERE id BETWEEN :lo AND :hi
       UNION ALL
       SELECT 'message.sent', id, 1, 1, 'sent', 'dispatch', error_code, sent_at
       FROM messages WHERE status <> 'sent' AND id BETWEEN :lo AND :hi
       UNION ALL
       SELECT 'message.' || status, id, 1, 1, status, 'dispatch', error_code, final_at
       FROM messages WHERE final_at IS NOT NULL AND id BETWEEN :lo AND :hi""",
    f"""INSERT INTO message_events (type, message_id, contact_id, provider_id, sender_id, source,
        created_at)
       SELECT 'message.replied', id, id, 1, 1, 'inbound', {_later("sent_at", "600")}
       FROM messages WHERE id % 50 = 3 AND id BETWEEN :lo AND :hi""",
    f"""INSERT INTO message_events (type, message_id, contact_id, provider_id, sender_id, source,
        detail, created_at)
       SELECT 'contact.opted_out', id, id, 1, 1, 'inbound', 'replied STOP',
        {_later("sent_at", "600")}
       FROM messages WHERE id % 200 = 3 AND id BETWEEN :lo AND :hi""",
    """INSERT INTO short_links (id, code, url, message_id, contact_id, campaign, created_at)
       SELECT id, 'c' || id, 'https://example.com/sale', id, id, 'bench', created_at
       FROM messages WHERE id BETWEEN :lo AND :hi""",
    f"""INSERT INTO link_clicks (link_id, message_id, contact_id, campaign, clicked_at, method,
        is_bot, first)
       SELECT m.id, m.id, m.id, 'bench', {_later("m.sent_at", "60 * c.k")}, 'GET',
        c.bot, NOT c.bot AND c.k = 1
       FROM messages m JOIN (SELECT 1 AS k, 0 AS bot UNION ALL SELECT 2, 0
                             UNION ALL SELECT 0, 1) AS c
       WHERE ((c.bot AND m.id % 100 = 7) OR (NOT c.bot AND m.id % 20 = 1
        AND (c.k = 1 OR m.id % 100 = 1))) AND m.id BETWEEN :lo AND :hi""",
]


async def fill(ctx: Context, size: int, lo: int, hi: int) -> float:
    """Recipients ``lo`` to ``hi`` and their rows (the campaign too, from 1)."""
    started = time.perf_counter()
    postgres = ctx.dialect.name == "postgresql"
    values = {
        "n": size,
        "lo": lo,
        "hi": hi,
        "launch": ctx.dialect.bind_time(LAUNCH),
        "reasons": REASONS,
    }
    async with ctx.engine.begin() as conn:
        for sql in (SETUP if lo == 1 else []) + (POSTGRESQL if postgres else SQLITE):
            await conn.execute(text(sql), {k: v for k, v in values.items() if f":{k}" in sql})
    return time.perf_counter() - started


async def vacuum(ctx: Context) -> None:
    """PostgreSQL: as autovacuum would have by then. (SQLite: nothing; Textcast
    does not ANALYZE it.)"""
    if ctx.dialect.name != "postgresql":
        return
    async with ctx.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))


async def time_stats(ctx: Context) -> tuple[float, list[float], dict[str, Any]]:
    timings = []
    numbers: dict[str, Any] = {}
    for _ in range(6):
        started = time.perf_counter()
        numbers = await campaign_stats.campaign_stats(ctx, 1, {"*": 0.0079})
        timings.append((time.perf_counter() - started) * 1000)
    return timings[0], timings[1:], numbers


async def timed_roll_up(ctx: Context) -> tuple[int, float, float]:
    """The rows counted, the seconds it took, and the CPU seconds it cost this
    process and (PostgreSQL) the server processes of its connections."""
    started, before = time.perf_counter(), await cpu(ctx)
    rows = await campaign_rollups.roll_up(ctx)
    seconds, after = time.perf_counter() - started, await cpu(ctx)
    spent = sum(after.values()) - sum(before.get(key, 0.0) for key in after)
    return rows, seconds, spent


async def cpu(ctx: Context) -> dict[int, float]:
    """CPU seconds so far of this process (key 0) and of the PostgreSQL
    backends serving this database (by PID)."""
    used = {0: time.process_time()}
    if ctx.dialect.name == "postgresql":
        async with ctx.engine.connect() as conn:
            pids = await conn.scalars(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            )
            used.update({pid: process_cpu(pid) for pid in pids})
    return used


async def measure(ctx: Context, args: argparse.Namespace) -> None:
    name = ctx.dialect.name
    split = args.size - args.size * args.tail_seconds // SEND_SECONDS
    seconds = await fill(ctx, args.size, 1, split)
    await vacuum(ctx)
    print(f"{name}: {split:,} recipients and their rows written in {seconds:.1f} s")
    rows, seconds, spent = await timed_roll_up(ctx)
    print(
        f"  the roll-up of what settled until the last {args.tail_seconds} s of the send: "
        f"{rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s; "
        f"CPU {spent * 1e6 / rows:.0f} µs a row, Textcast and its database)"
    )
    await vacuum(ctx)
    await fill(ctx, args.size, split + 1, args.size)
    for label in ("just after the send", "settled"):
        if label == "settled":
            rows, seconds, _ = await timed_roll_up(ctx)
            print(
                f"  a pass over the send's last seconds: {rows:,} rows in {seconds * 1000:.0f} ms"
            )
        first, rest, numbers = await time_stats(ctx)
        print(
            f"  stats {label}: first call {first:.0f} ms, then median of 5 "
            f"{statistics.median(rest):.0f} ms (min {min(rest):.0f}, max {max(rest):.0f})"
        )
    started = time.perf_counter()
    everything = await campaign_stats.campaign_stats(ctx, 1, {"*": 0.0079}, kept=False)
    seconds = time.perf_counter() - started
    same = {**everything, "rolled_until": None} == {**numbers, "rolled_until": None}
    print(f"  every row counted instead: {seconds * 1000:.0f} ms; the same numbers: {same}")
    keys = ("targeted", "sent", "delivered", "replied", "clicks", "unique_clicks")
    print("  " + ", ".join(f"{k} {numbers[k]:,}" for k in keys))
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def context(url: str, data_dir: str) -> Context:
    return Context.create(
        Settings(
            data_dir=Path(data_dir), database_url=url, secret_key=Fernet.generate_key().decode()
        )
    )


async def measure_at(url: str, data_dir: str, args: argparse.Namespace) -> None:
    """A fresh schema at ``url``, filled and measured."""
    migrate.upgrade(url)
    ctx = context(url, data_dir)
    try:
        await measure(ctx, args)
    finally:
        await ctx.close()


async def on_postgresql(args: argparse.Namespace) -> None:
    name, url = await fresh_pg_database(args.pg_dsn, "textcast_campaign_stats")
    try:
        with TemporaryDirectory() as data_dir:
            await measure_at(url, data_dir, args)
    finally:
        if args.keep:
            print(f"kept database {name}")
        else:
            await drop_pg_database(args.pg_dsn, name)


async def on_sqlite(args: argparse.Namespace) -> None:
    data_dir = mkdtemp(prefix="textcast_campaign_stats_")
    try:
        await measure_at(f"sqlite+aiosqlite:///{data_dir}/textcast.db", data_dir, args)
    finally:
        if args.keep:
            print(f"kept database {data_dir}/textcast.db")
        else:
            shutil.rmtree(data_dir)


async def main(args: argparse.Namespace) -> None:
    if args.database in ("postgresql", "both"):
        await on_postgresql(args)
    if args.database in ("sqlite", "both"):
        await on_sqlite(args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--database", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--tail-seconds", type=int, default=30)
    parser.add_argument("--pg-dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep", action="store_true", help="leave the database for a look")
    runtime.run(main(parser.parse_args()))
