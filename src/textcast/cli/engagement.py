"""`textcast events`, `stats`, `suppressions`, `keywords` and `webhooks`."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import phone
from textcast.audience import keywords, suppressions
from textcast.cli.common import (
    IdArgument,
    JsonOption,
    SinceOption,
    UntilOption,
    emit,
    id_option,
    make_table,
    run,
    zoned_time,
)
from textcast.context import Context
from textcast.db.models import MAX_ID, Provider
from textcast.errors import NotFound, ValidationFailed
from textcast.notify import endpoints
from textcast.services import events, stats
from textcast.services.providers import get_provider
from textcast.services.senders import get_sender
from textcast.views.audience import rule_view, suppression_view

events_app = typer.Typer(help="The event log (what happened to messages and contacts).")
suppressions_app = typer.Typer(help="Numbers that must not be messaged.", no_args_is_help=True)
keywords_app = typer.Typer(
    help="Keyword rules: auto-replies and opt-out words.", no_args_is_help=True
)
webhooks_app = typer.Typer(help="Endpoints that receive events.", no_args_is_help=True)


def _events_table(rows: list[dict[str, Any]]) -> Table:
    return make_table(
        "Events",
        ["id", "at", "type", "message", "phone", "campaign", "error", "detail"],
        [
            (
                e["id"],
                e["at"],
                e["type"],
                e["message_id"],
                e["phone"],
                e["campaign"],
                e["error_code"],
                e["detail"],
            )
            for e in rows
        ],
    )


@events_app.callback(invoke_without_command=True)
def list_events(
    type_: list[str] = typer.Option([], "--type", help="Event type; repeat for several."),
    message: int | None = id_option("Only this message's events."),
    campaign: str | None = typer.Option(None),
    provider: str | None = typer.Option(None, help="Provider name or ID."),
    sender: str | None = typer.Option(None, help="Sender name or ID."),
    after_id: int | None = typer.Option(
        None, help="Page on from this event ID.", min=0, max=MAX_ID
    ),
    limit: int = typer.Option(50, min=1, max=1000),
    as_json: bool = JsonOption,
) -> None:
    """Events, oldest first."""
    unknown = sorted(set(type_) - set(events.TYPES))

    async def action(ctx: Context) -> list[dict[str, Any]]:
        if unknown:
            raise ValidationFailed("--type", f"unknown event types: {', '.join(unknown)}")
        async with ctx.session() as session:
            where = events.EventFilter(
                types=tuple(type_),
                message_id=message,
                campaign=campaign,
                provider_id=(await get_provider(session, provider)).id if provider else None,
                sender_id=(await get_sender(session, sender)).id if sender else None,
            )
            return await events.find(session, where, after_id=after_id, limit=limit)

    emit(run(action), as_json, table=_events_table)


REASON_MAX = 200


def _source_text(row: dict[str, Any]) -> str:
    """operator (cli), reply STOP, provider_error 21610, import."""
    detail = row["source_detail"]
    if row["source"] == "operator" and detail:
        return f"operator ({detail})"
    return f"{row['source']} {detail}" if detail else str(row["source"])


def _suppressions_table(rows: list[dict[str, Any]]) -> Table:
    return make_table(
        "Suppressions",
        ["id", "phone", "provider", "sender", "source", "reason", "since"],
        [
            (
                r["id"],
                r["phone"],
                r["provider_id"],
                r["sender_id"] or "all senders",
                _source_text(r),
                r["reason"],
                r["created_at"],
            )
            for r in rows
        ],
    )


async def _sender_id(
    session: AsyncSession, provider: Provider | None, ref: str | None
) -> int | None:
    """The ID of sender ``ref`` (name or ID), which must belong to ``provider`` when given."""
    if ref is None:
        return None
    sender = await get_sender(session, ref)
    if provider is not None and sender.provider_id != provider.id:
        raise ValidationFailed("--sender", f"sender {ref!r} is not on provider {provider.name!r}")
    return sender.id


@suppressions_app.command("add")
def add_suppression(
    number: str,
    provider: str = typer.Option(..., help="Provider name or ID."),
    sender: str | None = typer.Option(None, help="Only for this sender (name or ID)."),
    reason: str = typer.Option("added by an operator", help="At most 200 characters."),
    as_json: bool = JsonOption,
) -> None:
    """Suppress a number on a provider account (or only one of its senders)."""

    async def action(ctx: Context) -> dict[str, Any]:
        if len(reason) > REASON_MAX:
            raise ValidationFailed("--reason", f"at most {REASON_MAX} characters")
        async with ctx.session() as session:
            row = await get_provider(session, provider)
            sender_id = await _sender_id(session, row, sender)
            e164 = phone.normalize(number, ctx.settings.default_region, field="number")
            added = await suppressions.suppress(
                session, row, e164, reason, sender_id, source=suppressions.Source.operator("cli")
            )
            return {"phone": e164, "provider_id": row.id, "sender_id": sender_id, "added": added}

    emit(run(action), as_json)


@suppressions_app.command("remove")
def remove_suppression(
    number: str,
    provider: str = typer.Option(..., help="Provider name or ID."),
    sender: str | None = typer.Option(
        None, help="Also lift the opt-out for this sender (name or ID)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Lift a number's suppression on a provider account (and a sender's, with --sender)."""

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            row = await get_provider(session, provider)
            sender_id = await _sender_id(session, row, sender)
            e164 = phone.normalize(number, ctx.settings.default_region, field="number")
            removed = await suppressions.lift(session, row, e164, sender_id)
            if not removed:
                raise NotFound(f"{e164} is not suppressed on {row.name!r}")
            return {"phone": e164, "removed": removed}

    emit(run(action), as_json)


