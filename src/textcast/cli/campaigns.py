"""`textcast campaigns ...`: create, launch and follow campaigns.

The CLI writes to the database; the campaign runner of `textcast serve` (or
of a worker) picks a launched campaign up within a second and fans it out.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from rich.live import Live
from rich.table import Table
from sqlalchemy import func, select

from textcast.campaigns import lifecycle, service
from textcast.campaigns.spec import CampaignIn
from textcast.campaigns.test_send import send_test
from textcast.cli.campaign_stats import campaign_stats_command
from textcast.cli.common import JsonOption, console, emit, fail, id_option, make_table, run
from textcast.cli.contacts import _read_json_option
from textcast.context import Context
from textcast.db.models import Campaign, Message
from textcast.errors import ValidationFailed
from textcast.services.senders import validation_failed
from textcast.views.campaigns import campaign_view, recipient_view
from textcast.views.messages import message_view

campaigns_app = typer.Typer(
    help="Campaigns: an audience, a text and a schedule, fanned out to every recipient.",
    no_args_is_help=True,
)
RefArgument = typer.Argument(..., help="Campaign name or id.")
# Message statuses as the live display groups them.
SENT = ("sent", "delivered", "undelivered", "read", "unknown", "failed")
DELIVERED = ("delivered", "read")
FAILED = ("failed", "undelivered")


def _json(value: str | None, option: str) -> Any:
    if value is None:
        return None
    try:
        return json.loads(_read_json_option(value))
    except ValueError as exc:
        raise ValidationFailed(option, f"not JSON: {exc}") from None


def _quiet_hours(value: str | None) -> dict[str, Any] | None:
    """``off``, ``FROM-UNTIL`` (21:00-08:00), or the JSON object."""
    if value is None:
        return None
    if value == "off":
        return {"off": True}
    if value.count("-") == 1 and not value.lstrip().startswith("{"):
        start, end = value.split("-")
        return {"from": start.strip(), "until": end.strip()}
    found = _json(value, "--quiet-hours")
    if not isinstance(found, dict):
        raise ValidationFailed("--quiet-hours", "off, FROM-UNTIL, or a JSON object")
    return found


def _audience(
    segment: str | None, rules_json: str | None, contacts: str | None, phones: str | None
) -> dict[str, Any]:
    given = [x for x in (segment, rules_json, contacts, phones) if x is not None]
    if len(given) != 1:
        fail("give one audience: --segment, --rules, --contacts or --phones", 2)
    if segment is not None:
        return {"segment": segment}
    if rules_json is not None:
        return {"rules": _json(rules_json, "--rules")}
    if contacts is not None:
        try:
            return {"contacts": [int(c) for c in contacts.split(",") if c.strip()]}
        except ValueError:
            raise ValidationFailed("--contacts", "comma-separated contact ids") from None
    assert phones is not None
    return {"phones": [p.strip() for p in phones.split(",") if p.strip()]}


def _campaigns_table(rows: list[dict[str, Any]]) -> Table:
    return make_table(
        "Campaigns",
        ["id", "name", "status", "targeted", "queued", "skipped", "launched", "reason"],
        [
            (
                c["id"],
                c["name"],
                c["status"],
                f"{c['targeted']:,}",
                f"{c['queued']:,}",
                f"{c['skipped']:,}",
                c["launched_at"] or "",
                c["status_reason"] or "",
            )
            for c in rows
        ],
    )


def _detail(view: dict[str, Any]) -> Table:
    table = make_table(f"Campaign {view['name']} ({view['status']})", ["field", "value"], [])
    for key, value in view.items():
        if key == "recipients":
            continue
        shown = json.dumps(value) if isinstance(value, dict | list) else value
        table.add_row(key, "" if shown is None else str(shown))
    for key, count in sorted((view.get("recipients") or {}).items()):
        table.add_row(f"recipients {key}", f"{count:,}")
    return table


def _recipients_table(rows: list[dict[str, Any]]) -> Table:
    return make_table(
        "Recipients",
        ["id", "phone", "variant", "status", "reason", "detail", "message", "due"],
        [
            (
                r["id"],
                r["phone"],
                r["variant"] or "",
                r["status"],
                r["reason"] or "",
                r["detail"] or "",
                r["message_id"] or "",
                r["due_at"] or "",
            )
            for r in rows
        ],
    )


@campaigns_app.command("create")
def create(
    name: str = typer.Argument(..., help="A unique name."),
    template: str | None = typer.Option(None, help="A saved template (name or id)."),
    template_version: int | None = typer.Option(None, help="Pin this version (default: current)."),
    body: str | None = typer.Option(None, help="An inline text instead of a template."),
    variants: str | None = typer.Option(
        None, help='A/B variants as JSON or @FILE: [{"name", "template"|"body", "percent"}]'
    ),
    control_percent: int = typer.Option(0, help="Hold out this % as a control group."),
    segment: str | None = typer.Option(None, help="Audience: a saved segment."),
    rules_json: str | None = typer.Option(None, "--rules", help="Audience: rules as JSON/@FILE."),
    contacts: str | None = typer.Option(None, help="Audience: contact ids, comma-separated."),
    phones: str | None = typer.Option(None, help="Audience: numbers, comma-separated."),
    sender: str | None = typer.Option(None, help="Send from this sender (default sender)."),
    category: str = typer.Option("promotional", help="promotional or transactional"),
    click_tracking: bool = typer.Option(False, help="Replace links with tracked short links."),
    label: list[str] = typer.Option([], help="A label; repeat for several."),
    send_at: str | None = typer.Option(None, help="Start then (ISO 8601; UTC without offset)."),
    local_time: str | None = typer.Option(None, help="HH:MM in each recipient's own zone."),
    missed_local_time: str = typer.Option("next", help="Hour passed: next (day) or skip."),
    throttle: int | None = typer.Option(None, help="At most this many messages a minute."),
    expires_at: str | None = typer.Option(None, help="Not handed over by then: skipped."),
    max_failure_rate: float | None = typer.Option(
        None, help="Pause when more than this % of the last 500 sends failed."
    ),
    quiet_hours: str | None = typer.Option(
        None, help="off, FROM-UNTIL (21:00-08:00) or JSON; default: the installation's."
    ),
    caps: str | None = typer.Option(
        None, help='Extra frequency caps as JSON: [{"limit": 1, "hours": 24}]'
    ),
    as_json: bool = JsonOption,
) -> None:
    """Save a draft campaign; `textcast campaigns launch` starts it."""
    raw = {
        "name": name,
        "template": template,
        "template_version": template_version,
        "body": body,
        "variants": _json(variants, "--variants") or [],
        "control_percent": control_percent,
        "audience": _audience(segment, rules_json, contacts, phones),
        "sender": sender,
        "category": category,
        "click_tracking": click_tracking,
        "labels": label,
        "send_at": send_at,
        "local_time": local_time,
        "missed_local_time": missed_local_time,
        "throttle_per_minute": throttle,
        "expires_at": expires_at,
        "max_failure_rate": max_failure_rate,
        "quiet_hours": _quiet_hours(quiet_hours),
        "frequency_caps": _json(caps, "--caps"),
    }
    try:
        data = CampaignIn.model_validate(raw)
    except ValidationError as exc:
        raise_cli(validation_failed(exc))

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            return campaign_view(await service.create(ctx.settings, session, data))

    emit(run(action), as_json, table=_detail)


def raise_cli(exc: ValidationFailed) -> NoReturn:
    fail(f"{exc.field}: {exc.message}", 2)


@campaigns_app.command("list")
def list_campaigns(
    status: str | None = typer.Option(None, help="Only campaigns in this status."),
    before_id: int | None = id_option("Page on from this campaign ID (newest first)."),
    limit: int = typer.Option(100, min=1, max=500),
    as_json: bool = JsonOption,
) -> None:
    async def action(ctx: Context) -> list[dict[str, Any]]:
        async with ctx.session() as session:
            found = await service.list_campaigns(
                session, status_filter=status, before_id=before_id, limit=limit
            )
            return [campaign_view(c) for c in found]

    emit(run(action), as_json, table=_campaigns_table)


@campaigns_app.command("show")
def show(ref: str = RefArgument, as_json: bool = JsonOption) -> None:
    """A campaign, with its recipients counted by status and skip reason."""

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            campaign = await service.get(session, ref)
            return campaign_view(campaign, await service.recipient_counts(session, campaign.id))

    emit(run(action), as_json, table=_detail)


def _move(ref: str, as_json: bool, verb: str) -> None:
    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            campaign = await service.get(session, ref)
            if verb == "launch":
                moved = await service.launch(ctx.settings, session, campaign)
            elif verb == "pause":
                moved = await service.pause(session, campaign)
            elif verb == "resume":
                moved = await service.resume(session, campaign)
            else:
                moved = await service.cancel(session, campaign)
            return campaign_view(moved)

    emit(run(action), as_json, table=_detail)


@campaigns_app.command("launch")
def launch(
    ref: str = RefArgument,
    watch: bool = typer.Option(False, help="Follow it live until it finishes (or --timeout)."),
    timeout: float = typer.Option(0, help="With --watch: stop watching after this many seconds."),
    as_json: bool = JsonOption,
) -> None:
    """Start the campaign now, or schedule it for its send time."""
    if not watch:
        _move(ref, as_json, "launch")
        return
    if as_json:
        _move(ref, True, "launch")
    else:
        _launch_quietly(ref)
    _watch(ref, timeout)


def _launch_quietly(ref: str) -> None:
    async def action(ctx: Context) -> None:
        async with ctx.session() as session:
            await service.launch(ctx.settings, session, await service.get(session, ref))

    run(action)


@campaigns_app.command("pause")
def pause(ref: str = RefArgument, as_json: bool = JsonOption) -> None:
    """Stop sending: no more messages are made, those waiting are held until a resume."""
    _move(ref, as_json, "pause")


@campaigns_app.command("resume")
def resume(ref: str = RefArgument, as_json: bool = JsonOption) -> None:
    _move(ref, as_json, "resume")


@campaigns_app.command("cancel")
def cancel(ref: str = RefArgument, as_json: bool = JsonOption) -> None:
    """Stop for good: recipients not yet messaged are skipped, waiting messages cancelled."""
    _move(ref, as_json, "cancel")


@campaigns_app.command("recipients")
def recipients(
    ref: str = RefArgument,
    status: str | None = typer.Option(None, help="pending, queued, skipped or control"),
    reason: str | None = typer.Option(None, help="Only skipped for this reason."),
    after: int | None = typer.Option(None, help="Page on from this recipient id."),
    limit: int = typer.Option(50, min=1, max=1000),
    as_json: bool = JsonOption,
) -> None:
    async def action(ctx: Context) -> list[dict[str, Any]]:
        async with ctx.session() as session:
            campaign = await service.get(session, ref)
            found = await service.list_recipients(
                session,
                campaign.id,
                status_filter=status,
                reason=reason,
                after_id=after,
                limit=limit,
            )
            return [recipient_view(r) for r in found]

    emit(run(action), as_json, table=_recipients_table)


@campaigns_app.command("test")
def test(
    ref: str = RefArgument,
    phones: list[str] = typer.Argument(..., help="Test numbers (at most 20)."),
    variant: str | None = typer.Option(None, help="The variant to send (default: the first)."),
    as_json: bool = JsonOption,
) -> None:
    """Send the campaign's text now to test numbers, through the real path, marked as tests."""
    if len(phones) > 20:
        fail("at most 20 test numbers", 2)

    async def action(ctx: Context) -> list[dict[str, Any]]:
        async with ctx.session() as session:
            campaign = await service.get(session, ref)
            sent = await send_test(ctx.settings, session, campaign, phones, variant)
            return [message_view(m) for m in sent]

    emit(
        run(action),
        as_json,
        table=lambda rows: make_table(
            "Test messages", ["id", "to", "status", "body"],
            [(m["id"], m["to"], m["status"], m["body"]) for m in rows],
        ),
    )  # fmt: skip


