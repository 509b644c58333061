"""/api/v1/suppressions and /api/v1/keywords."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from textcast import phone
from textcast.audience import keywords, suppressions
from textcast.db.models import Provider as ProviderRow
from textcast.db.refs import by_ref
from textcast.errors import NotFound, ValidationFailed
from textcast.services import senders as sender_service
from textcast.views.audience import rule_view, suppression_view
from textcast.web.deps import CtxDep, IdPath, IdQuery, SessionDep

router = APIRouter(prefix="/api/v1", tags=["audience"])


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str | int
    phone: str = Field(min_length=1, max_length=40)
    sender: str | int | None = None
    reason: str = Field("added by an operator", max_length=200)


async def _provider(session: SessionDep, ref: str | int) -> ProviderRow:
    row = await session.scalar(
        select(ProviderRow).where(by_ref(ProviderRow, ref), ProviderRow.deleted_at.is_(None))
    )
    if row is None:
        raise ValidationFailed("provider", f"no provider {ref!r}")
    return row


async def _sender_id(
    session: SessionDep, provider: ProviderRow, ref: str | int | None
) -> int | None:
    if ref is None:
        return None
    sender = await sender_service.find_sender(session, str(ref), missing_ok=True)
    if sender is None or sender.provider_id != provider.id:
        raise ValidationFailed("sender", f"no sender {ref!r} on {provider.name!r}")
    return sender.id


async def _any_sender_id(
    session: SessionDep, provider: ProviderRow | None, ref: str | None
) -> int | None:
    """A sender filter: of ``provider`` when one is given, of any provider otherwise."""
    if ref is None:
        return None
    if provider is not None:
        return await _sender_id(session, provider, ref)
    sender = await sender_service.find_sender(session, ref, missing_ok=True)
    if sender is None:
        raise ValidationFailed("sender", f"no sender {ref!r}")
    return sender.id


@router.get("/suppressions")
async def list_suppressions(
    ctx: CtxDep,
    session: SessionDep,
    provider: Annotated[str | None, Query(description="provider name or ID")] = None,
    sender: Annotated[str | None, Query(description="sender name or ID")] = None,
    phone_number: Annotated[
        str | None, Query(alias="phone", min_length=1, max_length=40, description="one number")
    ] = None,
    before_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Suppressions newest first, each with its source; pass the answer's
    ``next_before_id`` to read on."""
    row = await _provider(session, provider) if provider is not None else None
    where = suppressions.ListFilter(
        provider_id=row.id if row is not None else None,
        sender_id=await _any_sender_id(session, row, sender),
        phone=phone.normalize(phone_number, ctx.settings.default_region, field="phone")
        if phone_number is not None
        else None,
    )
    rows = await suppressions.find(session, where, before_id=before_id, limit=limit)
    return {
        "suppressions": [suppression_view(r) for r in rows],
        "next_before_id": rows[-1].id if len(rows) == limit else None,
    }


@router.post("/suppressions", status_code=status.HTTP_201_CREATED)
async def add_suppression(data: SuppressionIn, ctx: CtxDep, session: SessionDep) -> dict[str, Any]:
    """Suppress a number on a provider account (or one of its senders); the
    contact gets the provider's opt-out tag. Recorded with source operator/api."""
    provider = await _provider(session, data.provider)
    sender_id = await _sender_id(session, provider, data.sender)
    number = phone.normalize(data.phone, ctx.settings.default_region, field="phone")
    added = await suppressions.suppress(
        session,
        provider,
        number,
        data.reason,
        sender_id,
        source=suppressions.Source.operator("api"),
    )
    return {"phone": number, "provider_id": provider.id, "sender_id": sender_id, "added": added}


@router.delete("/suppressions")
async def remove_suppression(
    ctx: CtxDep,
    session: SessionDep,
    provider: str,
    phone_number: Annotated[str, Query(alias="phone", min_length=1, max_length=40)],
    sender: str | None = None,
) -> dict[str, Any]:
    """Lift the account-wide suppression (and the sender's, when given)."""
    row = await _provider(session, provider)
    sender_id = await _sender_id(session, row, sender)
    number = phone.normalize(phone_number, ctx.settings.default_region, field="phone")
    removed = await suppressions.lift(session, row, number, sender_id)
    if not removed:
        raise NotFound(f"{number} is not suppressed on {row.name!r}")
    return {"phone": number, "removed": removed}


@router.get("/keywords")
async def list_keywords(session: SessionDep, provider: str | None = None) -> list[dict[str, Any]]:
    provider_id = (await _provider(session, provider)).id if provider else None
    return [rule_view(r) for r in await keywords.list_rules(session, provider_id)]


@router.post("/keywords", status_code=status.HTTP_201_CREATED)
async def create_keyword(rule: keywords.KeywordRuleIn, session: SessionDep) -> dict[str, Any]:
    """An auto-reply (``action: reply``), or an extra opt-out/opt-in word."""
    return rule_view(await keywords.create(session, rule))


@router.put("/keywords/{rule_id}")
async def replace_keyword(
    rule_id: IdPath, rule: keywords.KeywordRuleIn, session: SessionDep
) -> dict[str, Any]:
    """Change a rule: its keyword, scope, action and reply, checked as a new rule is."""
    return rule_view(await keywords.update(session, rule_id, rule))


@router.delete("/keywords/{rule_id}")
async def delete_keyword(rule_id: IdPath, session: SessionDep) -> dict[str, Any]:
    await keywords.delete(session, rule_id)
    return {"deleted": rule_id}
