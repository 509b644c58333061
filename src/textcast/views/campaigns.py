"""Campaigns and their recipients as the API, the CLI's --json and the dashboard show them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textcast.db.models import Campaign, CampaignRecipient


def _at(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def campaign_view(campaign: Campaign, counts: dict[str, int] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": campaign.id,
        "name": campaign.name,
        "status": campaign.status,
        "status_reason": campaign.status_reason,
        "sender_id": campaign.sender_id,
        "category": campaign.category,
        "template_id": campaign.template_id,
        "template_version": campaign.template_version,
        "body": campaign.body,
        "variants": campaign.variants,
        "control_percent": campaign.control_percent,
        "audience": campaign.audience,
        "click_tracking": campaign.click_tracking,
        "labels": campaign.labels,
        "send_at": _at(campaign.send_at),
        "local_time": campaign.local_time,
        "missed_local_time": campaign.missed_local_time,
        "throttle_per_minute": campaign.throttle_per_minute,
        "expires_at": _at(campaign.expires_at),
        "max_failure_rate": campaign.max_failure_rate,
        "quiet_hours": campaign.quiet_hours,
        "frequency_caps": campaign.frequency_caps,
        "targeted": campaign.targeted,
        "skipped": campaign.skipped,
        "queued": campaign.queued,
        "created_at": _at(campaign.created_at),
        "updated_at": _at(campaign.updated_at),
        "launched_at": _at(campaign.launched_at),
        "materialised_at": _at(campaign.materialised_at),
        "completed_at": _at(campaign.completed_at),
    }
    if counts is not None:
        view["recipients"] = counts
    return view


def recipient_view(recipient: CampaignRecipient) -> dict[str, Any]:
    return {
        "id": recipient.id,
        "contact_id": recipient.contact_id,
        "phone": recipient.phone,
        "variant": recipient.variant,
        "status": recipient.status,
        "reason": recipient.reason,
        "detail": recipient.detail,
        "message_id": recipient.message_id,
        "due_at": _at(recipient.due_at),
    }
