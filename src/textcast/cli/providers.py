"""`textcast providers ...` and `textcast senders ...`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.cli.common import JsonOption, emit, fail, make_table, parse_pairs, run
from textcast.context import Context
from textcast.db.models import Sender
from textcast.policy import geo
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


AllowedCountriesOption: Any = typer.Option(
    None,
    help="Countries it may send to, ISO codes separated by commas (US,CA); "
    'messages to others are refused. "" allows every country (the default).',
)

# Where the provider calls back: Twilio's two URLs, or a generic provider's receipt URL.
CALLBACK_KEYS = ("status_callback_url", "inbound_url", "receipt_url")


def _providers_table(rows: list[dict[str, Any]]) -> Table:
    return make_table(
        "Providers",
        ["id", "name", "type", "senders", "default sender", "installation default", "simulated"],
        [
            (
                p["id"],
                p["name"],
                p["type"],
                len(p["senders"]),
                p["default_sender"] or "",
                "★" if p["is_default"] else "",
                "yes" if p["is_simulated"] else "",
            )
            for p in rows
        ],
    )


def _default_mark(sender: dict[str, Any]) -> str:
    """★★ sends messages that name no sender; ★ is its provider's default."""
    if sender["is_installation_default"]:
        return "★★"
    return "★" if sender["is_default"] else ""


def _sender_url(sender: dict[str, Any]) -> str:
    return str(sender.get("status_callback_url") or sender.get("receipt_url") or "")


def _senders_table(rows: list[dict[str, Any]]) -> Table:
    table = make_table(
        "Senders (★ provider default, ★★ installation default)",
        [
            "id",
            "name",
            "type",
            "sender id",
            "mps",
            "mms",
            "answers keywords",
            "default",
            "callback URL",
            "warnings",
        ],
        [
            (
                s["id"],
                s["name"],
                s["type"],
                s["sender_id"],
                s["mps"],
                "yes" if s["mms_capable"] else "",
                "yes" if s["keyword_responses"] else "no",
                _default_mark(s),
                _sender_url(s),
                "; ".join(w["code"] for w in s["warnings"]),
            )
            for s in rows
        ],
    )
    explained = dict.fromkeys(w["message"] for s in rows for w in s["warnings"])
    if explained:
        table.caption = "\n".join(explained)
    return table


def _provider_detail(p: dict[str, Any]) -> Table:
    table = make_table(f"Provider {p['name']}", ["field", "value"], [])
    for key in ("id", "name", "type", "is_simulated", "is_default", "opt_out_tag"):
        table.add_row(key, str(p[key]))
    for key in CALLBACK_KEYS:
        if key in p:
            table.add_row(key, str(p[key]))
    allowed = p["config"].get(geo.SETTING)
    table.add_row("allowed countries", ", ".join(allowed) if allowed else "every country")
    settings = {k: v for k, v in p["config"].items() if k != geo.SETTING}
    for key, value in {**settings, **p["credentials"]}.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
    for sender in p["senders"]:
        mark = _default_mark(sender)
        warned = ", ".join(w["code"] for w in sender["warnings"])
        table.add_row(
            "sender",
            f"{sender['name']} ({sender['type']} {sender['sender_id']})"
            + (f" {mark}" if mark else "")
            + (f" [{warned}]" if warned else ""),
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
        None, help="Generic preset: msg91, textlocal, plivo, bulksms, exotel, nimbus."
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
    opt_out_tag: str | None = typer.Option(
        None,
        help="Tag a STOP reply puts on the contact (Twilio: Twilio-Message-stop, "
        "generic: opted-out).",
    ),
    allowed_countries: str | None = AllowedCountriesOption,
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
        ("opt_out_tag", opt_out_tag),
    ):
        if value is not None:
            payload[key] = value
    if credential:
        payload["credentials"] = parse_pairs(credential, "--credential")
    if allowed_countries is not None:
        payload[geo.SETTING] = geo.split_countries(allowed_countries)
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


