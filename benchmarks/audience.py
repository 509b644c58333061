"""Audience at scale: contact imports and segment counts, for 100,000 and
1,000,000 contacts, on SQLite and on PostgreSQL.

Prints, for each database and size:
  - import of a CSV of that many contacts (rows/s, wall time, peak RSS of the
    importing process), through the code path of `textcast contacts import`,
    each in a fresh process so its peak RSS is its own;
  - the same file imported again (every row unchanged);
  - CPU per imported row of the importing process and of its PostgreSQL
    backends (Linux /proc): what bounds the rate when the machine is shared;
  - the count of a three-condition segment (country, an attribute in a set,
    a number range) with its per-country breakdown and sample: the first run
    and the median of the 5 after it, in ms, after the import (which ends
    with ANALYZE when it wrote 10,000 rows or more);
  - template rendering for the first 100,000 contacts: a personalised text
    (attribute, filter, a date in the contact's zone, caller data) per
    contact, read from the database in pages as a campaign would, with its
    segment count; and the rendering alone;
  - short-link redirects per second on one `textcast serve` (dispatcher off),
    each click recorded before its 302, against the same server's `GET
    /livez`: the issue's target is a ratio of at least 0.5.

    .venv/bin/python benchmarks/audience.py [--sizes 100000 1000000]
        [--pg-dsn postgresql://postgres@127.0.0.1/test] [--skip-pg] [--skip-sqlite]

Adding a figure (template rendering, redirects): write an async function
taking a :class:`Run` and returning ``{label: (value, unit)}`` and append it
to :data:`MEASURES`; it runs after the import, with the contacts in place.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import loadgen
from cryptography.fernet import Fernet
from harness import drop_pg_database, fresh_pg_database, process_cpu
from sqlalchemy import func, insert, select, text
from webhooks import Textcast, fire

from textcast import runtime, sms_segments
from textcast.audience import imports, rules, segments
from textcast.config import Settings
from textcast.content.render import compile_template
from textcast.context import Context
from textcast.db import migrate
from textcast.db.models import Contact, LinkClick, Message, utcnow
from textcast.services.providers import create_provider
from textcast.services.template_previews import scope_of
from textcast.tracking import link_store, links

SECRET_KEY = Fernet.generate_key().decode()
US_AREAS = [201, 202, 206, 212, 213, 305, 312, 404, 415, 503, 512, 602, 617, 646, 702, 713]
PLANS = ["bronze", "silver", "gold", "platinum"]
CITIES = ["Austin", "Boston", "Chicago", "Denver", "London", "Lyon", "Paris", "Seattle"]
TAGS = ["vip", "beta", "newsletter", "churn-risk"]
SEGMENT = {
    "all": [
        {"field": "country", "op": "eq", "value": "US"},
        {"field": "attributes.plan", "op": "in", "value": ["gold", "platinum"]},
        {"field": "attributes.age", "op": "gte", "value": 30},
    ]
}
Figures = dict[str, tuple[float, str]]


@dataclass(frozen=True)
class Run:
    """One database holding ``size`` imported contacts."""

    database: str  # "SQLite" or "PostgreSQL"
    url: str
    size: int
    data_dir: Path

    def context(self) -> Context:
        return Context.create(
            Settings(data_dir=self.data_dir, database_url=self.url, secret_key=SECRET_KEY)
        )


def write_csv(path: Path, size: int) -> int:
    """``size`` distinct valid numbers (80% US, 10% GB, 10% FR) with attributes
    and tags; one row in a thousand has a number that is not one. Its bytes."""
    with path.open("w") as out:
        out.write("phone,external_id,first_name,plan,city,age,renewal_date,tags\n")
        for i in range(size):
            serial = i // 10
            if i % 1000 == 999:
                number = f"+1555{i:07d}"[:12]  # no such area code: rejected
            elif i % 10 == 0:
                number = f"+447{(4, 5, 8)[serial % 3]}{serial:08d}"
            elif i % 10 == 1:
                number = f"+336{1 + serial % 8}{serial:07d}"
            else:
                us = (i // 10) * 8 + i % 10 - 2  # a dense counter over the US rows
                area = US_AREAS[us % len(US_AREAS)]
                block = us // len(US_AREAS)
                number = f"+1{area}{200 + block // 10000 % 800}{block % 10000:04d}"
            tags = ";".join(t for k, t in enumerate(TAGS) if (i >> k) % 5 == 0)
            out.write(
                f"{number},u{i},Name{i % 997},{PLANS[i % 4]},{CITIES[i % 8]},{18 + i % 60},"
                f"2026-{1 + i % 12:02d}-{1 + i % 28:02d},{tags}\n"
            )
    return path.stat().st_size


def import_in_this_process(url: str, data_dir: str, path: str) -> dict[str, Any]:
    """The child process's work: one import, timed, with this process's peak RSS."""

    async def go() -> dict[str, Any]:
        settings = Settings(data_dir=Path(data_dir), database_url=url, secret_key=SECRET_KEY)
        ctx = Context.create(settings)
        try:
            opts = imports.options(imports.parse_map(["age=age:number"]), [], "US")
            owner = f"bench:{os.getpid()}"
            started = time.perf_counter()
            async with ctx.write_session() as session:
                job = await imports.create(
                    session,
                    path=Path(path),
                    filename=Path(path).name,
                    fmt="csv",
                    opts=opts,
                    delete_file=False,
                    owner=owner,
                )
            cpu = time.process_time()
            final = await imports.run(ctx, job.id, owner)
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            database_cpu = await backends_cpu(ctx)
        finally:
            await ctx.close()
        return {
            "status": final.status,
            "error": final.error,
            "rows": final.rows,
            "created": final.created,
            "updated": final.updated,
            "unchanged": final.unchanged,
            "rejected": final.rejected,
            "seconds": seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "cpu_us": cpu * 1e6 / final.rows,
            "database_cpu_us": database_cpu * 1e6 / final.rows if database_cpu else None,
        }

    return runtime.run(go())


async def backends_cpu(ctx: Context) -> float | None:
    """CPU seconds of this process's PostgreSQL backends (they were opened
    for the import), from /proc; None on SQLite, whose work is in-process."""
    if ctx.engine.dialect.name != "postgresql":
        return None
    async with ctx.session() as session:
        query = text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        pids = list(await session.scalars(query))
    return sum(process_cpu(pid) for pid in pids)


def import_in_child(run: Run, path: Path) -> dict[str, Any]:
    answer = subprocess.run(
        [sys.executable, __file__, "--child-import", run.url, str(run.data_dir), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if answer.returncode != 0:
        raise RuntimeError(f"import process failed:\n{answer.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(answer.stdout.strip().splitlines()[-1])
    if result["status"] != imports.DONE:
        raise RuntimeError(f"import failed: {result['error']}")
    return result


async def segment_count(run: Run) -> Figures:
    rule = rules.parse(SEGMENT)
    ctx = run.context()
    try:
        timings, found = [], 0
        for _ in range(6):
            started = time.perf_counter()
            async with ctx.session() as session:
                found = (await segments.count(session, rule, "UTC")).total
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        await ctx.close()
    return {
        # The first read of freshly imported rows also writes their hint bits.
        "3-condition segment count, first": (timings[0], "ms"),
        "3-condition segment count": (statistics.median(timings[1:]), "ms"),
        "  contacts it selects": (found, ""),
    }


RENDERED = 100_000  # contacts a template is rendered for, whatever the size
PAGE = 5_000
TEMPLATE = (
    'Hi {{ contact.first_name | default("there") }}, your {{ contact.plan | upper }} plan '
    'renews on {{ contact.renewal_date | date("%d %b") }}. {{ data.offer }}'
)


async def template_rendering(run: Run) -> Figures:
    """The template for each of the first :data:`RENDERED` contacts, read in
    pages by ID; rendering (and counting segments) timed on its own as well."""
    compiled = compile_template(TEMPLATE)
    data = {"offer": "Renew today: 20% off with code SPRING"}
    zones: dict[str, ZoneInfo] = {}
    ctx = run.context()
    wanted, done, last_id, rendering = min(run.size, RENDERED), 0, 0, 0.0
    try:
        started = time.perf_counter()
        while done < wanted:
            async with ctx.sessions() as session:
                query = select(Contact).where(Contact.id > last_id).order_by(Contact.id)
                page = list(await session.scalars(query.limit(min(PAGE, wanted - done))))
            if not page:
                break
            began = time.perf_counter()
            for contact in page:
                name = contact.time_zone or "UTC"
                zone = zones.get(name) or zones.setdefault(name, ZoneInfo(name))
                sms_segments.analyze(compiled.render(scope_of(contact, name), data, zone))
            rendering += time.perf_counter() - began
            done += len(page)
            last_id = page[-1].id
        total = time.perf_counter() - started
    finally:
        await ctx.close()
    return {
        f"template rendering, {done:,} contacts": (done / total, "/s"),
        "  rendering and segments alone": (done / rendering, "/s"),
    }


REDIRECTS = 20_000
CONCURRENCY = 50
PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148"


async def short_links(run: Run, count: int) -> list[str]:
    """``count`` delivered messages with one tracked link each; their codes."""
    ctx = run.context()
    try:
        async with ctx.session() as session:
            provider = await create_provider(
                ctx,
                session,
                {
                    "name": "bench-links",
                    "type": "twilio",
                    "account_sid": "AC" + "0" * 32,
                    "auth_token": "bench-token",
                    "base_url": "https://api.twilio.com",
                    "senders": [
                        {"name": "links", "type": "long_code", "sender_id": "+15005550006"}
                    ],
                },
            )
            provider_id, sender_id = provider.id, provider.senders[0].id
        # Delivered ten minutes ago: no click falls in the preview-bot window.
        sent = utcnow() - timedelta(minutes=10)
        rows = [
            {
                "provider_id": provider_id, "sender_id": sender_id,
                "to": f"+1415{3_000_000 + i:07d}", "body": "Renew: https://shop.example.com/r",
                "media_urls": [], "status": "delivered", "segments": 1, "encoding": "GSM-7",
                "next_attempt_at": sent, "created_at": sent, "updated_at": sent, "sent_at": sent,
                "campaign": "bench",
            }
            for i in range(count)
        ]  # fmt: skip
        codes = [links.new_code() for _ in range(count)]
        async with ctx.session() as session:
            for start in range(0, count, PAGE):
                await session.execute(insert(Message), rows[start : start + PAGE])
            ids = list(await session.scalars(select(Message.id).order_by(Message.id)))
            batch = [
                link_store.MessageLinks(mid, None, "bench", [(code, "https://shop.example.com/r")])
                for mid, code in zip(ids, codes, strict=True)
            ]
            await link_store.save(await session.connection(), batch)
        if ctx.engine.dialect.name == "postgresql":
            async with ctx.engine.connect() as connection:
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.exec_driver_sql("ANALYZE messages")
                await autocommit.exec_driver_sql("ANALYZE short_links")
    finally:
        await ctx.close()
    return codes


async def redirects(run: Run) -> Figures:
    """Redirects per second against ``GET /livez`` of the same server."""
    codes = await short_links(run, REDIRECTS)
    server = Textcast(run.url, run.data_dir)
    server.env["TEXTCAST_SECRET_KEY"] = SECRET_KEY
    await server.start()
    try:
        assert server.process is not None
        pid, host = server.process.pid, server.url.removeprefix("http://")
        probes = [loadgen.get(f"{server.url}/livez")] * REDIRECTS
        livez, _ = await fire(server.url, probes, CONCURRENCY, pid)
        clicks = [
            f"GET /s/{code} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {PHONE_UA}\r\n\r\n".encode()
            for code in codes
        ]
        answered, cpu = await fire(server.url, clicks, CONCURRENCY, pid)
    finally:
        server.stop()
    redirected = sum(1 for status in answered.answered.values() if status == 302)
    ctx = run.context()
    try:
        async with ctx.sessions() as session:
            stored = await session.scalar(select(func.count()).select_from(LinkClick))
    finally:
        await ctx.close()
    livez_rate = REDIRECTS / livez.seconds
    rate = REDIRECTS / answered.seconds
    return {
        "GET /livez, same server": (livez_rate, "/s"),
        "redirects (click stored, then 302)": (rate, "/s"),
        "  ratio to /livez (target ≥ 0.5)": (rate / livez_rate, ""),
        "  p50 latency": (statistics.median(answered.latencies) * 1000, "ms"),
        "  server CPU per redirect": (cpu, "µs"),
        "  302s / clicks stored": (redirected, f"/ {stored}"),
    }


Measure = Callable[[Run], Awaitable[Figures]]
# Figures taken with the contacts in place; later measures go here.
MEASURES: list[Measure] = [segment_count, template_rendering, redirects]


async def measure(run: Run, csv_path: Path) -> Figures:
    first = import_in_child(run, csv_path)
    again = import_in_child(run, csv_path)
    figures: Figures = {
        "import": (first["rows"] / first["seconds"], "rows/s"),
        "  wall time": (first["seconds"], "s"),
        "  peak RSS": (first["peak_rss_mb"], "MB"),
        "  created / rejected": (first["created"], f"/ {first['rejected']}"),
        "  CPU per row, importer": (first["cpu_us"], "µs"),
    }
    if first["database_cpu_us"] is not None:
        figures["  CPU per row, PostgreSQL"] = (first["database_cpu_us"], "µs")
    figures.update(
        {
            "import again (nothing changes)": (again["rows"] / again["seconds"], "rows/s"),
            "  unchanged": (again["unchanged"], f"of {again['rows']}"),
        }
    )
    for extra in MEASURES:
        figures.update(await extra(run))
    return figures


async def main(args: argparse.Namespace) -> None:
    results: dict[tuple[str, int], Figures] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size in args.sizes:
            csv_path = folder / f"contacts-{size}.csv"
            megabytes = await asyncio.to_thread(write_csv, csv_path, size) / 1e6
            print(f"{size:,} contacts: {megabytes:.0f} MB of CSV", flush=True)
            if not args.skip_sqlite:
                url = f"sqlite+aiosqlite:///{folder / f'audience-{size}.db'}"
                migrate.upgrade(url)
                run = Run("SQLite", url, size, folder)
                results[("SQLite", size)] = await measure(run, csv_path)
                await asyncio.to_thread(os.unlink, url.removeprefix("sqlite+aiosqlite:///"))
            if not args.skip_pg:
                name, url = await fresh_pg_database(args.pg_dsn, "textcast_bench_audience")
                try:
                    migrate.upgrade(url)
                    run = Run("PostgreSQL", url, size, folder)
                    results[("PostgreSQL", size)] = await measure(run, csv_path)
                finally:
                    await drop_pg_database(args.pg_dsn, name)
            await asyncio.to_thread(os.unlink, csv_path)
    report(results)


def report(results: dict[tuple[str, int], Figures]) -> None:
    columns = list(results)
    labels: list[str] = []
    for figures in results.values():  # every label, each after the one it follows
        previous = -1
        for label in figures:
            if label not in labels:
                labels.insert(previous + 1, label)
            previous = labels.index(label)
    header = ["", *(f"{db} {size:,}" for db, size in columns)]
    rows = [header]
    for label in labels:
        cells = [label]
        for key in columns:
            if label not in results[key]:
                cells.append("-")
                continue
            value, unit = results[key][label]
            if abs(value) >= 100 or value == int(value):
                shown = f"{value:,.0f}"
            else:  # ratios and small figures: two decimals, so 0.49 does not read 0.5
                shown = f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
            cells.append(f"{shown} {unit}".strip())
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print()
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child-import":
        print(json.dumps(import_in_this_process(*sys.argv[2:5])))
        sys.exit(0)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--pg-dsn",
        default=os.environ.get("TEXTCAST_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    runtime.run(main(parser.parse_args()))
