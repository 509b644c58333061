"""The senders and provider accounts claimed messages refer to, kept between claims.

Each claim refreshes the rows its batch names (one query each), and a provider
is rebuilt (secrets decrypted, configuration validated) only when its row has
changed. What every send would otherwise recompute, the provider's status
callback URL (before the per-message ``meta``), is worked out here once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import metrics
from textcast.callback_urls import callback_base
from textcast.context import Context
from textcast.db.models import Provider as ProviderRow
from textcast.db.models import Sender
from textcast.dispatch.claims import Claimed
from textcast.providers.base import Provider
from textcast.services.providers import instantiate


@dataclass
class LoadedProvider:
    updated_at: object
    type: str
    impl: Provider
    webhook_secret: str
    # Where the provider reports on messages (Twilio status callbacks, generic
    # receipts), before the per-message ``meta``.
    status_callback: str
    # labels() takes a lock and a dict look-up; once per provider is enough.
    accepted_count: Counter


@dataclass(frozen=True)
class LoadedSender:
    id: int
    type: str
    sender_id: str
    mps: float
    custom_callback_url: str | None


class References:
    """Senders and providers by ID, as of the latest claim that named them."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.senders: dict[int, LoadedSender] = {}
        self.providers: dict[int, LoadedProvider] = {}

    async def refresh(self, session: AsyncSession, batch: Iterable[Claimed]) -> None:
        """Load the senders and providers ``batch`` needs (one query each)."""
        sender_ids = {m.sender_id for m in batch}
        provider_ids = {m.provider_id for m in batch}
        for sender in await session.scalars(select(Sender).where(Sender.id.in_(sender_ids))):
            self.senders[sender.id] = LoadedSender(
                sender.id,
                sender.type,
                sender.sender_id,
                sender.mps,
                sender.custom_callback_url,
            )
        rows = await session.scalars(select(ProviderRow).where(ProviderRow.id.in_(provider_ids)))
        for row in rows:
            cached = self.providers.get(row.id)
            if cached is None or cached.updated_at != row.updated_at:
                webhook_secret = str(self._ctx.box.decrypt(row.webhook_secret_encrypted))
                self.providers[row.id] = LoadedProvider(
                    row.updated_at,
                    row.type,
                    instantiate(self._ctx, row),
                    webhook_secret,
                    callback_base(self._ctx.settings, row.type, row.id, webhook_secret),
                    metrics.SENDS.labels(row.type, "accepted"),
                )
