"""Recovering messages whose lease expired: taken over a small take at a time,
looked up at their provider, and decided by :mod:`textcast.dispatch.recovery`.

It runs beside the claim loop, never inside it: a look-up may take as long as
the HTTP timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterable, Sequence

from textcast.context import Context
from textcast.db.models import utcnow
from textcast.dispatch import claims, outcome_store, recovery
from textcast.dispatch.claims import Claimed
from textcast.dispatch.leases import HeldLeases
from textcast.dispatch.references import References
from textcast.dispatch.sending import outbound_message
from textcast.errors import ProviderError
from textcast.retry import RetryStrategy

log = logging.getLogger(__name__)


class RecoveryLoop:
    def __init__(
        self,
        ctx: Context,
        worker_id: str,
        refs: References,
        leases: HeldLeases,
        retry: RetryStrategy,
    ) -> None:
        self._ctx = ctx
        self._settings = ctx.settings
        self._worker_id = worker_id
        self._refs = refs
        self._leases = leases
        self._retry = retry

    async def run(self, stop: asyncio.Event) -> None:
        """Every quarter lease (at least every second), decide on expired leases,
        and at once again while a round finds a full take waiting: a dead worker
        may leave a couple of thousand claimed messages, which one small take a
        round would have recovered at about 40 a second."""
        interval = max(1.0, self._settings.lease_seconds / 4)
        while not stop.is_set():
            full = False
            try:
                full = await self.recover_expired() >= self._settings.provider_concurrency
            except Exception:  # a database outage must not end recovery for good
                log.exception("recovering expired leases failed; trying again shortly")
            if full:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def recover_expired(self) -> int:
        """Decide what happened to messages whose lease expired (their worker
        died mid-send, or a send or an earlier look-up got no answer), a small
        take at a time; how many this round took.

        Where the provider can be asked (Twilio), a message it already has is
        recorded as accepted and not resent, one it never got is requeued as a
        normal retry, and one whose look-up fails stays for a later look-up.
        Where it cannot be asked, or cannot tell the message from others like
        it, the message is resent flagged ``possible_duplicate`` if
        TEXTCAST_RESEND_UNKNOWN allows, else failed.
        """
        # Small takes, looked up concurrently and recorded at once, so a recovery
        # finishes well inside its lease even when this worker is killed again.
        async with self._ctx.write_session() as session:
            taken = await claims.take_expired(
                session,
                worker=self._worker_id,
                limit=self._settings.provider_concurrency,
                lease_seconds=self._settings.lease_seconds,
                exclude=self._leases.ids(),
            )
            if taken:
                await self._refs.refresh(session, taken)
        if not taken:
            return 0
        look_ups = await asyncio.gather(*(self._look_up(m) for m in taken))
        async with self._ctx.write_session() as session:
            known = await claims.recorded_sids(session, _sids(look_ups))
            verdicts = [recovery.verdict(found, known) for found in look_ups]
            decided = recovery.decide(
                list(zip(taken, verdicts, strict=True)), self._policy(), utcnow()
            )
            await outcome_store.record(session, self._worker_id, decided)
        log.warning(
            "recovered %d message(s) with expired leases: %s",
            len(taken),
            dict(Counter(outcome.kind for outcome in decided)),
        )
        return len(taken)

    def _policy(self) -> recovery.Policy:
        return recovery.Policy(
            resend_unknown=self._settings.resend_unknown,
            max_attempts=self._retry.max_attempts,
            min_recheck=self._retry.base_delay,
            max_recheck=self._retry.max_delay,
        )

    async def _look_up(self, message: Claimed) -> recovery.LookUp:
        """What the provider holds that could be ``message``; None when it cannot
        be asked; the error when the question got no answer."""
        provider = self._refs.providers[message.provider_id]
        if not provider.impl.supports_lookup:
            return None
        outbound = outbound_message(message, self._refs.senders[message.sender_id], provider)
        assert message.created_at is not None, "take_expired reads what recovery needs"
        try:
            return await provider.impl.find_sent(self._ctx.http, outbound, message.created_at)
        except ProviderError as exc:
            log.warning("could not look message %s up at the provider: %s", message.id, exc)
            return exc


def _sids(look_ups: Iterable[recovery.LookUp]) -> set[str]:
    """Every provider message ID the look-ups found."""
    return {
        match.provider_message_id
        for found in look_ups
        if isinstance(found, Sequence)
        for match in found
        if match.provider_message_id
    }
