"""The callback URLs Textcast shows users and hands providers."""

from __future__ import annotations

from textcast.config import Settings


def status_callback_url(settings: Settings, provider_id: int) -> str:
    return f"{settings.effective_public_url}/webhooks/twilio/{provider_id}/status"


def inbound_url(settings: Settings, provider_id: int) -> str:
    return f"{settings.effective_public_url}/webhooks/twilio/{provider_id}/inbound"
