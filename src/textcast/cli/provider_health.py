"""`textcast providers health REF`: the provider's Health page in a terminal."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from textcast.cli.common import JsonOption, emit, make_table, run
from textcast.context import Context
from textcast.services import provider_health
from textcast.services import providers as provider_service

SHOWN = (
    ("messages", "messages"),
    ("waiting", "waiting to be sent"),
    ("in_flight", "with the provider"),
    ("delivered", "delivered"),
    ("failed", "failed or undelivered"),
    ("attempts", "send attempts"),
    ("refused_attempts", "refused"),
    ("rate_limited", "answered 429"),
    ("unreported", "sent, no status report yet"),
    ("median_latency_ms", "median API latency (ms)"),
)


def table(found: dict[str, Any]) -> Table:
    title = (
        f"{found['provider']['name']}: {found['verdict']} (last {found['window_minutes']} minutes)"
    )
    rows = [(label, "-" if found[key] is None else found[key]) for key, label in SHOWN]
    shown = make_table(title, ["", ""], rows)
    shown.caption = "\n".join(found["reasons"])
    return shown


def provider_health_command(
    ref: str = typer.Argument(..., help="Provider name or ID."),
    as_json: bool = JsonOption,
) -> None:
    """Healthy, degraded, failing or idle, from the last minutes of sending, and why."""

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            row = await provider_service.get_provider(session, ref)
            return await provider_health.health(session, row)

    emit(run(action), as_json, table=table)
