"""What every CLI command shares: settings, a context, output, error handling."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.table import Table

from textcast.campaigns import policies
from textcast.config import Settings
from textcast.context import Context
from textcast.db import migrate
from textcast.db.models import MAX_ID
from textcast.errors import ProviderError, TextcastError, ValidationFailed
from textcast.netguard import TargetRefused
from textcast.services import installation_defaults

T = TypeVar("T")
# Values are shown as they are: "[SALE]" in a body is text, not Rich markup.
console = Console(markup=False)
errors = Console(stderr=True)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")
# An ID argument: a number no row can have is a usage error (exit 2), not a
# driver error on binding it.
IdArgument = typer.Argument(min=1, max=MAX_ID)


# A time window over messages' creation, as `stats` and `providers stats` take it.
SinceOption = typer.Option(None, help="Messages created from this time (ISO 8601 with a zone).")
UntilOption = typer.Option(None, help="... and before this time.")


def errors_table(errors: list[dict[str, Any]]) -> Table:
    """Failures by error code with the catalogue's description (the Errors tab)."""
    return make_table(
        "Errors",
        ["code", "count", "description"],
        [(e["error_code"], e["count"], e["description"] or "") for e in errors],
    )


def id_option(help: str) -> Any:
    """An optional ID option, bounded like :data:`IdArgument`."""
    return typer.Option(None, help=help, min=1, max=MAX_ID)


def load_settings() -> Settings:
    """The settings, or exit 2 naming the one that is wrong (invalid input, as
    the README says): a bad value, one the environment cannot decode (JSON
    for a mapping), or a campaign default that cannot be read."""
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = f"TEXTCAST_{str(first['loc'][0]).upper()}" if first["loc"] else "settings"
        fail(f"bad setting {name}: {first['msg']}", code=2)
    except SettingsError as exc:
        found = _UNDECODABLE.search(str(exc))
        name = f"TEXTCAST_{found.group(1).upper()}" if found else "settings"
        fail(f"bad setting {name}: cannot be read (a mapping is written as JSON)", code=2)
    try:
        policies.check_settings(settings)
    except ValidationFailed as exc:
        fail(f"bad setting {exc.field}: {exc.message}", code=2)
    return settings


# pydantic-settings names the field whose raw value it could not decode.
_UNDECODABLE = re.compile(r'field "(\w+)"')


def fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def run(action: Callable[[Context], Awaitable[T]]) -> T:
    """Run ``action`` with a migrated database; Textcast errors become clean exits."""
    settings = load_settings()

    async def _main() -> T:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        migrate.upgrade(settings.effective_database_url)
        ctx = Context.create(settings)
        try:
            await installation_defaults.refresh(ctx)  # what an admin saved applies here too
            return await action(ctx)
        finally:
            await ctx.close()

    try:
        return asyncio.run(_main())
    except ValidationFailed as exc:
        fail(f"{exc.field}: {exc.message}", 2)
    except ProviderError as exc:
        fail(f"provider error {exc.code}: {exc.message}")
    except (TextcastError, TargetRefused) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot reach the database or a service: {exc}")


def emit(data: Any, as_json: bool, *, table: Callable[[Any], Table] | None = None) -> None:
    """JSON with ``--json``; else ``table(data)``, or a plain table of the
    record (field and value) or of the list of records (a column per field)."""
    if as_json:
        console.print_json(json.dumps(data, default=str))
    else:
        console.print((table or plain_table)(data))


def plain_table(data: Any) -> Table:
    def cell(value: Any) -> str:
        return json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)

    if isinstance(data, dict):
        return make_table("", ["field", "value"], [(k, cell(v)) for k, v in data.items()])
    rows = list(data)
    columns = list(rows[0]) if rows else []
    return make_table("", columns, [[cell(r.get(c)) for c in columns] for r in rows])


# Values up to this long without a space (numbers, IDs, statuses) stay on one line.
WHOLE_VALUE = 24


def make_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A table that a narrow terminal never cuts short with an ellipsis: short
    single-word values (a phone number, an ID) stay whole, longer ones fold."""
    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    table = Table(title=title, show_lines=False)
    for index, column in enumerate(columns):
        values = [row[index] for row in cells if index < len(row)]
        whole = bool(values) and all(" " not in v and len(v) <= WHOLE_VALUE for v in values)
        table.add_column(column, overflow="fold", no_wrap=whole)
    for row in cells:
        table.add_row(*row)
    return table


def zoned_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 time with its zone (2026-12-01T09:00:00Z), as the API takes it."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(option, f"{value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise ValidationFailed(option, "give a time zone, e.g. 2026-11-24T10:00:00Z")
    return parsed


def parse_pairs(pairs: Sequence[str], option: str) -> dict[str, str]:
    """``key=value`` options into a dict; a clear error for anything else."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"{option} expects key=value, got {pair!r}", 2)
        out[key] = value
    return out
