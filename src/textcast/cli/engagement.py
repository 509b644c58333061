"""`textcast events`, `stats`, `suppressions`, `keywords` and `webhooks`."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from textcast import phone
from textcast.audience import contacts, keywords, suppressions
from textcast.cli.common import IdArgument, JsonOption, emit, id_option, make_table, run
from textcast.context import Context
from textcast.db.models import MAX_ID
from textcast.errors import NotFound, ValidationFailed
from textcast.notify import endpoints
from textcast.services import events, stats
from textcast.services.providers import get_provider
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
        where = events.EventFilter(types=tuple(type_), message_id=message, campaign=campaign)
        async with ctx.session() as session:
            return await events.find(session, where, after_id=after_id, limit=limit)

    emit(run(action), as_json, table=_events_table)


@suppressions_app.command("add")
def add_suppression(
    provider: str,
    number: str,
    sender: int | None = id_option("Only for this sender ID."),
    reason: str = typer.Option("added by an operator"),
) -> None:
    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            row = await get_provider(session, provider)
            e164 = phone.normalize(number, ctx.settings.default_region, field="number")
            added = await suppressions.add(session, row.id, e164, reason, sender_id=sender)
            contact = await contacts.ensure(session, e164)
            contacts.set_tags(contact, add=[contacts.OPTED_OUT_TAG])
            return {"phone": e164, "added": added}

    emit(run(action), True)


@suppressions_app.command("remove")
def remove_suppression(
    provider: str,
    number: str,
    sender: int | None = id_option("Only the opt-out for this sender ID."),
) -> None:
    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            row = await get_provider(session, provider)
            e164 = phone.normalize(number, ctx.settings.default_region, field="number")
            removed = await suppressions.remove(session, row.id, e164, sender)
            if not removed:
                raise NotFound(f"{e164} is not suppressed on {row.name!r}")
            if not await suppressions.any_for(session, e164):
                contact = await contacts.ensure(session, e164)
                contacts.set_tags(contact, remove=[contacts.OPTED_OUT_TAG])
            return {"phone": e164, "removed": removed}

    emit(run(action), True)


@suppressions_app.command("list")
def list_suppressions(number: str, as_json: bool = JsonOption) -> None:
    """Where a number is suppressed."""

    async def action(ctx: Context) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from textcast.db.models import Suppression

        e164 = phone.normalize(number, ctx.settings.default_region, field="number")
        async with ctx.session() as session:
            rows = await session.scalars(select(Suppression).where(Suppression.phone == e164))
            return [suppression_view(r) for r in rows]

    emit(run(action), as_json)


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


@keywords_app.command("add")
def add_keyword(
    keyword: str,
    provider: str = typer.Option(..., help="Provider name or ID."),
    reply: str | None = typer.Option(None, help="The auto-reply (or opt-out confirmation)."),
    action_name: str = typer.Option("reply", "--action", help="reply, opt_out or opt_in"),
    sender: str | None = typer.Option(None, help="Only for this sender."),
) -> None:
    async def action(ctx: Context) -> dict[str, Any]:
        rule_in = keywords.KeywordRuleIn(
            keyword=keyword, provider=provider, sender=sender, action=action_name, reply=reply
        )
        async with ctx.session() as session:
            return rule_view(await keywords.create(session, rule_in))

    emit(run(action), True)


@keywords_app.command("remove")
def remove_keyword(rule_id: int = IdArgument) -> None:
    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            await keywords.delete(session, rule_id)
        return {"deleted": rule_id}

    emit(run(action), True)


@webhooks_app.command("add")
def add_webhook(
    url: str,
    type_: list[str] = typer.Option([], "--type", help="Only these event types."),
    description: str | None = typer.Option(None),
) -> None:
    """Register an endpoint; its signing secret is printed this once."""

    async def action(ctx: Context) -> dict[str, Any]:
        data = endpoints.EndpointIn.model_validate(
            {"url": url, "event_types": type_, "description": description}
        )
        async with ctx.session() as session:
            endpoint, secret = await endpoints.create(ctx, session, data)
            return {**endpoints.endpoint_view(endpoint), "secret": secret}

    emit(run(action), True)


@webhooks_app.command("list")
def list_webhooks(as_json: bool = JsonOption) -> None:
    async def action(ctx: Context) -> list[dict[str, Any]]:
        async with ctx.session() as session:
            return [endpoints.endpoint_view(e) for e in await endpoints.list_all(session)]

    emit(run(action), as_json)


@webhooks_app.command("remove")
def remove_webhook(endpoint_id: int = IdArgument) -> None:
    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            await endpoints.delete(session, endpoint_id)
        return {"deleted": endpoint_id}

    emit(run(action), True)


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
    as_json: bool = JsonOption,
) -> None:
    """Messages by status, delivery rate, errors by code, replies and opt-outs."""

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            provider_id = (await get_provider(session, provider)).id if provider else None
            scope = stats.Scope(provider_id=provider_id, campaign=campaign, automation=automation)
            return await stats.summary(session, scope)

    def table(numbers: dict[str, Any]) -> Table:
        rate = numbers["delivery_rate"]
        rows: list[tuple[Any, ...]] = [
            (key, numbers[key])
            for key in ("messages", "segments", "sent", "delivered", "failed", "pending")
        ]
        rows.append(("delivery rate", f"{rate:.1%}" if rate is not None else "-"))
        rows.extend((("replies", numbers["replies"]), ("opt-outs", numbers["opt_outs"])))
        rows.extend(
            (f"error {e['error_code']}", f"{e['count']}  {e['description'] or ''}")
            for e in numbers["errors"]
        )
        return make_table("Statistics", ["", "value"], rows)

    emit(run(action), as_json, table=table)
