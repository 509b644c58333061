"""/api/v1/events (the event log), /api/v1/stats (the numbers) and
/api/v1/webhooks (endpoints receiving events)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from sqlalchemy import select

from textcast.audience import contacts
from textcast.db.models import Provider as ProviderRow
from textcast.db.refs import by_ref
from textcast.errors import ValidationFailed
from textcast.notify import endpoints
from textcast.services import events, stats
from textcast.services import senders as sender_service
from textcast.web.deps import CtxDep, CursorQuery, IdPath, IdQuery, SessionDep

router = APIRouter(prefix="/api/v1", tags=["events"])


@router.get("/events")
async def list_events(
    ctx: CtxDep,
    session: SessionDep,
    type: Annotated[
        str | None, Query(description="comma-separated event types, e.g. message.delivered")
    ] = None,
    message_id: IdQuery = None,
    contact: Annotated[str | None, Query(description="contact ID or phone number")] = None,
    sender: Annotated[str | None, Query(description="sender name or ID")] = None,
    provider: Annotated[str | None, Query(description="provider name or ID")] = None,
    campaign: Annotated[str | None, Query(max_length=100)] = None,
    automation: Annotated[str | None, Query(max_length=100)] = None,
    error_code: Annotated[str | None, Query(max_length=32)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_id: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Events oldest first; pass the answer's ``next_after_id`` to read on."""
    types = tuple(t.strip() for t in (type or "").split(",") if t.strip())
    unknown = sorted(set(types) - set(events.TYPES))
    if unknown:
        raise ValidationFailed("type", f"unknown event types: {', '.join(unknown)}")
    where = events.EventFilter(
        types=types,
        message_id=message_id,
        contact_id=(await contacts.find(session, contact, ctx.settings.default_region)).id
        if contact
        else None,
        sender_id=(await sender_service.get_sender(session, sender)).id if sender else None,
        provider_id=await _provider_id(session, provider) if provider else None,
        campaign=campaign,
        automation=automation,
        error_code=error_code,
        since=stats.aware(since, "since"),
        until=stats.aware(until, "until"),
    )
    found = await events.find(session, where, after_id=after_id, limit=limit)
    return {
        "events": found,
        "next_after_id": found[-1]["id"] if len(found) == limit else None,
    }


@router.get("/events/types")
async def event_types() -> list[str]:
    return list(events.TYPES)


async def _provider_id(session: SessionDep, ref: str) -> int:
    found = await session.scalar(select(ProviderRow.id).where(by_ref(ProviderRow, ref)))
    if found is None:
        raise ValidationFailed("provider", f"no provider {ref!r}")
    return int(found)


@router.get("/webhooks")
async def list_endpoints(session: SessionDep) -> list[dict[str, Any]]:
    return [endpoints.endpoint_view(e) for e in await endpoints.list_all(session)]


@router.post("/webhooks", status_code=status.HTTP_201_CREATED)
async def create_endpoint(
    data: endpoints.EndpointIn, ctx: CtxDep, session: SessionDep
) -> dict[str, Any]:
    """Register a URL for events. The answer shows the signing secret this once."""
    endpoint, secret = await endpoints.create(ctx, session, data)
    return {**endpoints.endpoint_view(endpoint), "secret": secret}


@router.get("/webhooks/{endpoint_id}")
async def show_endpoint(endpoint_id: IdPath, session: SessionDep) -> dict[str, Any]:
    return endpoints.endpoint_view(await endpoints.get(session, endpoint_id))


@router.patch("/webhooks/{endpoint_id}")
async def update_endpoint(
    endpoint_id: IdPath, changes: endpoints.EndpointUpdate, ctx: CtxDep, session: SessionDep
) -> dict[str, Any]:
    return endpoints.endpoint_view(await endpoints.update(ctx, session, endpoint_id, changes))


@router.delete("/webhooks/{endpoint_id}")
async def delete_endpoint(endpoint_id: IdPath, session: SessionDep) -> dict[str, Any]:
    await endpoints.delete(session, endpoint_id)
    return {"deleted": endpoint_id}


@router.get("/webhooks/{endpoint_id}/deliveries")
async def list_deliveries(
    endpoint_id: IdPath,
    session: SessionDep,
    status_filter: Annotated[
        str | None,
        Query(alias="status", json_schema_extra={"enum": ["pending", "delivered", "failed"]}),
    ] = None,
    before_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """The delivery log, newest first."""
    if status_filter not in (None, "pending", "delivered", "failed"):
        raise ValidationFailed("status", "must be pending, delivered or failed")
    rows = await endpoints.deliveries(
        session, endpoint_id, status=status_filter, before_id=before_id, limit=limit
    )
    return {
        "deliveries": [endpoints.delivery_view(d) for d in rows],
        "next_before_id": rows[-1].id if len(rows) == limit else None,
    }


@router.get("/webhooks/{endpoint_id}/deliveries/{delivery_id}")
async def show_delivery(
    endpoint_id: IdPath, delivery_id: IdPath, session: SessionDep
) -> dict[str, Any]:
    """One delivery and its history: every answered attempt, oldest first."""
    delivery, history = await endpoints.delivery_with_history(session, endpoint_id, delivery_id)
    return endpoints.delivery_detail_view(delivery, history)


@router.get("/stats")
async def statistics(
    session: SessionDep,
    since: datetime | None = None,
    until: datetime | None = None,
    sender: Annotated[str | None, Query(description="sender name or ID")] = None,
    provider: Annotated[str | None, Query(description="provider name or ID")] = None,
    campaign: Annotated[str | None, Query(max_length=100)] = None,
    automation: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    """Messages by status, delivery rate, errors by code, replies and opt-outs."""
    scope = stats.Scope(
        since=stats.aware(since, "since"),
        until=stats.aware(until, "until"),
        sender_id=(await sender_service.get_sender(session, sender)).id if sender else None,
        provider_id=await _provider_id(session, provider) if provider else None,
        campaign=campaign,
        automation=automation,
    )
    return await stats.summary(session, scope)
