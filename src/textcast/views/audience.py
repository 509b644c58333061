"""Contacts, suppressions and keyword rules as API answers, the CLI's --json
and the dashboard show them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.db.models import Contact, KeywordRule, Suppression


async def contact_view(session: AsyncSession, contact: Contact) -> dict[str, Any]:
    """The contact with its suppressions. ``opted_out`` is whether any exists:
    tags are labels for segmenting and may be edited freely."""
    rows = list(
        await session.scalars(
            select(Suppression).where(Suppression.phone == contact.phone).order_by(Suppression.id)
        )
    )
    return {
        "id": contact.id,
        "phone": contact.phone,
        "tags": contact.tags,
        "opted_out": bool(rows),
        "suppressions": [suppression_view(s) for s in rows],
        "created_at": contact.created_at.isoformat(),
        "last_inbound_at": contact.last_inbound_at.isoformat() if contact.last_inbound_at else None,
    }


def suppression_view(row: Suppression) -> dict[str, Any]:
    """One suppression and where it came from: ``source`` is operator, reply,
    provider_error or import; ``source_detail`` the face the operator used
    (api, cli, dashboard), the keyword replied, the provider's error code or
    the import."""
    return {
        "id": row.id,
        "provider_id": row.provider_id,
        "sender_id": row.sender_id,
        "scope": "sender" if row.sender_id else "account",
        "phone": row.phone,
        "reason": row.reason,
        "source": row.source,
        "source_detail": row.source_detail,
        "created_at": row.created_at.isoformat(),
    }


def rule_view(rule: KeywordRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "keyword": rule.keyword.upper(),
        "provider_id": rule.provider_id,
        "sender_id": rule.sender_id,
        "action": rule.action,
        "reply": rule.reply,
        "created_at": rule.created_at.isoformat(),
    }
