"""The documented shape of a message in API answers (the OpenAPI schema of
:func:`textcast.views.messages.message_view` and friends)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MessageEventOut(BaseModel):
    id: int
    type: str = Field(description="message.<status>, message.requeued, ...")
    status: str | None
    source: str = Field(description="what recorded it: api, the dispatcher, a callback, ...")
    error_code: str | None
    detail: str | None
    at: str = Field(description="ISO 8601, UTC")


class MessageOut(BaseModel):
    id: int
    status: str
    to: str = Field(description="E.164")
    body: str
    media_urls: list[str]
    template_id: str | None = Field(
        description="the template ID given with the message (required by senders "
        "marked template_id_required)"
    )
    content_variables: dict[str, str] | None = Field(
        description="the variables sent with a Twilio Content template (template_id HX…)"
    )
    template_version_id: int | None = Field(
        description="the saved template version its text was rendered from, if any"
    )
    sender_id: int
    provider_id: int
    provider_message_id: str | None = Field(description="e.g. Twilio's SM… SID")
    segments: int
    encoding: str = Field(description="GSM-7 or UCS-2")
    error_code: str | None
    error_description: str | None
    attempts: int
    possible_duplicate: bool
    is_test: bool
    campaign: str | None
    automation: str | None
    created_at: str = Field(description="when it was queued (ISO 8601, UTC)")
    sent_at: str | None = Field(description="when the provider accepted it")
    final_at: str | None = Field(description="when Textcast learned its final status")
    delivered_at: str | None = Field(
        description="when the carrier finished with it (delivered, or gave up), never "
        "earlier than sent_at: carrier_done_at, raised to sent_at when the carrier's "
        "minute-resolution time reads earlier"
    )
    carrier_done_at: str | None = Field(
        description="the carrier's own time, exactly as reported (Twilio's RawDlrDoneDate "
        "has minute resolution, so it can read before sent_at)"
    )


class MessageDetailOut(MessageOut):
    history: list[MessageEventOut] = Field(description="every event, oldest first")


class TestOutcomeOut(MessageDetailOut):
    final: bool = Field(description="whether the status is final (else the wait ran out)")
    hint: str | None = Field(None, description="what to do about the error, when known")


class MessagePageOut(BaseModel):
    messages: list[MessageOut] = Field(description="newest first")
    next_before_id: int | None = Field(description="pass as before_id to read on")
