"""`textcast providers ...` and `textcast senders ...`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from textcast.cli.common import JsonOption, emit, fail, make_table, parse_pairs, run
from textcast.context import Context
from textcast.services import providers as provider_service
from textcast.services import senders as sender_service
from textcast.views.providers import provider_view, sender_view

providers_app = typer.Typer(
    help="SMS provider accounts (Twilio, generic HTTP).", no_args_is_help=True
)
senders_app = typer.Typer(
    help="Senders: numbers, short codes, alphanumeric IDs, Messaging Services.",
    no_args_is_help=True,
)


def _providers_table(rows: list[dict[str, Any]]) -> Table:
    return make_table(
        "Providers",
        ["id", "name", "type", "senders", "default sender", "simulated"],
        [
            (
                p["id"],
                p["name"],
                p["type"],
                len(p["senders"]),
                next((s["name"] for s in p["senders"] if s["is_default"]), ""),
                "yes" if p["is_simulated"] else "",
            )
            for p in rows
        ],
    )


def _senders_table(rows: list[dict[str, Any]]) -> Table:
    return make_table(
        "Senders",
        ["id", "name", "type", "sender id", "mps", "mms", "default", "status callback URL"],
        [
            (
                s["id"],
                s["name"],
                s["type"],
                s["sender_id"],
                s["mps"],
                "yes" if s["mms_capable"] else "",
                "★" if s["is_default"] else "",
                s["status_callback_url"],
            )
            for s in rows
        ],
    )


def _provider_detail(p: dict[str, Any]) -> Table:
    table = make_table(f"Provider {p['name']}", ["field", "value"], [])
    for key in ("id", "name", "type", "is_simulated", "status_callback_url", "inbound_url"):
        table.add_row(key, str(p[key]))
    for key, value in {**p["config"], **p["credentials"]}.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
    for sender in p["senders"]:
        table.add_row(
            "sender",
            f"{sender['name']} ({sender['type']} {sender['sender_id']})"
            + (" default" if sender["is_default"] else ""),
        )
    return table


@providers_app.command("add")
def add_provider(
    name: str = typer.Option(..., help="Unique nickname."),
    type_: str = typer.Option("twilio", "--type", help="twilio or generic."),
    account_sid: str | None = typer.Option(None, help="Twilio Account SID (AC...)."),
    auth_token: str | None = typer.Option(
        None, help="Twilio auth token.", envvar="TWILIO_AUTH_TOKEN"
    ),
    base_url: str | None = typer.Option(None, help="Twilio API origin (simulator, edge)."),
    preset: str | None = typer.Option(
        None, help="Generic preset: msg91, textlocal, plivo, bulksms, exotel."
    ),
    credential: list[str] = typer.Option(
        [], "--credential", "-c", help="Generic preset field key=value."
    ),
    config_file: Path | None = typer.Option(
        None, "--config", help="JSON file with the full provider payload."
    ),
    sender_name: str | None = typer.Option(None, help="First sender's name."),
    sender_type: str = typer.Option(
        "long_code", help="long_code, toll_free, short_code, messaging_service, alphanumeric."
    ),
    sender_id: str | None = typer.Option(
        None, help="Number, short code, MG SID or alphanumeric ID."
    ),
    verify: bool = typer.Option(
        False, help="Check the credentials with the provider before saving."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Add a provider account (with its first sender)."""
    payload: dict[str, Any] = {}
    if config_file is not None:
        try:
            payload = json.loads(config_file.read_text())
        except (OSError, ValueError) as exc:
            fail(f"cannot read {config_file}: {exc}", 2)
    payload.update({"name": name, "type": type_, "verify": verify})
    for key, value in (
        ("account_sid", account_sid),
        ("auth_token", auth_token),
        ("base_url", base_url),
        ("preset", preset),
    ):
        if value is not None:
            payload[key] = value
    if credential:
        payload["credentials"] = parse_pairs(credential, "--credential")
    if sender_id:
        payload["senders"] = [
            {
                "name": sender_name or f"{name}-{sender_type}",
                "type": sender_type,
                "sender_id": sender_id,
            }
        ]

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            row = await provider_service.create_provider(ctx, session, payload)
            return provider_view(ctx, row)

    emit(run(action), as_json, table=_provider_detail)


@providers_app.command("list")
def list_providers(as_json: bool = JsonOption) -> None:
    async def action(ctx: Context) -> list[dict[str, Any]]:
        async with ctx.session() as session:
            return [provider_view(ctx, r) for r in await provider_service.list_providers(session)]

    emit(run(action), as_json, table=_providers_table)


@providers_app.command("show")
def show_provider(ref: str, as_json: bool = JsonOption) -> None:
    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            return provider_view(ctx, await provider_service.get_provider(session, ref))

    emit(run(action), as_json, table=_provider_detail)


@providers_app.command("remove")
def remove_provider(ref: str, as_json: bool = JsonOption) -> None:
    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            row = await provider_service.delete_provider(session, ref)
            return {"deleted": True, "id": row.id}

    emit(run(action), as_json)


