"""Campaign stats at scale: one campaign of 1,000,000 recipients on
PostgreSQL, its rows written directly in SQL (no fan-out, no dispatch), then
the stats call (``GET /api/v1/campaigns/{ref}/stats``'s function) timed.

The rows: recipients in two variants (45 % each) and a control group (10 %),
3 % of them skipped across every reason; a message per queued recipient
(of 872,727: 90 % delivered, 2.2 % undelivered, 2.2 % failed with error
codes, 5.6 % sent and never reported on) sent over 40 minutes; each
message's status events (queued, sent, final), replies from 2 % and STOP
from 0.5 %; short links
clicked by 5 % (a fifth of them twice) and opened by a bot for 1 %. Then
VACUUM ANALYZE, and two moments:

- just after the send: the stats asked for as if it were 40 minutes after
  launch, so the last 10 minutes' settled messages (a quarter) are read from
  their rows and the rest from the roll-up;
- later: everything settled is rolled up; only the messages never reported
  on are read from their rows.

At each, the first call (which makes the roll-up step) and the median of the
next 5.

    .venv/bin/python benchmarks/campaign_stats.py [--size 1000000]
        [--pg-dsn postgresql://postgres@127.0.0.1/test] [--keep]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from cryptography.fernet import Fernet
from harness import drop_pg_database, fresh_pg_database
from sqlalchemy import text

from textcast import runtime
from textcast.config import Settings
from textcast.context import Context
from textcast.db import migrate
from textcast.services import campaign_stats

LAUNCH = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
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

# Each statement fills one table from generate_series; :n is the size.
FILL = [
    """INSERT INTO providers (id, name, type, config, secrets_encrypted, is_simulated,
        webhook_secret_encrypted, opt_out_scope, opt_out_tag, is_default, created_at, updated_at)
       VALUES (1, 'bench', 'twilio', '{}', 'x', true, 'x', 'account', 'stop', true, :launch,
        :launch)""",
    """INSERT INTO senders (id, provider_id, name, type, sender_id, mms_capable,
        template_id_required, mps, is_default, created_at)
       VALUES (1, 1, 'main', 'long_code', '+15005550006', false, false, 500, true, :launch)""",
    """INSERT INTO campaigns (id, name, status, sender_id, category, variants, control_percent,
        audience, click_tracking, labels, missed_local_time, created_at, updated_at,
        launched_at, targeted, skipped, queued)
       VALUES (1, 'bench', 'sending', 1, 'promotional',
        '[{"name": "A", "percent": 50}, {"name": "B", "percent": 50}]', 10, '{}', true, '[]',
        'next', :launch, :launch, :launch, :n, 0, 0)""",
    # Recipient i: control when i % 10 = 0, else A or B; skipped when i % 33 = 1.
    """INSERT INTO campaign_recipients (id, campaign_id, contact_id, phone, variant, status,
        reason, message_id, due_at)
       SELECT i, 1, i, '+1415' || lpad(i::text, 7, '0'),
        CASE WHEN i % 10 = 0 THEN 'control' WHEN i % 2 = 0 THEN 'A' ELSE 'B' END,
        CASE WHEN i % 10 = 0 THEN 'control' WHEN i % 33 = 1 THEN 'skipped' ELSE 'queued' END,
        CASE WHEN i % 10 <> 0 AND i % 33 = 1 THEN (CAST(:reasons AS text[]))[1 + (i / 33) % 8] END,
        CASE WHEN i % 10 <> 0 AND i % 33 <> 1 THEN i END,
        :launch
       FROM generate_series(1, CAST(:n AS int)) AS i""",
    # The message of each queued recipient, its ID the recipient's; sent over 40 minutes.
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
       WHERE r.status = 'queued'""",
    # Status history: queued, sent, and the final status where there is one.
    """INSERT INTO message_events (type, message_id, provider_id, sender_id, status, source,
        error_code, created_at)
       SELECT 'message.' || e.status, m.id, 1, 1, e.status, 'dispatch', m.error_code, e.at
       FROM messages m, LATERAL (VALUES ('queued', m.created_at), ('sent', m.sent_at),
        (m.status, m.final_at)) AS e(status, at)
       WHERE e.at IS NOT NULL AND NOT (e.status = 'sent' AND m.status = 'sent')""",
    """INSERT INTO message_events (type, message_id, contact_id, provider_id, sender_id, source,
        created_at)
       SELECT 'message.replied', id, id, 1, 1, 'inbound', sent_at + interval '10 minutes'
       FROM messages WHERE id % 50 = 3""",
    """INSERT INTO message_events (type, message_id, contact_id, provider_id, sender_id, source,
        detail, created_at)
       SELECT 'contact.opted_out', id, id, 1, 1, 'inbound', 'replied STOP',
        sent_at + interval '10 minutes'
       FROM messages WHERE id % 200 = 3""",
    """INSERT INTO short_links (id, code, url, message_id, contact_id, campaign, created_at)
       SELECT id, 'c' || id, 'https://example.com/sale', id, id, 'bench', created_at
       FROM messages""",
    # 5 % click (a fifth of them twice); a bot opens 1 % of links.
    """INSERT INTO link_clicks (link_id, message_id, contact_id, campaign, clicked_at, method,
        is_bot, first)
       SELECT m.id, m.id, m.id, 'bench', m.sent_at + interval '1 minute' * c.k, 'GET',
        c.bot, NOT c.bot AND c.k = 1
       FROM messages m, LATERAL (VALUES (1, false), (2, false), (0, true)) AS c(k, bot)
       WHERE (c.bot AND m.id % 100 = 7) OR (NOT c.bot AND m.id % 20 = 1
        AND (c.k = 1 OR m.id % 100 = 1))""",
]


