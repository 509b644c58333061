"""`textcast send`, `send-test`, `messages ...` and `apikeys ...`."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.progress import Progress
from rich.table import Table

from textcast.cli.common import (
    IdArgument,
    JsonOption,
    console,
    emit,
    fail,
    id_option,
    make_table,
    parse_pairs,
    run,
)
from textcast.cli.common import errors as stderr
from textcast.context import Context
from textcast.services import apikeys, audit
from textcast.services import messages as message_service
from textcast.services.roles import CLI
from textcast.services.senders import validation_failed
from textcast.views.messages import message_view, outcome_view

messages_app = typer.Typer(help="Messages in the outbox and their history.", no_args_is_help=True)
apikeys_app = typer.Typer(help="API keys for the REST API.", no_args_is_help=True)


def _message_table(m: dict[str, Any]) -> Table:
    table = make_table(f"Message {m['id']}", ["field", "value"], [])
    for key in (
        "status",
        "to",
        "provider_message_id",
        "segments",
        "encoding",
        "template_id",
        "campaign",
        "error_code",
        "error_description",
        "attempts",
        "possible_duplicate",
        "sent_at",
        "delivered_at",
    ):
        table.add_row(key, "" if m.get(key) is None else str(m[key]))
    for event in m.get("history", []):
        table.add_row(
            f"  {event['at']}",
            f"{event['type']} ({event['source']})"
            + (f" {event['error_code']}" if event["error_code"] else ""),
        )
    if m.get("hint"):
        table.add_row("hint", m["hint"])
    return table


def _messages_table(rows: list[dict[str, Any]]) -> Table:
    return make_table(
        "Messages",
        ["id", "status", "to", "segments", "error", "created"],
        [
            (m["id"], m["status"], m["to"], m["segments"], m["error_code"], m["created_at"])
            for m in rows
        ],
    )


def _request(**fields: object) -> message_service.SendRequest:
    try:
        return message_service.SendRequest.model_validate(fields)
    except ValidationError as exc:
        raise validation_failed(exc) from None


def send_and_wait(
    request: message_service.SendRequest, wait: float, *, is_test: bool
) -> dict[str, Any]:
    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            submitted = await message_service.submit(
                ctx.settings, session, request, is_test=is_test
            )
        view = outcome_view(
            *await message_service.wait_until_final(ctx, submitted.message.id, wait)
        )
        if wait and view["status"] == "queued":
            view["hint"] = "still queued: is `textcast serve` (or `textcast worker`) running?"
        return view

    return run(action)


def send(
    to: str = typer.Option(..., help="Recipient, E.164 or national (TEXTCAST_DEFAULT_REGION)."),
    body: str = typer.Option("", help="Message text (may be empty with --media-url)."),
    sender: str | None = typer.Option(
        None, help="Sender name (the installation's default sender if omitted)."
    ),
    media_url: list[str] = typer.Option(
        [], "--media-url", help="MMS media URL; repeat for several (an MMS-capable sender)."
    ),
    template_id: str | None = typer.Option(
        None, help="Template ID (required by senders marked so, e.g. for DLT)."
    ),
    campaign: str | None = typer.Option(None, help="Campaign label for events and stats."),
    automation: str | None = typer.Option(None, help="Automation label for events and stats."),
    append_unsubscribe_text: bool = typer.Option(False, help="Add the sender's unsubscribe text."),
    template: str | None = typer.Option(
        None, help="A saved template (name or id) instead of --body, rendered for the recipient."
    ),
    data: list[str] = typer.Option(
        [], "--data", help="key=value the template reads as {{ data.key }}; repeat for several."
    ),
    click_tracking: bool = typer.Option(
        False, "--click-tracking", help="Replace each link with a tracked short link."
    ),
    wait: float = typer.Option(0, help="Seconds to wait for a final status."),
    as_json: bool = JsonOption,
) -> None:
    """Queue one message (the fields of POST /api/v1/messages)."""
    request = _request(
        to=to,
        body=body,
        sender=sender,
        media_urls=media_url,
        template_id=template_id,
        campaign=campaign,
        automation=automation,
        append_unsubscribe_text=append_unsubscribe_text,
        template=template,
        data=parse_pairs(data, "--data"),
        click_tracking=click_tracking,
    )
    emit(send_and_wait(request, wait, is_test=False), as_json, table=_message_table)


def send_test(
    number: str = typer.Option(..., "--to", help="Mobile number (with --country-code, or E.164)."),
    country_code: str = typer.Option("", help="Country calling code, e.g. 1 or 44."),
    message: str = typer.Option("This is a test message from Textcast.", help="Text to send."),
    sender: str | None = typer.Option(
        None, help="Sender name (the installation's default sender if omitted)."
    ),
    template_id: str | None = typer.Option(None, help="Template ID, if the sender needs one."),
    wait: float = typer.Option(15, help="Seconds to wait for the final status."),
    as_json: bool = JsonOption,
) -> None:
    """Send a test SMS through the real path and show what happened."""
    if country_code and not number.startswith("+"):
        number = "+" + country_code.lstrip("+") + number.lstrip("0")
    request = _request(to=number, body=message, sender=sender, template_id=template_id)
    result = send_and_wait(request, wait, is_test=True)
    emit(result, as_json, table=_message_table)
    if result["status"] in ("failed", "undelivered"):
        raise typer.Exit(1)


@messages_app.command("list")
def list_messages(
    status: str | None = typer.Option(None),
    to: str | None = typer.Option(None),
    before_id: int | None = id_option("Page on from this message ID (newest first)."),
    limit: int = typer.Option(50, min=1, max=500),
    as_json: bool = JsonOption,
) -> None:
    async def action(ctx: Context) -> list[dict[str, Any]]:
        async with ctx.session() as session:
            rows = await message_service.list_messages(
                session, status_filter=status, to=to, before_id=before_id, limit=limit
            )
            return [message_view(m) for m in rows]

    emit(run(action), as_json, table=_messages_table)


@messages_app.command("show")
def show_message(
    message_id: int = IdArgument,
    wait: float = typer.Option(0, min=0, help="Seconds to wait for a final status first."),
    as_json: bool = JsonOption,
) -> None:
    """A message and its history."""

    async def action(ctx: Context) -> dict[str, Any]:
        message, events, _ = await message_service.wait_until_final(ctx, message_id, wait)
        return message_view(message, events)

    emit(run(action), as_json, table=_message_table)


@apikeys_app.command("create")
def create_key(
    name: str = typer.Option("cli", help="A label for the key."),
    role: str = typer.Option("admin", help="admin, editor or viewer."),
    as_json: bool = JsonOption,
) -> None:
    """Mint a key; it is shown once and stored only as a hash."""

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            new = await apikeys.create_key(session, name, role=role)
            audit.record(session, CLI, "api_key.created", f"{name} #{new.record.id}")
            return {"id": new.record.id, "name": name, "role": role, "key": new.key}

    emit(
        run(action),
        as_json,
        table=lambda k: make_table(
            "New API key (shown once)",
            ["id", "name", "role", "key"],
            [(k["id"], k["name"], k["role"], k["key"])],
        ),
    )


@apikeys_app.command("list")
def list_keys(as_json: bool = JsonOption) -> None:
    async def action(ctx: Context) -> list[dict[str, Any]]:
        async with ctx.session() as session:
            return [
                {
                    "id": k.id,
                    "name": k.name,
                    "prefix": k.prefix,
                    "role": k.role,
                    "created_at": k.created_at,
                    "revoked": k.revoked_at is not None,
                }
                for k in await apikeys.list_keys(session)
            ]

    emit(
        run(action),
        as_json,
        table=lambda rows: make_table(
            "API keys",
            ["id", "name", "prefix", "role", "created", "revoked"],
            [
                (
                    k["id"],
                    k["name"],
                    k["prefix"] + "…",
                    k["role"],
                    k["created_at"],
                    "yes" if k["revoked"] else "",
                )
                for k in rows
            ],
        ),
    )


@apikeys_app.command("revoke")
def revoke_key(key_id: int = IdArgument, as_json: bool = JsonOption) -> None:
    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            record = await apikeys.revoke(session, key_id)
            audit.record(session, CLI, "api_key.revoked", f"{record.name} #{record.id}")
            return {"id": record.id, "revoked": True}

    emit(run(action), as_json)


# Every per-message field the batch API takes can be a CSV column.
CSV_COLUMNS = (*message_service.SendRequest.model_fields, message_service.KEY_FIELD)
# media_urls holds several URLs in one cell, separated by spaces (URLs have none).
LIST_COLUMNS = frozenset({"media_urls"})


def csv_payload(row: dict[str | None, str | list[str] | None]) -> dict[str, object]:
    """One CSV row as a batch API message: known columns with a value, lists split."""
    payload: dict[str, object] = {}
    for column in CSV_COLUMNS:
        value = row.get(column)
        if not isinstance(value, str) or not value.strip():
            continue
        payload[column] = value.split() if column in LIST_COLUMNS else value
    return payload


def send_batch(
    csv_file: Path = typer.Argument(
        ...,
        help="CSV with a header: to, body, and optionally sender, campaign, automation, "
        "template_id, append_unsubscribe_text (true/false), media_urls (space-separated) "
        "and idempotency_key (a line already queued with its key is not queued again).",
    ),
    chunk: int = typer.Option(1000, min=1, max=10_000, help="Rows per transaction."),
    as_json: bool = JsonOption,
) -> None:
    """Queue every row of a CSV file, reporting bad rows by line number."""
    try:
        with csv_file.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        fail(f"cannot read {csv_file}: {exc}", 2)
    if rows and not ("to" in header and {"body", "media_urls"} & set(header)):
        fail("the CSV needs a header with at least 'to' and 'body' (or 'media_urls') columns", 2)
    ignored = [column for column in header if column not in CSV_COLUMNS]
    if ignored:
        stderr.print(f"warning: ignoring unknown columns: {', '.join(ignored)}", highlight=False)
    payloads = [csv_payload(row) for row in rows]

    async def action(ctx: Context) -> dict[str, Any]:
        accepted, errors = 0, []
        with Progress(
            *Progress.get_default_columns(), console=console, disable=as_json
        ) as progress:
            task = progress.add_task("queueing", total=len(payloads))
            for start in range(0, len(payloads), chunk):
                async with ctx.session() as session:
                    result = await message_service.submit_batch(
                        ctx.settings, session, list(payloads[start : start + chunk])
                    )
                accepted += len(result.accepted)
                errors += [{**e, "line": int(str(e["index"])) + start + 2} for e in result.rejected]
                progress.advance(task, len(payloads[start : start + chunk]))
        return {"accepted": accepted, "rejected": len(errors), "errors": errors}

    result = run(action)
    emit(
        result,
        as_json,
        table=lambda r: make_table(
            f"Queued {r['accepted']}, rejected {r['rejected']}",
            ["line", "field", "message"],
            [(e["line"], e["field"], e["message"]) for e in r["errors"][:50]],
        ),
    )
    if result["rejected"]:
        raise typer.Exit(1)
