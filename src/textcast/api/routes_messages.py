"""/api/v1/messages, the test-SMS action and the segment preview."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from textcast import phone, sms_segments
from textcast.services import messages as message_service
from textcast.views.message_schema import (
    MessageDetailOut,
    MessageOut,
    MessagePageOut,
    TestOutcomeOut,
)
from textcast.views.messages import message_view, outcome_view
from textcast.web.deps import CtxDep, IdPath, IdQuery, SessionDep

router = APIRouter(prefix="/api/v1", tags=["messages"])


class TestSmsRequest(BaseModel):
    """Send Test SMS: country code plus mobile number, and the text."""

    model_config = ConfigDict(extra="forbid")

    country_code: str = Field(
        "", max_length=5, description="e.g. +1 or 44; empty if `number` has it"
    )
    number: str = Field(min_length=1, max_length=30)
    message: str = Field("This is a test message from Textcast.", max_length=1600)
    sender: str | None = None
    template_id: str | None = Field(
        None, max_length=100, description="needed when the sender requires a template ID"
    )
    wait: float = Field(15, ge=0, le=120, description="seconds to wait for a final status")


class PreviewRequest(BaseModel):
    body: str = Field(max_length=20000)


@router.post("/messages", status_code=status.HTTP_202_ACCEPTED, response_model=MessageOut)
async def send_message(
    request: message_service.SendRequest,
    ctx: CtxDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    async with ctx.write_session() as session:
        submitted = await message_service.submit(
            ctx.settings, session, request, idempotency_key=idempotency_key
        )
    if submitted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return message_view(submitted.message)


@router.get("/messages", response_model=MessagePageOut)
async def list_messages(
    session: SessionDep,
    status_filter: Annotated[str | None, Query(alias="status")] = None,
    to: str | None = None,
    before_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    rows = await message_service.list_messages(
        session, status_filter=status_filter, to=to, before_id=before_id, limit=limit
    )
    return {
        "messages": [message_view(m) for m in rows],
        "next_before_id": rows[-1].id if len(rows) == limit else None,
    }


@router.get("/messages/{message_id}", response_model=MessageDetailOut)
async def show_message(message_id: IdPath, session: SessionDep) -> dict[str, Any]:
    message = await message_service.get_message(session, message_id)
    return message_view(message, await message_service.history(session, message_id))


@router.post("/test-messages", status_code=status.HTTP_201_CREATED, response_model=TestOutcomeOut)
async def send_test(request: TestSmsRequest, ctx: CtxDep) -> dict[str, Any]:
    """Send one test SMS through the real sending path and wait for its outcome."""
    number = phone.with_country_code(request.country_code, request.number)
    send = message_service.SendRequest(
        to=number, body=request.message, sender=request.sender, template_id=request.template_id
    )
    async with ctx.write_session() as session:
        message_id = (
            await message_service.submit(ctx.settings, session, send, is_test=True)
        ).message.id
    return outcome_view(*await message_service.wait_until_final(ctx, message_id, request.wait))


@router.post("/segments")
async def preview_segments(request: PreviewRequest) -> dict[str, Any]:
    """How a body will be encoded and split, before sending it."""
    info = sms_segments.analyze(request.body)
    return {
        "encoding": info.encoding,
        "segments": info.segments,
        "characters": info.characters,
        "units": info.units,
        "per_segment": info.per_segment,
        "remaining": info.remaining,
    }


class BatchRequest(BaseModel):
    messages: list[Any] = Field(
        description="Up to 10,000 message objects, each as for POST /messages, "
        "with an optional idempotency_key"
    )


@router.post("/messages/batch", status_code=status.HTTP_202_ACCEPTED)
async def send_batch(request: BatchRequest, ctx: CtxDep) -> dict[str, Any]:
    """Queue many messages at once. Each row is validated on its own: good rows
    are queued, bad rows are reported by index with the field and the reason.
    A row may carry an ``idempotency_key`` (as POST /messages takes one in its
    header): a row whose key was already used for the same message answers that
    message (``"replayed": true``) instead of queueing it again, so a retried
    batch is safe; a key used for another message, or twice in one batch, is a
    bad row."""
    async with ctx.write_session() as session:
        result = await message_service.submit_batch(ctx.settings, session, request.messages)
    return {
        "accepted": len(result.accepted),
        "rejected": len(result.rejected),
        "messages": [
            {"index": index, "id": mid, **({"replayed": True} if index in result.replayed else {})}
            for index, mid in result.accepted
        ],
        "errors": result.rejected,
    }