@providers_app.command("set-default")
def set_default_provider(
    ref: str,
    sender: str | None = typer.Option(None, help="Which of its senders."),
    as_json: bool = JsonOption,
) -> None:
    """Make this provider's sender (its first, or --sender) the default."""

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            row = await provider_service.get_provider(session, ref)
            live = [s for s in row.senders if s.deleted_at is None]
            if not live:
                fail(f"provider {row.name!r} has no senders; add one with `textcast senders add`")
            chosen = next((s for s in live if s.name == sender), None) if sender else live[0]
            if chosen is None:
                fail(f"provider {row.name!r} has no sender {sender!r}")
            assert chosen is not None
            return sender_view(ctx.settings, await sender_service.set_default(session, chosen.id))

    emit(run(action), as_json, table=lambda s: _senders_table([s]))


@providers_app.command("balance")
def balance(ref: str, as_json: bool = JsonOption) -> None:
    async def action(ctx: Context) -> dict[str, str]:
        async with ctx.session() as session:
            result = await provider_service.check_balance(ctx, session, ref)
            return {"balance": result.amount, "currency": result.currency}

    emit(
        run(action),
        as_json,
        table=lambda b: make_table(
            "Balance", ["balance", "currency"], [(b["balance"], b["currency"])]
        ),
    )


@providers_app.command("reauth")
def reauth(
    ref: str,
    auth_token: str | None = typer.Option(
        None, help="New Twilio auth token.", envvar="TWILIO_AUTH_TOKEN"
    ),
    account_sid: str | None = typer.Option(None, help="New Account SID."),
    credential: list[str] = typer.Option(
        [], "--credential", "-c", help="Generic credential key=value."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Replace credentials after the provider has accepted them."""
    payload: dict[str, Any] = {}
    if auth_token:
        payload["auth_token"] = auth_token
    if account_sid:
        payload["account_sid"] = account_sid
    if credential:
        payload["credentials"] = parse_pairs(credential, "--credential")

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            return provider_view(
                ctx, await provider_service.reauthenticate(ctx, session, ref, payload)
            )

    emit(run(action), as_json, table=_provider_detail)


@senders_app.command("add")
def add_sender(
    provider: str = typer.Option(..., help="Provider name or id."),
    name: str = typer.Option(...),
    type_: str = typer.Option("long_code", "--type"),
    sender_id: str = typer.Option(..., help="Number, short code, MG SID or alphanumeric ID."),
    mms: bool = typer.Option(False, help="Sender supports MMS."),
    template_id_required: bool = typer.Option(False),
    mps: float | None = typer.Option(None, help="Segments per second (default by type)."),
    callback_url: str | None = typer.Option(None, help="Custom status callback URL (relay)."),
    unsubscribe_text: str | None = typer.Option(None),
    default: bool = typer.Option(False, help="Make it the default sender."),
    as_json: bool = JsonOption,
) -> None:
    payload = {
        "name": name,
        "type": type_,
        "sender_id": sender_id,
        "mms_capable": mms,
        "template_id_required": template_id_required,
        "mps": mps,
        "custom_callback_url": callback_url,
        "unsubscribe_text": unsubscribe_text,
        "is_default": default,
    }

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            row = await provider_service.get_provider(session, provider)
            sender = await sender_service.add_sender(
                session, row, sender_service.parse_sender(payload)
            )
            return sender_view(ctx.settings, sender)

    emit(run(action), as_json, table=lambda s: _senders_table([s]))


@senders_app.command("list")
def list_senders(provider: str | None = typer.Option(None), as_json: bool = JsonOption) -> None:
    async def action(ctx: Context) -> list[dict[str, Any]]:
        async with ctx.session() as session:
            rows = await provider_service.list_providers(session)
            return [
                sender_view(ctx.settings, s)
                for r in rows
                for s in r.senders
                if s.deleted_at is None and (provider is None or provider in (r.name, str(r.id)))
            ]

    emit(run(action), as_json, table=_senders_table)


@senders_app.command("set-default")
def set_default_sender(ref: str, as_json: bool = JsonOption) -> None:
    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            return sender_view(ctx.settings, await sender_service.set_default(session, ref))

    emit(run(action), as_json, table=lambda s: _senders_table([s]))


@senders_app.command("update")
def update_sender(
    ref: str,
    mps: float | None = typer.Option(None),
    callback_url: str | None = typer.Option(None, help="Custom status callback URL."),
    restore_callback: bool = typer.Option(False, help="Go back to Textcast's own callback URL."),
    unsubscribe_text: str | None = typer.Option(None),
    as_json: bool = JsonOption,
) -> None:
    changes: dict[str, Any] = {"restore_default_callback": restore_callback}
    for key, value in (
        ("mps", mps),
        ("custom_callback_url", callback_url),
        ("unsubscribe_text", unsubscribe_text),
    ):
        if value is not None:
            changes[key] = value

    async def action(ctx: Context) -> dict[str, Any]:
        from pydantic import ValidationError

        try:
            update = sender_service.SenderUpdate.model_validate(changes)
        except ValidationError as exc:
            raise sender_service.validation_failed(exc) from None
        async with ctx.session() as session:
            return sender_view(
                ctx.settings, await sender_service.update_sender(session, ref, update)
            )

    emit(run(action), as_json, table=lambda s: _senders_table([s]))


@senders_app.command("remove")
def remove_sender(ref: str, as_json: bool = JsonOption) -> None:
    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            sender = await sender_service.delete_sender(session, ref)
            return {"deleted": True, "id": sender.id}

    emit(run(action), as_json)