async def fill(ctx: Context, size: int) -> float:
    started = time.perf_counter()
    async with ctx.engine.begin() as conn:
        for sql in FILL:
            await conn.execute(text(sql), {"n": size, "launch": LAUNCH, "reasons": REASONS})
    async with ctx.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))
    return time.perf_counter() - started


async def time_stats(
    ctx: Context, now: datetime | None
) -> tuple[float, list[float], dict[str, Any]]:
    timings = []
    numbers: dict[str, Any] = {}
    for _ in range(6):
        started = time.perf_counter()
        numbers = await campaign_stats.campaign_stats(ctx, 1, {"*": 0.0079}, now=now)
        timings.append((time.perf_counter() - started) * 1000)
    return timings[0], timings[1:], numbers


async def main(args: argparse.Namespace) -> None:
    name, url = await fresh_pg_database(args.pg_dsn, "textcast_campaign_stats")
    try:
        migrate.upgrade(url)
        with TemporaryDirectory() as data_dir:
            ctx = Context.create(
                Settings(
                    data_dir=Path(data_dir),
                    database_url=url,
                    secret_key=Fernet.generate_key().decode(),
                )
            )
            try:
                seconds = await fill(ctx, args.size)
                print(f"{args.size:,} recipients written and analysed in {seconds:.1f} s")
                for label, now in (
                    ("just after the send", LAUNCH + timedelta(minutes=40)),
                    ("later", None),
                ):
                    first, rest, numbers = await time_stats(ctx, now)
                    print(
                        f"campaign stats {label} (rolled up to {numbers['rolled_until']}): "
                        f"first call {first:.0f} ms, then median of 5 "
                        f"{statistics.median(rest):.0f} ms "
                        f"(min {min(rest):.0f}, max {max(rest):.0f})"
                    )
                keys = ("targeted", "sent", "delivered", "replied", "clicks", "unique_clicks")
                print("  " + ", ".join(f"{k} {numbers[k]:,}" for k in keys))
                print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            finally:
                await ctx.close()
    finally:
        if args.keep:
            print(f"kept database {name}")
        else:
            await drop_pg_database(args.pg_dsn, name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--pg-dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep", action="store_true", help="leave the database for a look")
    runtime.run(main(parser.parse_args()))
