"""`textcast segments ...`: saved segments and live counts."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from textcast.audience import rules, segments
from textcast.cli.common import JsonOption, emit, fail, make_table, run
from textcast.cli.contacts import _read_json_option
from textcast.context import Context
from textcast.errors import ValidationFailed
from textcast.views.audience import count_view, segment_view

segments_app = typer.Typer(
    help="Segments: saved rule trees over contacts, counted live.", no_args_is_help=True
)
RulesOption = typer.Option(None, "--rules", help="The rule tree as JSON, or @FILE.")


def _rules(text: str | None) -> dict[str, Any]:
    if text is None:
        fail("--rules is required (JSON, or @FILE)", 2)
    try:
        found = json.loads(_read_json_option(text))
    except ValueError as exc:
        raise ValidationFailed("--rules", f"not JSON: {exc}") from None
    if not isinstance(found, dict):
        raise ValidationFailed("--rules", 'a JSON object: {"all": [...]}')
    return found


def _segments_table(rows: list[dict[str, Any]]) -> Table:
    return make_table(
        "Segments",
        ["id", "name", "description", "rules"],
        [(s["id"], s["name"], s["description"], json.dumps(s["rules"])) for s in rows],
    )


def _count_table(found: dict[str, Any]) -> Table:
    title = (
        f"{found['count']:,} contacts: {found['sendable']:,} sendable, "
        f"{found['opted_out']:,} opted out, {found['invalid']:,} invalid numbers"
    )
    table = make_table(title, ["country", "contacts"], [])
    for row in found["by_country"]:
        table.add_row(row["country"], f"{row['count']:,}")
    for contact in found["sample"]:
        table.add_row(f"  e.g. {contact['phone']}", ", ".join(contact["tags"]))
    return table


@segments_app.command("create")
def create_segment(
    name: str,
    rules_json: str | None = RulesOption,
    description: str | None = typer.Option(None),
    as_json: bool = JsonOption,
) -> None:
    """Save a segment (or replace the one with this name)."""

    async def action(ctx: Context) -> dict[str, Any]:
        data = segments.SegmentIn(rules=_rules(rules_json), description=description)
        async with ctx.session() as session:
            segment, _ = await segments.put(session, name, data)
            return segment_view(segment)

    emit(run(action), as_json, table=lambda s: _segments_table([s]))


@segments_app.command("list")
def list_segments(as_json: bool = JsonOption) -> None:
    async def action(ctx: Context) -> list[dict[str, Any]]:
        async with ctx.session() as session:
            return [segment_view(s) for s in await segments.list_all(session)]

    emit(run(action), as_json, table=_segments_table)


@segments_app.command("show")
def show_segment(ref: str, as_json: bool = JsonOption) -> None:
    """A segment by ID or name."""

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            return segment_view(await segments.find(session, ref))

    emit(run(action), as_json, table=lambda s: _segments_table([s]))


@segments_app.command("count")
def count_segment(
    ref: str | None = typer.Argument(None, help="A saved segment's ID or name."),
    rules_json: str | None = RulesOption,
    sample: int = typer.Option(10, min=0, max=segments.MAX_SAMPLE),
    as_json: bool = JsonOption,
) -> None:
    """How many contacts a saved segment (or --rules) selects now: opted out,
    invalid numbers, per country, and a sample."""
    if (ref is None) == (rules_json is None):
        fail("name a saved segment or give --rules, one of the two", 2)

    async def action(ctx: Context) -> dict[str, Any]:
        zone = ctx.settings.default_time_zone
        async with ctx.session() as session:
            raw = (await segments.find(session, ref)).rules if ref else _rules(rules_json)
            found = await segments.count(session, rules.parse(raw), zone, sample=sample)
            return await count_view(session, found, zone)

    emit(run(action), as_json, table=_count_table)


@segments_app.command("update")
def update_segment(
    ref: str,
    name: str | None = typer.Option(None, help="A new name."),
    rules_json: str | None = typer.Option(None, "--rules", help="New rules as JSON, or @FILE."),
    description: str | None = typer.Option(None),
    as_json: bool = JsonOption,
) -> None:
    """Rename a segment or change its rules or description."""

    async def action(ctx: Context) -> dict[str, Any]:
        given: dict[str, Any] = {"name": name}
        if rules_json is not None:
            given["rules"] = _rules(rules_json)
        if description is not None:
            given["description"] = description
        async with ctx.session() as session:
            segment = await segments.find(session, ref)
            return segment_view(
                await segments.change(session, segment, segments.SegmentChange(**given))
            )

    emit(run(action), as_json, table=lambda s: _segments_table([s]))


@segments_app.command("delete")
def delete_segment(ref: str) -> None:
    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            segment = await segments.find(session, ref)
            await segments.delete(session, segment)
            return {"deleted": segment.id}

    emit(run(action), True)