@suppressions_app.command("list")
def list_suppressions(
    provider: str | None = typer.Option(None, help="Provider name or ID."),
    sender: str | None = typer.Option(None, help="Sender name or ID."),
    number: str | None = typer.Option(None, "--phone", help="Only this number."),
    before_id: int | None = id_option("Page on from this suppression ID (newest first)."),
    limit: int = typer.Option(50, min=1, max=1000),
    as_json: bool = JsonOption,
) -> None:
    """Suppressed numbers, newest first, with their source."""

    async def action(ctx: Context) -> list[dict[str, Any]]:
        async with ctx.session() as session:
            row = await get_provider(session, provider) if provider is not None else None
            where = suppressions.ListFilter(
                provider_id=row.id if row is not None else None,
                sender_id=await _sender_id(session, row, sender),
                phone=phone.normalize(number, ctx.settings.default_region, field="phone")
                if number is not None
                else None,
            )
            found = await suppressions.find(session, where, before_id=before_id, limit=limit)
            return [suppression_view(r) for r in found]

    emit(run(action), as_json, table=_suppressions_table)


@keywords_app.command("list")
def list_keywords(as_json: bool = JsonOption) -> None:
    async def action(ctx: Context) -> list[dict[str, Any]]:
        async with ctx.session() as session:
            return [rule_view(r) for r in await keywords.list_rules(session)]

    def table(rows: list[dict[str, Any]]) -> Table:
        return make_table(
            "Keyword rules",
            ["id", "keyword", "provider", "sender", "action", "reply"],
            [
                (r["id"], r["keyword"], r["provider_id"], r["sender_id"], r["action"], r["reply"])
                for r in rows
            ],
        )

    emit(run(action), as_json, table=table)


# What a keyword rule is made of, the same for `add` and `update`.
RuleProvider = typer.Option(..., help="Provider name or ID.")
RuleReply = typer.Option(None, help="The auto-reply (or opt-out confirmation).")
RuleAction = typer.Option("reply", "--action", help="reply, opt_out or opt_in")
RuleSender = typer.Option(None, help="Only for this sender (name or ID).")


@keywords_app.command("add")
def add_keyword(
    keyword: str,
    provider: str = RuleProvider,
    reply: str | None = RuleReply,
    action_name: str = RuleAction,
    sender: str | None = RuleSender,
    as_json: bool = JsonOption,
) -> None:
    async def action(ctx: Context) -> dict[str, Any]:
        rule_in = keywords.KeywordRuleIn(
            keyword=keyword, provider=provider, sender=sender, action=action_name, reply=reply
        )
        async with ctx.session() as session:
            return rule_view(await keywords.create(session, rule_in))

    emit(run(action), as_json)


@keywords_app.command("update")
def update_keyword(
    rule_id: int = IdArgument,
    keyword: str = typer.Argument(..., help="The keyword, as the rule should now read."),
    provider: str = RuleProvider,
    reply: str | None = RuleReply,
    action_name: str = RuleAction,
    sender: str | None = RuleSender,
    as_json: bool = JsonOption,
) -> None:
    """Replace a rule's keyword, scope, action and reply (checked as `add` checks)."""

    async def action(ctx: Context) -> dict[str, Any]:
        rule_in = keywords.KeywordRuleIn(
            keyword=keyword, provider=provider, sender=sender, action=action_name, reply=reply
        )
        async with ctx.session() as session:
            return rule_view(await keywords.update(session, rule_id, rule_in))

    emit(run(action), as_json)


@keywords_app.command("remove")
def remove_keyword(rule_id: int = IdArgument, as_json: bool = JsonOption) -> None:
    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            await keywords.delete(session, rule_id)
        return {"deleted": rule_id}

    emit(run(action), as_json)


@webhooks_app.command("add")
def add_webhook(
    url: str,
    type_: list[str] = typer.Option([], "--type", help="Only these event types."),
    description: str | None = typer.Option(None),
    as_json: bool = JsonOption,
) -> None:
    """Register an endpoint; its signing secret is printed this once."""

    async def action(ctx: Context) -> dict[str, Any]:
        data = endpoints.EndpointIn.model_validate(
            {"url": url, "event_types": type_, "description": description}
        )
        async with ctx.session() as session:
            endpoint, secret = await endpoints.create(ctx, session, data)
            return {**endpoints.endpoint_view(endpoint), "secret": secret}

    emit(run(action), as_json)


