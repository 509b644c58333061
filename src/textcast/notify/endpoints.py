"""Registering the URLs that receive events (the service behind the API)."""

from __future__ import annotations

import secrets as pysecrets
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, HttpUrl
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.context import Context
from textcast.db.models import (
    MessageEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from textcast.errors import NotFound, ValidationFailed
from textcast.netguard import TargetRefused
from textcast.notify.deliverer import PENDING
from textcast.services.events import TYPES


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl
    description: str | None = Field(None, max_length=200)
    event_types: list[str] = Field(default_factory=list, description="empty: every event type")
    active: bool = True


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl | None = None
    description: str | None = Field(None, max_length=200)
    event_types: list[str] | None = None
    active: bool | None = None


def _check_types(types: list[str]) -> list[str]:
    unknown = sorted(set(types) - set(TYPES))
    if unknown:
        raise ValidationFailed("event_types", f"unknown event types: {', '.join(unknown)}")
    return sorted(set(types))


async def _check_url(ctx: Context, url: str) -> str:
    try:
        await ctx.guard.check(url, unresolvable_ok=True)
    except TargetRefused as exc:
        raise ValidationFailed("url", str(exc)) from None
    return url


async def create(
    ctx: Context, session: AsyncSession, data: EndpointIn
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its signing secret (shown this one time).

    It receives events recorded from now on, not the history before it.
    """
    secret = "whsec_" + pysecrets.token_urlsafe(32)
    newest = await session.scalar(select(func.max(MessageEvent.id)))
    endpoint = WebhookEndpoint(
        url=await _check_url(ctx, str(data.url)),
        description=data.description,
        secret_encrypted=ctx.box.encrypt(secret),
        event_types=_check_types(data.event_types),
        active=data.active,
        last_event_id=int(newest or 0),
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def get(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    return endpoint


async def update(
    ctx: Context, session: AsyncSession, endpoint_id: int, changes: EndpointUpdate
) -> WebhookEndpoint:
    endpoint = await get(session, endpoint_id)
    if changes.url is not None:
        endpoint.url = await _check_url(ctx, str(changes.url))
    if changes.description is not None:
        endpoint.description = changes.description
    if changes.event_types is not None:
        endpoint.event_types = _check_types(changes.event_types)
    if changes.active is not None:
        endpoint.active = changes.active
    return endpoint


async def list_all(session: AsyncSession) -> list[WebhookEndpoint]:
    return list(await session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


async def deliveries(
    session: AsyncSession,
    endpoint_id: int,
    *,
    status: str | None,
    before_id: int | None,
    limit: int,
) -> list[WebhookDelivery]:
    await get(session, endpoint_id)
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    return list(await session.scalars(query))


async def delivery_with_history(
    session: AsyncSession, endpoint_id: int, delivery_id: int
) -> tuple[WebhookDelivery, list[WebhookAttempt]]:
    """One delivery of ``endpoint_id`` and its answered attempts, oldest first."""
    await get(session, endpoint_id)
    delivery = await session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint_id:
        raise NotFound(f"no delivery {delivery_id} to webhook endpoint {endpoint_id}")
    history = await session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery_id)
        .order_by(WebhookAttempt.attempt, WebhookAttempt.id)
    )
    return delivery, list(history)


async def redeliver(session: AsyncSession, endpoint_id: int, delivery_id: int) -> WebhookDelivery:
    """Send one delivery again now, whatever became of it: it is due at once
    and gets one more attempt (counted on from the earlier ones, so a failed
    one that fails again is failed again). Receivers deduplicate by event ID."""
    delivery, _ = await delivery_with_history(session, endpoint_id, delivery_id)
    delivery.status = PENDING
    delivery.next_attempt_at = utcnow()
    return delivery


def endpoint_view(endpoint: WebhookEndpoint) -> dict[str, object]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "active": endpoint.active,
        "secret": "whsec_****",
        "created_at": endpoint.created_at.isoformat(),
    }


def delivery_view(delivery: WebhookDelivery) -> dict[str, object]:
    """One event's delivery to one endpoint: its status, how many attempts it
    took, and the latest attempt (when, the HTTP status, the error).

    While an attempt is under way its status and error are null. Every
    answered attempt is in :func:`attempt_view` rows (the delivery's detail).
    ``response_status`` and ``error`` repeat the ``last_*`` fields for older clients.
    """
    return {
        "id": delivery.id,
        "endpoint_id": delivery.endpoint_id,
        "event_id": delivery.event_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_attempt_at": _iso(delivery.last_attempt_at),
        "last_response_status": delivery.response_status,
        "last_error": delivery.error,
        "next_attempt_at": _iso(delivery.next_attempt_at) if delivery.status == "pending" else None,
        "delivered_at": _iso(delivery.delivered_at),
        "created_at": delivery.created_at.isoformat(),
        "response_status": delivery.response_status,
        "error": delivery.error,
    }


def delivery_detail_view(
    delivery: WebhookDelivery, history: list[WebhookAttempt]
) -> dict[str, object]:
    """:func:`delivery_view` with the delivery's ``history``, oldest attempt first."""
    return {**delivery_view(delivery), "history": [attempt_view(a) for a in history]}


def attempt_view(attempt: WebhookAttempt) -> dict[str, object]:
    """One POST and its answer: ``response_status`` null when none came (see
    ``error``), ``latency_ms`` null when no request was made (a refused URL,
    a deleted event)."""
    return {
        "attempt": attempt.attempt,
        "started_at": attempt.started_at.isoformat(),
        "latency_ms": attempt.latency_ms,
        "response_status": attempt.response_status,
        "error": attempt.error,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def delete(session: AsyncSession, endpoint_id: int) -> None:
    await session.delete(await get(session, endpoint_id))
