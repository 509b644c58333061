"""Contacts, segments, imports, suppressions and keyword rules as API answers,
the CLI's --json and the dashboard show them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.audience import time_zones
from textcast.audience.segments import Count
from textcast.db.dialect import dialect_of
from textcast.db.models import Contact, ContactImport, KeywordRule, Segment, Suppression


async def contact_view(
    session: AsyncSession, contact: Contact, install_zone: str
) -> dict[str, Any]:
    return (await contact_views(session, [contact], install_zone))[0]


async def contact_views(
    session: AsyncSession, contacts: Sequence[Contact], install_zone: str
) -> list[dict[str, Any]]:
    """Each contact with its suppressions (one query for them all). ``opted_out``
    is whether any exists, the suppression list's answer, never a copy: tags
    are labels for segmenting and may be edited freely."""
    phones = {c.phone for c in contacts}
    found: dict[str, list[Suppression]] = {}
    if phones:
        column = Suppression.__table__.c.phone
        query = select(Suppression).where(dialect_of(session).one_of(column, phones))
        for row in await session.scalars(query.order_by(Suppression.id)):
            found.setdefault(row.phone, []).append(row)
    return [_contact(c, found.get(c.phone, []), install_zone) for c in contacts]


def _contact(contact: Contact, blocked: list[Suppression], install_zone: str) -> dict[str, Any]:
    return {
        "id": contact.id,
        "phone": contact.phone,
        "external_id": contact.external_id,
        "country": contact.country,
        "phone_type": contact.phone_type,
        "time_zone": contact.time_zone or install_zone,
        "time_zone_source": contact.time_zone_source,
        "time_zone_candidates": time_zones.candidates(
            contact.phone, contact.time_zone, contact.time_zone_source, install_zone
        ),
        "attributes": contact.attributes,
        "tags": contact.tags,
        "opted_out": bool(blocked),
        "suppressions": [suppression_view(s) for s in blocked],
        "created_at": contact.created_at.isoformat(),
        "updated_at": contact.updated_at.isoformat(),
        "last_inbound_at": contact.last_inbound_at.isoformat() if contact.last_inbound_at else None,
    }


def segment_view(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.id,
        "name": segment.name,
        "description": segment.description,
        "rules": segment.rules,
        "created_at": segment.created_at.isoformat(),
        "updated_at": segment.updated_at.isoformat(),
    }


async def count_view(session: AsyncSession, count: Count, install_zone: str) -> dict[str, Any]:
    return {
        "count": count.total,
        "opted_out": count.opted_out,
        "invalid": count.invalid,
        "sendable": count.sendable,
        "by_country": count.by_country,
        "sample": await contact_views(session, count.sample, install_zone),
    }


def import_view(job: ContactImport) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status,
        "format": job.format,
        "filename": job.filename,
        "total_bytes": job.total_bytes,
        "done_bytes": job.done_bytes,
        "progress": round(job.done_bytes / job.total_bytes, 4) if job.total_bytes else 1.0,
        "rows": job.rows,
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "rejected": job.rejected,
        "errors": job.errors,
        "error": job.error,
        "options": job.options,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
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