@webhooks_app.command("list")
def list_webhooks(as_json: bool = JsonOption) -> None:
    async def action(ctx: Context) -> list[dict[str, Any]]:
        async with ctx.session() as session:
            return [endpoints.endpoint_view(e) for e in await endpoints.list_all(session)]

    emit(run(action), as_json)


@webhooks_app.command("remove")
def remove_webhook(endpoint_id: int = IdArgument, as_json: bool = JsonOption) -> None:
    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            await endpoints.delete(session, endpoint_id)
        return {"deleted": endpoint_id}

    emit(run(action), as_json)


@webhooks_app.command("deliveries")
def deliveries(
    endpoint_id: int = IdArgument,
    status: str | None = typer.Option(None, help="pending, delivered or failed"),
    limit: int = typer.Option(50, min=1, max=500),
    as_json: bool = JsonOption,
) -> None:
    """The delivery log of an endpoint, newest first (each delivery's latest
    attempt; `webhooks delivery` shows one delivery's every attempt)."""

    async def action(ctx: Context) -> list[dict[str, Any]]:
        if status not in (None, "pending", "delivered", "failed"):
            raise ValidationFailed("--status", "must be pending, delivered or failed")
        async with ctx.session() as session:
            rows = await endpoints.deliveries(
                session, endpoint_id, status=status, before_id=None, limit=limit
            )
            return [endpoints.delivery_view(d) for d in rows]

    def table(rows: list[dict[str, Any]]) -> Table:
        return make_table(
            f"Deliveries to endpoint {endpoint_id}",
            ["id", "event", "status", "attempts", "last attempt", "http", "error", "next"],
            [
                (
                    d["id"],
                    d["event_id"],
                    d["status"],
                    d["attempts"],
                    d["last_attempt_at"],
                    d["last_response_status"],
                    d["last_error"],
                    d["next_attempt_at"],
                )
                for d in rows
            ],
        )

    emit(run(action), as_json, table=table)


@webhooks_app.command("redeliver")
def redeliver(
    endpoint_id: int = IdArgument, delivery_id: int = IdArgument, as_json: bool = JsonOption
) -> None:
    """Send one delivery again now (one more attempt; the event ID stays the same)."""

    async def action(ctx: Context) -> dict[str, object]:
        async with ctx.session() as session:
            return endpoints.delivery_view(
                await endpoints.redeliver(session, endpoint_id, delivery_id)
            )

    emit(run(action), as_json)


@webhooks_app.command("delivery")
def delivery(
    endpoint_id: int = IdArgument, delivery_id: int = IdArgument, as_json: bool = JsonOption
) -> None:
    """One delivery's history: every answered attempt, oldest first."""

    async def action(ctx: Context) -> dict[str, object]:
        async with ctx.session() as session:
            found, history = await endpoints.delivery_with_history(
                session, endpoint_id, delivery_id
            )
            return endpoints.delivery_detail_view(found, history)

    def table(view: dict[str, Any]) -> Table:
        return make_table(
            f"Delivery {delivery_id} of event {view['event_id']}: {view['status']}, "
            f"{view['attempts']} attempt(s)",
            ["attempt", "started", "ms", "http", "error"],
            [
                (a["attempt"], a["started_at"], a["latency_ms"], a["response_status"], a["error"])
                for a in view["history"]
            ],
        )

    emit(run(action), as_json, table=table)


def stats_command(
    campaign: str | None = typer.Option(None),
    automation: str | None = typer.Option(None),
    provider: str | None = typer.Option(None, help="Provider name or ID."),
    sender: str | None = typer.Option(None, help="Sender name or ID."),
    since: str | None = SinceOption,
    until: str | None = UntilOption,
    as_json: bool = JsonOption,
) -> None:
    """Messages by status, delivery rate, errors by code, replies and opt-outs."""

    async def action(ctx: Context) -> dict[str, Any]:
        window = (zoned_time(since, "--since"), zoned_time(until, "--until"))
        async with ctx.session() as session:
            provider_id = (await get_provider(session, provider)).id if provider else None
            scope = stats.Scope(
                since=window[0],
                until=window[1],
                sender_id=(await get_sender(session, sender)).id if sender else None,
                provider_id=provider_id,
                campaign=campaign,
                automation=automation,
            )
            return await stats.summary(session, scope)

    def table(numbers: dict[str, Any]) -> Table:
        rate = numbers["delivery_rate"]
        rows: list[tuple[Any, ...]] = [
            (key, numbers[key])
            for key in ("messages", "segments", "sent", "delivered", "failed", "pending")
        ]
        rows.append(("delivery rate", f"{rate:.1%}" if rate is not None else "-"))
        rows.extend((("replies", numbers["replies"]), ("opt-outs", numbers["opt_outs"])))
        rows.append(("unregistered 10DLC", numbers["unregistered_10dlc"]))
        rows.extend(
            (f"error {e['error_code']}", f"{e['count']}  {e['description'] or ''}")
            for e in numbers["errors"]
        )
        return make_table("Statistics", ["", "value"], rows)

    emit(run(action), as_json, table=table)
