"""Reconciliation: ask the provider about messages whose callbacks never came.

Callbacks get lost (a customer's relay down, Textcast down past the provider's
retries). Messages accepted by the provider but without a final status after
``reconcile_after_seconds`` are looked up (Twilio: ``Messages/{Sid}.json``) and
moved forward; after ``unknown_after_seconds`` with still no answer they become
``unknown`` — shown as such, never guessed.

A pass claims its rows by moving their ``updated_at`` to now in the statement
that picks them (PostgreSQL: ``FOR UPDATE SKIP LOCKED``), so workers running
passes at once look up different rows, and a row whose look-up fails waits a
whole window like any other instead of coming back every pass. The look-ups
run a few at a time; the dispatcher runs passes in a task of their own, so a
slow provider never holds up sending.

What a look-up found is applied by the same rule as a status callback or a
delivery receipt (:mod:`textcast.services.status_reports`): forward only,
about the current attempt only, a passing Twilio failure sent again, and the
answer stored with its effect.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import status
from textcast.context import Context
from textcast.db.dialect import dialect_of
from textcast.db.models import Message, utcnow
from textcast.db.models import Provider as ProviderRow
from textcast.errors import ProviderError, TextcastError
from textcast.providers.base import Provider, StatusUpdate
from textcast.services.providers import instantiate
from textcast.services.status_reports import StatusReport, StatusReportStore

log = logging.getLogger(__name__)

PENDING = (status.ACCEPTED, status.SCHEDULED, status.SENDING, status.SENT)
MESSAGES = cast(Table, Message.__table__)
GAVE_UP = "no final status from the provider within the retention window"


async def reconcile_once(
    ctx: Context, *, limit: int = 200, concurrency: int = 10
) -> dict[str, int]:
    """One pass over the oldest unfinished messages, at most ``concurrency``
    look-ups in flight; counts by outcome (checked, updated, unknown, errors)."""
    now = utcnow()
    async with ctx.session() as session:
        rows = await _claim(
            session, now - timedelta(seconds=ctx.settings.reconcile_after_seconds), limit
        )
        providers = await _providers(ctx, session, {row.provider_id for row in rows})
    give_up_before = now - timedelta(seconds=ctx.settings.unknown_after_seconds)
    counts: Counter[str] = Counter(checked=len(rows), updated=0, unknown=0, errors=0)
    slots = asyncio.Semaphore(concurrency)

    async def look_up(row: Row[Any]) -> StatusReport | None:
        async with slots:
            return await _look_up(ctx, providers[row.provider_id], row, give_up_before, counts)

    found = [r for r in await asyncio.gather(*(look_up(row) for row in rows)) if r is not None]
    if found:
        store = StatusReportStore(ctx)
        try:
            outcomes = await store.record(found)
        finally:
            await store.close()
        for report, outcome in zip(found, outcomes, strict=True):
            if outcome in ("applied", "requeued"):
                assert report.update is not None
                counts["unknown" if report.update.status == status.UNKNOWN else "updated"] += 1
    return dict(counts)


async def _claim(session: AsyncSession, stale_before: datetime, limit: int) -> list[Row[Any]]:
    """The pass's rows, marked as checked now so no other pass takes them."""
    chosen = (
        select(MESSAGES.c.id)
        .where(
            MESSAGES.c.status.in_(PENDING),
            MESSAGES.c.updated_at < stale_before,
            MESSAGES.c.provider_message_id.is_not(None),
        )
        .order_by(MESSAGES.c.updated_at)
        .limit(limit)
    )
    chosen = dialect_of(session).skip_locked(chosen)
    claimed = (
        update(MESSAGES)
        .where(MESSAGES.c.id.in_(chosen.scalar_subquery()))
        .values(updated_at=utcnow())
        .returning(
            MESSAGES.c.id,
            MESSAGES.c.provider_id,
            MESSAGES.c.provider_message_id,
            MESSAGES.c.sent_at,
        )
    )
    return list((await session.execute(claimed)).all())


async def _providers(ctx: Context, session: AsyncSession, ids: set[int]) -> dict[int, _Provider]:
    # One instance per provider for the pass: decrypting secrets per message is waste.
    if not ids:
        return {}
    rows = await session.scalars(select(ProviderRow).where(ProviderRow.id.in_(ids)))
    return {row.id: _Provider(instantiate(ctx, row), row.type) for row in rows}


async def _look_up(
    ctx: Context,
    provider: _Provider,
    row: Row[Any],
    give_up_before: datetime,
    counts: Counter[str],
) -> StatusReport | None:
    """What the provider says of the message, as a status report; ``unknown``
    when it has said nothing final for too long; None when there is nothing to apply."""
    sid = str(row.provider_message_id)
    found: StatusUpdate | None = None
    try:
        found = await provider.impl.fetch_status(ctx.http, sid)
    except (ProviderError, TextcastError) as exc:
        counts["errors"] += 1
        log.warning("reconciling message %s failed: %s", row.id, exc)
    if found is None or found.status not in status.FINAL:
        if row.sent_at is not None and row.sent_at < give_up_before:
            found = StatusUpdate(sid, status.UNKNOWN, None, GAVE_UP)
        elif found is None:
            return None
    answer = [("status", found.status)]
    if found.error_code:
        answer += [("error_code", found.error_code), ("error_message", found.error_message or "")]
    return StatusReport(
        provider_id=row.provider_id,
        meta=None,
        provider_message_id=sid,
        update=found,
        params=answer,
        kind="lookup",
        source="reconcile",
        provider_type=provider.type,
    )


@dataclass(frozen=True)
class _Provider:
    impl: Provider
    type: str
