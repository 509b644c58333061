"""Providers and senders as API answers, the CLI's --json and the dashboard show them."""

from __future__ import annotations

from typing import Any

from textcast.callback_urls import inbound_url, receipt_url, status_callback_url
from textcast.context import Context
from textcast.db.models import Provider as ProviderRow
from textcast.db.models import Sender
from textcast.services.providers import secret_view
from textcast.services.senders import is_us_long_code, sender_warnings


def sender_view(ctx: Context, sender: Sender, provider: ProviderRow) -> dict[str, Any]:
    """A sender with the URLs its provider calls back on: Twilio's status
    callback and inbound URLs, or a generic provider's receipt URL."""
    applies_10dlc = is_us_long_code(sender.type, sender.sender_id)
    registered_at = sender.a2p_10dlc_registered_at
    return {
        "id": sender.id,
        "provider_id": sender.provider_id,
        "name": sender.name,
        "type": sender.type,
        "sender_id": sender.sender_id,
        "mms_capable": sender.mms_capable,
        "template_id_required": sender.template_id_required,
        "unsubscribe_text": sender.unsubscribe_text,
        "keyword_responses": sender.keyword_responses,
        "mps": sender.mps,
        "is_default": sender.is_default,
        "is_installation_default": sender.is_default
        and provider.is_default
        and sender.deleted_at is None,
        "a2p_10dlc_registered": sender.a2p_10dlc_campaign_id is not None if applies_10dlc else None,
        "a2p_10dlc_campaign_id": sender.a2p_10dlc_campaign_id,
        "a2p_10dlc_registered_at": registered_at.isoformat() if registered_at else None,
        "warnings": sender_warnings(sender),
        **_sender_urls(ctx, sender, provider),
        "created_at": sender.created_at.isoformat(),
    }


def _sender_urls(ctx: Context, sender: Sender, provider: ProviderRow) -> dict[str, Any]:
    custom = sender.custom_callback_url
    if provider.type == "twilio":
        default_callback = status_callback_url(ctx.settings, provider.id)
        return {
            "status_callback_url": custom or default_callback,
            "default_status_callback_url": default_callback,
            "custom_callback_url": custom,
            "inbound_url": inbound_url(ctx.settings, provider.id, sender.id),
        }
    # A generic provider reports on this sender's messages at the receipt URL
    # (``$$ReceiptURL`` in its templates); it has no inbound URL.
    default_receipt = _receipt_url(ctx, provider)
    return {
        "receipt_url": custom or default_receipt,
        "default_receipt_url": default_receipt,
        "custom_callback_url": custom,
    }


def provider_view(ctx: Context, row: ProviderRow) -> dict[str, Any]:
    live = [s for s in row.senders if s.deleted_at is None]
    return {
        "id": row.id,
        "name": row.name,
        "type": row.type,
        "is_simulated": row.is_simulated,
        "is_default": row.is_default,
        "config": row.config,
        "credentials": secret_view(ctx, row),
        "opt_out_scope": row.opt_out_scope,
        "opt_out_tag": row.opt_out_tag,
        "relay_secret": "set" if row.relay_secret_encrypted else None,
        **_callback_urls(ctx, row),
        "default_sender": next((s.name for s in live if s.is_default), None),
        "senders": [sender_view(ctx, s, row) for s in live],
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def _callback_urls(ctx: Context, row: ProviderRow) -> dict[str, str]:
    if row.type == "twilio":
        return {
            "status_callback_url": status_callback_url(ctx.settings, row.id),
            "inbound_url": inbound_url(ctx.settings, row.id),
        }
    return {"receipt_url": _receipt_url(ctx, row)}


def _receipt_url(ctx: Context, row: ProviderRow) -> str:
    # Generic providers call this one URL with delivery receipts; its path holds a secret.
    return receipt_url(ctx.settings, row.id, str(ctx.box.decrypt(row.webhook_secret_encrypted)))
