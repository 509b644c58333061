"""Twilio callbacks' credentials, loaded from the database and kept a few
seconds, and the checks a callback passes before anything is stored.

The signatures themselves are Twilio's business
(:mod:`textcast.providers.twilio.webhook`); what is left here needs the
database: each provider's secrets and its senders' custom callback URLs, and
the column sizes a signed field must fit.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

from textcast.callback_meta import Meta
from textcast.context import Context
from textcast.db.models import Provider as ProviderRow
from textcast.db.models import Sender
from textcast.errors import WebhookRejected
from textcast.providers.twilio.webhook import CallbackRequest, ProviderAuth, verified_meta

# Twilio's callbacks are a few hundred bytes; even 1,600-character replies fit easily.
MAX_BODY_BYTES = 64 * 1024
AUTH_CACHE_SECONDS = 5.0


class ProviderAuthCache:
    """Each provider's secrets, decrypted and kept a few seconds: callbacks come
    in bursts, and a rotated token is picked up almost at once."""

    def __init__(self, ctx: Context, ttl: float = AUTH_CACHE_SECONDS) -> None:
        self.ctx = ctx
        self.ttl = ttl
        self._cache: dict[int, ProviderAuth] = {}
        self._loading: dict[int, asyncio.Future[ProviderAuth]] = {}

    async def get(self, provider_id: int) -> ProviderAuth:
        cached = self._cache.get(provider_id)
        if cached is not None and time.monotonic() - cached.loaded_at < self.ttl:
            return cached
        # One load per provider at a time: a burst of callbacks shares it.
        loading = self._loading.get(provider_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(provider_id))
            self._loading[provider_id] = loading
            loading.add_done_callback(lambda _: self._loading.pop(provider_id, None))
        auth = await asyncio.shield(loading)
        self._cache[provider_id] = auth
        return auth

    async def _load(self, provider_id: int) -> ProviderAuth:
        async with self.ctx.sessions() as session:
            row = await session.get(ProviderRow, provider_id)
            if row is None or row.deleted_at is not None or row.type != "twilio":
                raise WebhookRejected(404, f"no Twilio provider {provider_id}")
            rows = await session.execute(
                select(Sender.id, Sender.custom_callback_url).where(
                    Sender.provider_id == provider_id, Sender.custom_callback_url.is_not(None)
                )
            )
            custom = {sender_id: str(url) for sender_id, url in rows}
        box = self.ctx.box
        relay = row.relay_secret_encrypted
        return ProviderAuth(
            auth_token=str(box.decrypt(row.secrets_encrypted)["auth_token"]),
            webhook_secret=str(box.decrypt(row.webhook_secret_encrypted)),
            custom_callback_urls=custom,
            relay_secret=str(box.decrypt(relay)) if relay else None,
            loaded_at=time.monotonic(),
        )


# Longest value stored for these fields (the columns' sizes). Twilio's own are
# far shorter (a SID is 34 characters, a number 16 at most); anything longer is
# refused with 400 rather than cut or failed with a database error.
FIELD_LIMITS = {"MessageSid": 100, "SmsSid": 100, "From": 32, "To": 64}


def check_field_lengths(params: list[tuple[str, str]]) -> None:
    for name, value in params:
        limit = FIELD_LIMITS.get(name)
        if limit is not None and len(value) > limit:
            raise WebhookRejected(400, f"{name} is longer than {limit} characters")


def verify(auth: ProviderAuth, request: CallbackRequest) -> Meta | None:
    """The request's verified ``meta`` (None when it has none), or WebhookRejected:
    403 when no signature holds, 400 when a signed field cannot be stored."""
    meta = verified_meta(auth, request)
    check_field_lengths(request.params)
    return meta
