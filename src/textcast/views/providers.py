"""Providers and senders as API answers, the CLI's --json and the dashboard show them."""

from __future__ import annotations

from typing import Any

from textcast.callback_urls import inbound_url, receipt_url, status_callback_url
from textcast.config import Settings
from textcast.context import Context
from textcast.db.models import Provider as ProviderRow
from textcast.db.models import Sender
from textcast.services.providers import secret_view


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


def _callback_urls(ctx: Context, row: ProviderRow) -> dict[str, str]:
    if row.type == "twilio":
        return {
            "status_callback_url": status_callback_url(ctx.settings, row.id),
            "inbound_url": inbound_url(ctx.settings, row.id),
        }
    # Generic providers call this one URL with delivery receipts; its path holds a secret.
    secret = str(ctx.box.decrypt(row.webhook_secret_encrypted))
    return {"receipt_url": receipt_url(ctx.settings, row.id, secret)}
