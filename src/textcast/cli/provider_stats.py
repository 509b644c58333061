"""`textcast providers stats REF`: the provider's Stats tab in a terminal."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Group
from rich.table import Table

from textcast.cli.common import (
    JsonOption,
    SinceOption,
    UntilOption,
    console,
    errors_table,
    make_table,
    run,
    zoned_time,
)
from textcast.context import Context
from textcast.services import provider_stats

COLUMNS = ["", "sent", "delivered", "undelivered", "failed", "rate", "median s", "p95 s"]


def _rate(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "-"


def _row(label: str, numbers: dict[str, Any]) -> tuple[Any, ...]:
    timing = numbers.get("delivery_seconds") or {}
    return (
        label,
        numbers["sent"],
        numbers["delivered"],
        numbers["undelivered"],
        numbers["failed"],
        _rate(numbers["delivery_rate"]),
        timing.get("median", ""),
        timing.get("p95", ""),
    )


def tables(numbers: dict[str, Any]) -> list[Table]:
    """Senders with the total, countries, errors."""
    provider = numbers["provider"]
    window = f"{numbers['since'] or 'the start'} to {numbers['until'] or 'now'}"
    rows = [_row(s["name"] or str(s["id"]), s) for s in numbers["senders"]]
    rows.append(_row("all senders", numbers))
    shown = [make_table(f"{provider['name']}, messages created {window}", COLUMNS, rows)]
    shown.append(
        make_table(
            "By destination country",
            COLUMNS[:6],
            [_row(c["country"], c)[:6] for c in numbers["countries"]],
        )
    )
    if numbers["errors"]:
        shown.append(errors_table(numbers["errors"]))
    return shown


def provider_stats_command(
    ref: str = typer.Argument(..., help="Provider name or ID."),
    sender: str | None = typer.Option(None, help="Only this sender (name or ID)."),
    since: str | None = SinceOption,
    until: str | None = UntilOption,
    as_json: bool = JsonOption,
) -> None:
    """Sent, delivered, failed, delivery rate, time to delivery, errors, countries."""

    async def action(ctx: Context) -> dict[str, Any]:
        window = (zoned_time(since, "--since"), zoned_time(until, "--until"))
        async with ctx.session() as session:
            return await provider_stats.for_provider(
                session, ref, since=window[0], until=window[1], sender=sender
            )

    numbers = run(action)
    if as_json:
        console.print_json(json.dumps(numbers, default=str))
    else:
        console.print(Group(*tables(numbers)))
