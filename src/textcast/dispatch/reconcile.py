"""Reconciliation: ask the provider about messages whose callbacks never came.

Callbacks get lost (a customer's relay down, Textcast down past the provider's
retries). Messages accepted by the provider but without a final status after
``reconcile_after_seconds`` are looked up (Twilio: ``Messages/{Sid}.json``) and
moved forward; after ``unknown_after_seconds`` with still no answer they become
``unknown`` — shown as such, never guessed.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from textcast import status
from textcast.context import Context
from textcast.db.models import Message, utcnow
from textcast.db.models import Provider as ProviderRow
from textcast.errors import ProviderError, TextcastError
from textcast.providers.base import StatusUpdate
from textcast.services.callbacks import apply_status
from textcast.services.providers import instantiate

log = logging.getLogger(__name__)

PENDING = (status.ACCEPTED, status.SCHEDULED, status.SENDING, status.SENT)


async def reconcile_once(ctx: Context, *, limit: int = 200) -> dict[str, int]:
    """One pass over the oldest unfinished messages; counts by outcome."""
    now = utcnow()
    settings = ctx.settings
    stale_before = now - timedelta(seconds=settings.reconcile_after_seconds)
    give_up_before = now - timedelta(seconds=settings.unknown_after_seconds)
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(
                    Message.id, Message.provider_id, Message.provider_message_id, Message.sent_at
                )
                .where(
                    Message.status.in_(PENDING),
                    Message.updated_at < stale_before,
                    Message.provider_message_id.is_not(None),
                )
                .order_by(Message.updated_at)
                .limit(limit)
            )
        ).all()
        # One instance per provider for the pass: decrypting secrets per message is waste.
        providers = {
            provider.id: instantiate(ctx, provider)
            for provider in await session.scalars(
                select(ProviderRow).where(ProviderRow.id.in_({r.provider_id for r in rows}))
            )
        }
    counts = {"checked": 0, "updated": 0, "unknown": 0, "errors": 0}
    for row in rows:
        counts["checked"] += 1
        update = None
        try:
            update = await providers[row.provider_id].fetch_status(
                ctx.http, str(row.provider_message_id)
            )
        except (ProviderError, TextcastError) as exc:
            counts["errors"] += 1
            log.warning("reconciling message %s failed: %s", row.id, exc)
        if update is None or update.status not in status.FINAL:
            if row.sent_at is not None and row.sent_at < give_up_before:
                update = StatusUpdate(
                    str(row.provider_message_id),
                    status.UNKNOWN,
                    None,
                    "no final status from the provider within the retention window",
                )
            elif update is None:
                continue
        async with ctx.session() as session:
            message = await session.get(Message, row.id)
            if message is None:
                continue
            outcome = apply_status(session, message, update, source="reconcile")
            if outcome == "applied":
                counts["unknown" if update.status == status.UNKNOWN else "updated"] += 1
            else:
                message.updated_at = utcnow()  # checked: don't look again until the next window
    return counts
