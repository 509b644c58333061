"""`textcast settings ...`: the installation's defaults (region, quiet hours,
what happens inside them, frequency caps), as the dashboard's Settings page
and ``/api/v1/settings/defaults`` show and change them."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from textcast.cli.common import JsonOption, emit, fail, make_table, run
from textcast.context import Context
from textcast.errors import ValidationFailed
from textcast.services import installation_defaults
from textcast.services.installation_defaults import FIELDS
from textcast.services.roles import CLI
from textcast.views.settings import defaults_view

settings_app = typer.Typer(
    help="The installation's defaults: region, quiet hours, frequency caps.",
    no_args_is_help=True,
)


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _table(view: dict[str, Any]) -> Table:
    def shown(value: str) -> str:
        return value or "(none)"  # no quiet hours, no caps

    rows = [
        (name, shown(view[name]["value"]), view[name]["source"], shown(view[name]["environment"]))
        for name in FIELDS
    ]
    return make_table("Installation defaults", ["default", "value", "from", "environment"], rows)


@settings_app.command("show")
def show(as_json: bool = JsonOption) -> None:
    """Each default, whether it was saved or is the environment's, and the environment's value."""

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.sessions() as session:
            return defaults_view(ctx.environment, await installation_defaults.load(session))

    emit(run(action), as_json, table=_table)


@settings_app.command("set")
def set_defaults(
    default_region: str | None = typer.Option(
        None, help="Region of numbers written without +country, e.g. GB."
    ),
    quiet_hours: str | None = typer.Option(
        None, help="FROM-UNTIL in each recipient's local time, e.g. 21:00-08:00; '' for none."
    ),
    quiet_hours_inside: str | None = typer.Option(
        None, help="A campaign message due inside quiet hours: defer or skip."
    ),
    frequency_caps: str | None = typer.Option(
        None, help="LIMIT/SPAN, comma separated, e.g. '2/24h,5/week'; '' for none."
    ),
    reset: list[str] = typer.Option(
        [],
        "--reset",
        help="Go back to the environment's value of this default (e.g. quiet-hours); repeatable.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Save defaults, written as their TEXTCAST_ settings are; every process
    uses them within seconds. Checked by the same rules as the environment."""
    given = {
        "default_region": default_region,
        "quiet_hours": quiet_hours,
        "quiet_hours_inside": quiet_hours_inside,
        "frequency_caps": frequency_caps,
    }
    changes: dict[str, str | None] = {k: v for k, v in given.items() if v is not None}
    for name in (r.strip().replace("-", "_").lower() for r in reset):
        if name not in FIELDS:
            fail(f"--reset: {name!r} is not a default; these are: {', '.join(FIELDS)}", 2)
        if name in changes:
            fail(f"{_option(name)} and --reset {name} contradict each other", 2)
        changes[name] = None
    if not changes:
        fail("give a default to change (see --help) or --reset one", 2)

    async def action(ctx: Context) -> dict[str, Any]:
        try:
            saved = await installation_defaults.change(ctx, CLI, changes)
        except ValidationFailed as exc:  # named as the user typed it
            raise ValidationFailed(_option(exc.field), exc.message) from None
        return defaults_view(ctx.environment, saved)

    emit(run(action), as_json, table=_table)
