"""`textcast campaigns stats REF`: a campaign's Stats tab in a terminal."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Group
from rich.table import Table

from textcast.campaigns import service
from textcast.cli.common import JsonOption, console, errors_table, make_table, run
from textcast.context import Context
from textcast.services import campaign_stats

# The service's counts, with the totals and rates it derives after them.
ROWS = (
    "targeted",
    "skipped_total",
    *(key for key in campaign_stats.COUNTS if key != "targeted"),
    "delivery_rate",
    "ctr",
    "estimated_cost",
)
RATES = ("delivery_rate", "ctr")


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" if key in RATES else str(value)


def tables(numbers: dict[str, Any]) -> list[Table]:
    """The numbers with a column per variant and the control group; skipped
    by reason; errors; the time series' points."""
    campaign = numbers["campaign"]
    groups = (
        [("all", numbers)]
        + [(str(v["variant"] or "-"), v) for v in numbers["variants"]]
        + [("control", numbers["control_group"])]
    )
    shown = [
        make_table(
            f"Campaign {campaign['id']} {campaign['name']} ({campaign['status']})",
            ["", *(name for name, _ in groups)],
            [
                (key.replace("_", " "), *(_cell(key, group[key]) for _, group in groups))
                for key in ROWS
            ],
        )
    ]
    if numbers["skipped"]:
        shown.append(
            make_table("Skipped", ["reason", "recipients"], sorted(numbers["skipped"].items()))
        )
    if numbers["errors"]:
        shown.append(errors_table(numbers["errors"]))
    points = numbers["series"]["points"]
    if points:
        shown.append(
            make_table(
                "Over time",
                ["from", "sent", "delivered", "failed", "clicked"],
                [(p["at"], p["sent"], p["delivered"], p["failed"], p["clicked"]) for p in points],
            )
        )
    return shown


def campaign_stats_command(
    ref: str = typer.Argument(..., help="The campaign's name or ID."),
    as_json: bool = JsonOption,
) -> None:
    """Targeted, skipped, sent, delivered, failed, errors, replies, opt-outs,
    clicks, CTR and cost; per variant and for the control group; over time."""

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            campaign_id = (await service.get(session, ref)).id
        return await campaign_stats.campaign_stats(
            ctx, campaign_id, ctx.settings.segment_prices, ctx.settings.segment_price_currency
        )

    numbers = run(action)
    if as_json:
        console.print_json(json.dumps(numbers, default=str))
    else:
        console.print(Group(*tables(numbers)))
