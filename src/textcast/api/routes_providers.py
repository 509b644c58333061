"""/api/v1/providers and /api/v1/senders."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status

from textcast.db.models import Sender
from textcast.providers.generic.presets import list_presets
from textcast.services import provider_health, provider_stats
from textcast.services import providers as provider_service
from textcast.services import senders as sender_service
from textcast.views.provider_schema import PROVIDER_EXAMPLES, provider_create_models
from textcast.views.providers import provider_view, sender_view
from textcast.views.redaction import provider_for
from textcast.web.deps import ActorDep, CtxDep, SessionDep
from textcast.web.openapi_bodies import documented_body

router = APIRouter(prefix="/api/v1", tags=["providers"])

# Documented as a JSON object; _object() refuses anything else with the field named.
OBJECT: dict[str, Any] = {"type": "object"}
CREATE_BODY = documented_body("ProviderCreate", provider_create_models(), PROVIDER_EXAMPLES)


async def _sender_view(ctx: CtxDep, session: SessionDep, sender: Sender) -> dict[str, Any]:
    return sender_view(ctx, sender, await sender_service.provider_of(session, sender))


def _object(payload: Any) -> dict[str, Any]:
    from textcast.errors import ValidationFailed

    if not isinstance(payload, dict):
        raise ValidationFailed("body", "expected a JSON object")
    return payload


@router.get("/providers")
async def list_providers(ctx: CtxDep, session: SessionDep, actor: ActorDep) -> list[dict[str, Any]]:
    rows = await provider_service.list_providers(session)
    return [provider_for(actor, provider_view(ctx, row)) for row in rows]


@router.get("/providers/presets")
async def presets() -> list[dict[str, Any]]:
    """Generic HTTP presets and the fields each needs."""
    return list_presets()


@router.post("/providers", status_code=status.HTTP_201_CREATED, openapi_extra=CREATE_BODY)
async def create_provider(
    ctx: CtxDep, session: SessionDep, payload: Any = Body(...)
) -> dict[str, Any]:
    """A Twilio account, a generic HTTP API defined field by field, or a generic
    preset (MSG91, Textlocal, Plivo, BulkSMS, Exotel, Nimbus) with its credentials.
    Nothing is sent to the provider unless ``verify`` is true."""
    row = await provider_service.create_provider(ctx, session, _object(payload))
    return provider_view(ctx, row)


@router.get("/providers/{ref}")
async def show_provider(
    ref: str, ctx: CtxDep, session: SessionDep, actor: ActorDep
) -> dict[str, Any]:
    row = await provider_service.get_provider(session, ref)
    return provider_for(actor, provider_view(ctx, row))


@router.patch("/providers/{ref}")
async def update_provider(
    ref: str, ctx: CtxDep, session: SessionDep, payload: Any = Body(..., json_schema_extra=OBJECT)
) -> dict[str, Any]:
    row = await provider_service.update_provider(ctx, session, ref, _object(payload))
    await session.flush()
    return provider_view(ctx, await provider_service.get_provider(session, row.id))


@router.put("/providers/{ref}/credentials")
async def reauthenticate(
    ref: str, ctx: CtxDep, session: SessionDep, payload: Any = Body(..., json_schema_extra=OBJECT)
) -> dict[str, Any]:
    """Replace the credentials; they are verified with the provider before saving."""
    row = await provider_service.reauthenticate(ctx, session, ref, _object(payload))
    return provider_view(ctx, row)


@router.delete("/providers/{ref}")
async def delete_provider(ref: str, session: SessionDep) -> dict[str, Any]:
    row = await provider_service.delete_provider(session, ref)
    return {"deleted": True, "id": row.id}


@router.get("/providers/{ref}/balance")
async def balance(ref: str, ctx: CtxDep, session: SessionDep) -> dict[str, str]:
    result = await provider_service.check_balance(ctx, session, ref)
    return {"balance": result.amount, "currency": result.currency}


@router.get("/providers/{ref}/stats")
async def statistics(
    ref: str,
    session: SessionDep,
    since: Annotated[
        datetime | None, Query(description="messages created from (ISO 8601, zoned)")
    ] = None,
    until: Annotated[datetime | None, Query(description="... and before")] = None,
    sender: Annotated[str | None, Query(description="one of its senders, name or ID")] = None,
) -> dict[str, Any]:
    """Sent, delivered, undelivered, failed, delivery rate, median and p95
    time to delivery, errors by code; in all, per sender and per country."""
    return await provider_stats.for_provider(session, ref, since=since, until=until, sender=sender)


@router.get("/providers/{ref}/health")
async def health(ref: str, session: SessionDep) -> dict[str, Any]:
    """Its last 15 minutes of sending: healthy, degraded (429s, many failures,
    messages waiting, sends without status callbacks), failing (no send went
    through) or idle, with the reasons and the numbers behind them."""
    row = await provider_service.get_provider(session, ref)
    return await provider_health.health(session, row)


@router.get("/providers/{ref}/senders")
async def list_senders(ref: str, ctx: CtxDep, session: SessionDep) -> list[dict[str, Any]]:
    row = await provider_service.get_provider(session, ref)
    return [sender_view(ctx, s, row) for s in row.senders if s.deleted_at is None]


@router.post("/providers/{ref}/senders", status_code=status.HTTP_201_CREATED)
async def add_sender(
    ref: str, ctx: CtxDep, session: SessionDep, payload: Any = Body(...)
) -> dict[str, Any]:
    row = await provider_service.get_provider(session, ref)
    sender = await sender_service.add_sender(
        session, row, sender_service.parse_sender(_object(payload))
    )
    return sender_view(ctx, sender, row)


@router.post("/providers/{ref}/default")
async def make_default_provider(
    ref: str,
    ctx: CtxDep,
    session: SessionDep,
    sender: Annotated[
        str | None, Query(description="one of its senders to make its default first")
    ] = None,
) -> dict[str, Any]:
    """Make the provider the installation's default: messages that name no
    sender go from its default sender."""
    row = await provider_service.make_default(session, ref, sender)
    await session.flush()
    return provider_view(ctx, await provider_service.get_provider(session, row.id))


@router.get("/senders/{ref}")
async def show_sender(ref: str, ctx: CtxDep, session: SessionDep) -> dict[str, Any]:
    return await _sender_view(ctx, session, await sender_service.get_sender(session, ref))


@router.patch("/senders/{ref}")
async def update_sender(
    ref: str, ctx: CtxDep, session: SessionDep, changes: sender_service.SenderUpdate
) -> dict[str, Any]:
    sender = await sender_service.update_sender(session, ref, changes)
    return await _sender_view(ctx, session, sender)


@router.post("/senders/{ref}/default")
async def set_default(
    ref: str,
    ctx: CtxDep,
    session: SessionDep,
    installation: Annotated[
        bool,
        Query(description="also make its provider the installation's default provider"),
    ] = False,
) -> dict[str, Any]:
    """Make the sender its provider's default (``is_default``); with
    ``installation=true`` also the installation's (``is_installation_default``),
    which sends every message that names no sender."""
    sender = await sender_service.set_default(session, ref, installation=installation)
    return await _sender_view(ctx, session, sender)


@router.delete("/senders/{ref}")
async def delete_sender(ref: str, session: SessionDep) -> dict[str, Any]:
    sender = await sender_service.delete_sender(session, ref)
    return {"deleted": True, "id": sender.id}


@router.post("/providers/{ref}/relay-secret")
async def rotate_relay_secret(ref: str, ctx: CtxDep, session: SessionDep) -> dict[str, str]:
    """A new secret for relays signed with X-Textcast-Signature (shown this once)."""
    secret = await provider_service.rotate_relay_secret(ctx, session, ref)
    return {"relay_secret": secret, "header": "X-Textcast-Signature"}