# --- launch --watch -------------------------------------------------------------------


async def progress(ctx: Context, ref: str) -> dict[str, Any]:
    """The campaign's counters and its messages by status, grouped as shown."""
    async with ctx.session() as session:
        campaign = await service.get(session, ref)
        by_status = dict(
            (
                await session.execute(
                    select(Message.status, func.count())
                    .where(Message.campaign_id == campaign.id)
                    .group_by(Message.status)
                )
            ).all()
        )
        return _numbers(campaign, {str(k): int(v) for k, v in by_status.items()})


def _numbers(campaign: Campaign, by_status: dict[str, int]) -> dict[str, Any]:
    sent = sum(by_status.get(s, 0) for s in SENT)
    delivered = sum(by_status.get(s, 0) for s in DELIVERED)
    return {
        "name": campaign.name,
        "status": campaign.status,
        "status_reason": campaign.status_reason,
        "targeted": campaign.targeted,
        "skipped": campaign.skipped,
        "queued": campaign.queued,
        "sent": sent,
        "delivered": delivered,
        "failed": sum(by_status.get(s, 0) for s in FAILED),
        "delivery_rate": round(100 * delivered / sent, 1) if sent else None,
    }


def _progress_table(numbers: dict[str, Any]) -> Table:
    title = f"Campaign {numbers['name']}: {numbers['status']}"
    if numbers["status_reason"]:
        title += f" ({numbers['status_reason']})"
    rate = numbers["delivery_rate"]
    return make_table(
        title,
        ["targeted", "skipped", "queued", "sent", "delivered", "failed", "delivery rate"],
        [
            (
                f"{numbers['targeted']:,}",
                f"{numbers['skipped']:,}",
                f"{numbers['queued']:,}",
                f"{numbers['sent']:,}",
                f"{numbers['delivered']:,}",
                f"{numbers['failed']:,}",
                "" if rate is None else f"{rate}%",
            )
        ],
    )


def _watch(ref: str, timeout: float) -> None:
    async def action(ctx: Context) -> dict[str, Any]:
        deadline = time.monotonic() + timeout if timeout > 0 else None
        numbers = await progress(ctx, ref)
        with Live(_progress_table(numbers), console=console, auto_refresh=False) as live:
            while True:
                finished = numbers["status"] in lifecycle.FINISHED | {lifecycle.PAUSED}
                if finished or (deadline is not None and time.monotonic() >= deadline):
                    return numbers
                await asyncio.sleep(1.0)
                numbers = await progress(ctx, ref)
                live.update(_progress_table(numbers), refresh=True)

    numbers = run(action)
    console.print(
        f"{numbers['name']}: {numbers['status']}, {numbers['targeted']:,} targeted, "
        f"{numbers['queued']:,} queued, {numbers['skipped']:,} skipped, "
        f"{numbers['delivered']:,} delivered, {numbers['failed']:,} failed",
        highlight=False,
    )


# `campaigns stats REF`: the Stats tab, in its own module (cli/campaign_stats.py).
campaigns_app.command("stats")(campaign_stats_command)
