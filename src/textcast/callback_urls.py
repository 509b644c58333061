"""The callback URLs Textcast shows users and hands providers."""

from __future__ import annotations

import hashlib
import hmac

from textcast.config import Settings


def status_callback_url(settings: Settings, provider_id: int) -> str:
    return f"{settings.effective_public_url}/webhooks/twilio/{provider_id}/status"


def inbound_url(settings: Settings, provider_id: int, sender_id: int | None = None) -> str:
    """The account-wide inbound URL (the sender is found from To), or a sender's own."""
    base = f"{settings.effective_public_url}/webhooks/twilio/{provider_id}/inbound"
    return base if sender_id is None else f"{base}/{sender_id}"


def receipt_token(webhook_secret: str) -> str:
    """The secret path segment of a generic provider's receipt URL."""
    return hmac.new(webhook_secret.encode(), b"receipt-url", hashlib.sha256).hexdigest()[:32]


def receipt_url(settings: Settings, provider_id: int, webhook_secret: str) -> str:
    token = receipt_token(webhook_secret)
    return f"{settings.effective_public_url}/webhooks/generic/{provider_id}/{token}"


def callback_base(
    settings: Settings, provider_type: str, provider_id: int, webhook_secret: str
) -> str:
    """Where a provider reports on the messages it was given."""
    if provider_type == "twilio":
        return status_callback_url(settings, provider_id)
    return receipt_url(settings, provider_id, webhook_secret)