@providers_app.command("update")
def update_provider(
    ref: str,
    name: str | None = typer.Option(None, help="A new nickname."),
    allowed_countries: str | None = AllowedCountriesOption,
    as_json: bool = JsonOption,
) -> None:
    """Change a provider's settings (credentials: reauth)."""
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name
    if allowed_countries is not None:
        changes[geo.SETTING] = geo.split_countries(allowed_countries)
    if not changes:
        fail("nothing to change: give --name or --allowed-countries", 2)

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            row = await provider_service.update_provider(ctx, session, ref, changes)
            await session.flush()
            return provider_view(ctx, await provider_service.get_provider(session, row.id))

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
    sender: str | None = typer.Option(
        None, help="One of its senders to make its default first (name or ID)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Make this provider the installation's default: messages that name no
    sender go from its default sender (or --sender)."""

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            row = await provider_service.make_default(session, ref, sender)
            await session.flush()
            return provider_view(ctx, await provider_service.get_provider(session, row.id))

    emit(run(action), as_json, table=_provider_detail)


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
    keyword_responses: bool = typer.Option(
        True,
        "--keyword-responses/--no-keyword-responses",
        help="Answer keywords in replies (off where the provider answers them itself).",
    ),
    default: bool = typer.Option(False, help="Make it its provider's default sender."),
    a2p_10dlc_campaign: str | None = typer.Option(
        None, help="US long codes: the A2P 10DLC campaign it is registered under."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Add a sender to a provider (its first becomes the provider's default)."""
    payload = {
        "name": name,
        "type": type_,
        "sender_id": sender_id,
        "mms_capable": mms,
        "template_id_required": template_id_required,
        "mps": mps,
        "custom_callback_url": callback_url,
        "unsubscribe_text": unsubscribe_text,
        "keyword_responses": keyword_responses,
        "is_default": default,
        "a2p_10dlc_campaign_id": a2p_10dlc_campaign,
    }

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            row = await provider_service.get_provider(session, provider)
            sender = await sender_service.add_sender(
                session, row, sender_service.parse_sender(payload)
            )
            return sender_view(ctx, sender, row)

    emit(run(action), as_json, table=lambda s: _senders_table([s]))


@senders_app.command("list")
def list_senders(
    provider: str | None = typer.Option(None, help="Provider name or ID."),
    as_json: bool = JsonOption,
) -> None:
    async def action(ctx: Context) -> list[dict[str, Any]]:
        async with ctx.session() as session:
            if provider is not None:
                rows = [await provider_service.get_provider(session, provider)]
            else:
                rows = await provider_service.list_providers(session)
            return [sender_view(ctx, s, r) for r in rows for s in r.senders if s.deleted_at is None]

    emit(run(action), as_json, table=_senders_table)


async def _sender_view(ctx: Context, session: AsyncSession, sender: Sender) -> dict[str, Any]:
    return sender_view(ctx, sender, await sender_service.provider_of(session, sender))


@senders_app.command("set-default")
def set_default_sender(
    ref: str,
    installation: bool = typer.Option(
        False,
        "--installation",
        help="Also make it the installation's default (messages that name no sender).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Make a sender its provider's default (with --installation, the installation's too)."""

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            sender = await sender_service.set_default(session, ref, installation=installation)
            return await _sender_view(ctx, session, sender)

    emit(run(action), as_json, table=lambda s: _senders_table([s]))


@senders_app.command("update")
def update_sender(
    ref: str,
    mps: float | None = typer.Option(None),
    callback_url: str | None = typer.Option(None, help="Custom status callback URL."),
    restore_callback: bool = typer.Option(False, help="Go back to Textcast's own callback URL."),
    unsubscribe_text: str | None = typer.Option(None),
    template_id_required: bool | None = typer.Option(
        None, help="Refuse messages without a template ID (or stop refusing them)."
    ),
    keyword_responses: bool | None = typer.Option(
        None,
        "--keyword-responses/--no-keyword-responses",
        help="Answer keywords in replies, or leave them to the provider (STOP still opts out).",
    ),
    a2p_10dlc_campaign: str | None = typer.Option(
        None, help="Register a US long code for A2P 10DLC under this campaign."
    ),
    a2p_10dlc_unregister: bool = typer.Option(False, help="Withdraw the A2P 10DLC registration."),
    as_json: bool = JsonOption,
) -> None:
    changes: dict[str, Any] = {"restore_default_callback": restore_callback}
    for key, value in (
        ("mps", mps),
        ("custom_callback_url", callback_url),
        ("unsubscribe_text", unsubscribe_text),
        ("template_id_required", template_id_required),
        ("keyword_responses", keyword_responses),
        ("a2p_10dlc_campaign_id", a2p_10dlc_campaign),
    ):
        if value is not None:
            changes[key] = value
    if a2p_10dlc_unregister:
        if a2p_10dlc_campaign is not None:
            fail("give --a2p-10dlc-campaign or --a2p-10dlc-unregister, not both", 2)
        changes["a2p_10dlc_campaign_id"] = None

    async def action(ctx: Context) -> dict[str, Any]:
        from pydantic import ValidationError

        try:
            update = sender_service.SenderUpdate.model_validate(changes)
        except ValidationError as exc:
            raise sender_service.validation_failed(exc) from None
        async with ctx.session() as session:
            sender = await sender_service.update_sender(session, ref, update)
            return await _sender_view(ctx, session, sender)

    emit(run(action), as_json, table=lambda s: _senders_table([s]))


@senders_app.command("remove")
def remove_sender(ref: str, as_json: bool = JsonOption) -> None:
    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            sender = await sender_service.delete_sender(session, ref)
            return {"deleted": True, "id": sender.id}

    emit(run(action), as_json)
