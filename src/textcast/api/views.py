"""How things look in API answers (and in the CLI's --json output)."""

from __future__ import annotations

from typing import Any

from textcast import error_codes
from textcast.config import Settings
from textcast.context import Context
from textcast.db.models import Message, MessageEvent, Sender
from textcast.db.models import Provider as ProviderRow
from textcast.services.providers import secret_view
from textcast.webhooks.urls import inbound_url, receipt_url, status_callback_url


def sender_view(settings: Settings, sender: Sender) -> dict[str, Any]:
    default_callback = status_callback_url(settings, sender.provider_id)
    return {
        "id": sender.id,
        "provider_id": sender.provider_id,
        "name": sender.name,
        "type": sender.type,
        "sender_id": sender.sender_id,
        "mms_capable": sender.mms_capable,
        "template_id_required": sender.template_id_required,
        "unsubscribe_text": sender.unsubscribe_text,
        "mps": sender.mps,
        "is_default": sender.is_default,
        "status_callback_url": sender.custom_callback_url or default_callback,
        "default_status_callback_url": default_callback,
        "custom_callback_url": sender.custom_callback_url,
        "inbound_url": inbound_url(settings, sender.provider_id, sender.id),
        "created_at": sender.created_at.isoformat(),
    }


def provider_view(ctx: Context, row: ProviderRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "type": row.type,
        "is_simulated": row.is_simulated,
        "config": row.config,
        "credentials": secret_view(ctx, row),
        "opt_out_scope": row.opt_out_scope,
        "relay_secret": "set" if row.relay_secret_encrypted else None,
        **_callback_urls(ctx, row),
        "senders": [sender_view(ctx.settings, s) for s in row.senders if s.deleted_at is None],
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def event_view(event: MessageEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "status": event.status,
        "source": event.source,
        "error_code": event.error_code,
        "detail": event.detail,
        "at": event.created_at.isoformat(),
    }


def message_view(message: Message, events: list[MessageEvent] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": message.id,
        "status": message.status,
        "to": message.to,
        "body": message.body,
        "media_urls": message.media_urls,
        "sender_id": message.sender_id,
        "provider_id": message.provider_id,
        "provider_message_id": message.provider_message_id,
        "segments": message.segments,
        "encoding": message.encoding,
        "error_code": message.error_code,
        "error_description": _describe(message),
        "attempts": message.attempts,
        "possible_duplicate": message.possible_duplicate,
        "is_test": message.is_test,
        "campaign": message.campaign,
        "automation": message.automation,
        "created_at": message.created_at.isoformat(),
        "sent_at": message.sent_at.isoformat() if message.sent_at else None,
        "final_at": message.final_at.isoformat() if message.final_at else None,
        "delivered_at": message.delivered_at.isoformat() if message.delivered_at else None,
    }
    if events is not None:
        view["history"] = [event_view(e) for e in events]
    return view


def _describe(message: Message) -> str | None:
    if message.error_code is None:
        return None
    # What the provider or dispatcher recorded, else the Twilio catalogue's words.
    return message.error_message or error_codes.describe(message.error_code)


def _callback_urls(ctx: Context, row: ProviderRow) -> dict[str, str]:
    if row.type == "twilio":
        return {
            "status_callback_url": status_callback_url(ctx.settings, row.id),
            "inbound_url": inbound_url(ctx.settings, row.id),
        }
    # Generic providers call this one URL with delivery receipts; its path holds a secret.
    secret = str(ctx.box.decrypt(row.webhook_secret_encrypted))
    return {"receipt_url": receipt_url(ctx.settings, row.id, secret)}
