"""The dispatch loop: claim a batch, send with bounded concurrency, record in bulk.

Sending and recording are decoupled: each finished send drops an
:class:`Outcome` into a buffer that a flusher writes every few milliseconds in
one transaction, so the database is not the bottleneck and a slow provider
call never holds a database connection. Claimed messages wait in each
provider's :class:`SendLanes` until the shared pacing lets them go.

Leases: a worker renews the leases of every message it holds (claimed, outcome
not yet recorded) every third of a lease, however long they wait in a lane,
and starts a send only while it is sure it still holds the lease (see
:meth:`Dispatcher.renew_leases`). Recovery and reconciliation run beside the
claim loop, never inside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Iterable, Sequence

from sqlalchemy import func, select

from textcast import metrics, status
from textcast.callback_meta import sign_meta, with_meta
from textcast.context import Context
from textcast.db.models import Message, utcnow
from textcast.dispatch import claims, outcome_store, outcomes, pacing, recovery
from textcast.dispatch.claims import Claimed
from textcast.dispatch.lanes import SendLanes
from textcast.dispatch.outcomes import Outcome
from textcast.dispatch.reconcile import reconcile_once
from textcast.dispatch.references import LoadedProvider, LoadedSender, References
from textcast.errors import ProviderError
from textcast.providers.base import OutboundMessage
from textcast.retry import RetryStrategy

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.02
RECONCILE_INTERVAL = 60.0
# Leases are renewed every third of a lease; a send may start only within two
# thirds of a lease from the latest renewal (or the claim), so one renewal can
# be late without a send ever starting on a lease that may have run out.
RENEW_FRACTION = 1 / 3
SEND_WINDOW_FRACTION = 2 / 3


class Dispatcher:
    def __init__(
        self,
        ctx: Context,
        *,
        worker_id: str | None = None,
        retry: RetryStrategy | None = None,
    ) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.retry = retry or RetryStrategy(
            max_attempts=ctx.settings.max_attempts, base_delay=ctx.settings.retry_base_delay
        )
        self._refs = References(ctx)
        self._results: list[Outcome] = []
        # Sends in progress are capped per process by the semaphore, and per
        # provider account by its lanes, so one slow provider cannot take every slot.
        self._slots = asyncio.Semaphore(ctx.settings.dispatch_concurrency)
        self._lanes: dict[int, SendLanes[Claimed]] = {}
        self._stopping = asyncio.Event()
        # Claimed messages not yet sent or handed back are capped at a few times
        # the concurrency, so claims come in large batches (few transactions)
        # without hoarding the queue from other workers. Two batches' worth, so
        # the next claim starts while a full batch is still waiting: under load
        # a claim takes 100-150 ms of wall time (its turn for the write lock, and
        # each statement's await behind the send lanes on the event loop), and
        # starting it with half a batch left ran the lanes dry 15-20% of the
        # time (6-12% now; 5% more messages a second in 7 of 8 paired runs).
        self._max_claimed = max(
            ctx.settings.dispatch_concurrency * 4, 2 * ctx.settings.dispatch_batch_size
        )
        self._claim_at_least = min(ctx.settings.dispatch_batch_size, self._max_claimed // 2)
        self._outstanding = 0  # claimed here and not yet finished
        self._room = asyncio.Event()  # set when a claim of _claim_at_least fits
        # Messages whose lease this worker holds (claimed, outcome not yet
        # recorded), each with the monotonic time until which a send may start.
        self._held: dict[int, float] = {}
        self._send_window = ctx.settings.lease_seconds * SEND_WINDOW_FRACTION
        self.reconcile_interval = RECONCILE_INTERVAL

    # --- the loop ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, shutdown_timeout: float = 20.0) -> None:
        """Dispatch until ``stop`` is set, then finish in-flight sends and flush."""
        flusher = asyncio.create_task(self._flush_loop(stop))
        renewer = asyncio.create_task(self._renew_loop())
        recoverer = asyncio.create_task(self._recover_loop(stop))
        reconciler = asyncio.create_task(self._reconcile_loop(stop))
        try:
            while not stop.is_set():
                try:
                    claimed = await self.step()
                except Exception:  # a database outage or bad row must not kill the loop
                    log.exception("dispatch step failed; retrying shortly")
                    claimed = 0
                    await asyncio.sleep(1.0)
                if not claimed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.settings.dispatch_poll_interval)
        finally:
            # A reconciliation pass cut short is picked up next window (its rows wait one).
            reconciler.cancel()
            # Sends already under way finish; claimed messages not yet started go back.
            self._stopping.set()
            for provider_lanes in self._lanes.values():
                provider_lanes.stop()
            running = self._running_lanes()
            if running:
                await asyncio.wait(running, timeout=shutdown_timeout)
            for lane in running:
                lane.cancel()
            if running:
                # A cancelled send leaves its message leased: recovery decides it later.
                await asyncio.wait(running)
            await recoverer  # a round under way finishes: it holds what it took
            await flusher
            await self.flush()
            # Renewed until here: what is still held (cancelled sends) is recovery's now.
            renewer.cancel()
            await asyncio.gather(renewer, reconciler, return_exceptions=True)

    async def step(self) -> int:
        """Claim what fits in the free capacity and hand it to the send lanes."""
        capacity = self._max_claimed - self._outstanding
        if capacity < self._claim_at_least:
            self._room.clear()
            await self._room.wait()
            return 1
        batch = await self._claim(min(capacity, self.settings.dispatch_batch_size))
        self._outstanding += len(batch)
        for message, send_at in batch:
            self._lanes_for(message.provider_id).add(message, send_at)
        return len(batch)

    async def drain(self, timeout: float = 30.0) -> None:
        """Send until no message is queued or in flight (tests, benchmarks).

        Runs the same loop as :meth:`run`, so claims, sends and recording overlap
        as in production instead of taking turns.
        """
        stop = asyncio.Event()
        runner = asyncio.create_task(self.run(stop))
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not runner.done():
                await asyncio.sleep(self.settings.dispatch_poll_interval)
                # The database has the last word: a claim or a flush may be under way.
                if not self._outstanding and not self._results and not await self._pending():
                    return
        finally:
            stop.set()
            await runner
        raise TimeoutError("dispatcher did not drain in time")

    async def _pending(self) -> int:
        """Messages still waiting: paced, backing off, or held by another worker."""
        async with self.ctx.sessions() as session:
            query = select(func.count()).where(
                Message.status.in_((status.QUEUED, status.DISPATCHING))
            )
            return int(await session.scalar(query) or 0)

    def _running_lanes(self) -> set[asyncio.Task[None]]:
        return {lane for lanes in self._lanes.values() for lane in lanes.lanes}

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set() or self._running_lanes():
            await asyncio.sleep(FLUSH_INTERVAL)
            await self.flush()

    async def flush(self) -> None:
        """Write buffered outcomes; on a database error keep them for the next try."""
        if not self._results:
            return
        batch, self._results = self._results, []
        # No longer renewed: recording takes a moment, not a lease. Dropped first,
        # so a message claimed again as soon as this commits keeps its new lease.
        held = {o.message_id: self._held.pop(o.message_id, None) for o in batch}
        try:
            async with self.ctx.write_session() as session:
                await outcome_store.record(session, self.worker_id, batch)
        except Exception:
            log.exception("recording %d send outcomes failed; will retry", len(batch))
            self._results[:0] = batch
            for message_id, until in held.items():
                if until is not None:  # not one renewal found lost meanwhile
                    self._held.setdefault(message_id, until)
            await asyncio.sleep(0.5)

    def _finish(self, outcome: Outcome) -> None:
        """Buffer a claimed message's outcome; it no longer counts against the claim cap."""
        self._results.append(outcome)
        self._outstanding -= 1
        if self._max_claimed - self._outstanding >= self._claim_at_least:
            self._room.set()

    # --- claiming ------------------------------------------------------------------

    async def _claim(self, limit: int) -> list[tuple[Claimed, float]]:
        # Before the claim's statement, so never later than the lease it takes.
        send_until = time.monotonic() + self._send_window
        async with self.ctx.write_session() as session:
            batch = await claims.claim(
                session,
                worker=self.worker_id,
                limit=limit,
                lease_seconds=self.settings.lease_seconds,
            )
            if not batch:
                return []
            await self._refs.refresh(session, batch)
            suppressed = await claims.suppressed(session, batch)
            sendable = [m for m in batch if m.id not in suppressed]
            senders = self._refs.senders
            planned = await pacing.plan(
                session,
                [(m.id, m.sender_id, m.segments) for m in sendable],
                {m.sender_id: senders[m.sender_id].mps for m in sendable},
                time.time(),
            )
            # Over the sender's pace: back to the queue in this same transaction, untried.
            released = [outcomes.released(mid, at) for mid, at in planned.released.items()]
            await outcome_store.record(session, self.worker_id, released)
        for message in batch:
            if message.id not in planned.released:
                self._held[message.id] = send_until
        self._results.extend(outcomes.suppressed(m) for m in batch if m.id in suppressed)
        return [(m, planned.send_at[m.id]) for m in sendable if m.id in planned.send_at]

    # --- leases --------------------------------------------------------------------

    async def _renew_loop(self) -> None:
        interval = self.settings.lease_seconds * RENEW_FRACTION
        while True:
            await asyncio.sleep(interval)
            try:
                await self.renew_leases()
            except Exception:  # the next renewal comes before any lease runs out
                log.exception("renewing leases failed; retrying in %.1f s", interval)

    async def renew_leases(self) -> None:
        """Extend the leases of the messages this worker holds, and forget the
        ones it lost (taken over by another worker, moved on by a callback):
        :meth:`_send` does not send those."""
        if not self._held:
            return
        asked = dict(self._held)
        send_until = time.monotonic() + self._send_window
        async with self.ctx.write_session() as session:
            renewal = await claims.renew(
                session,
                worker=self.worker_id,
                ids=asked.keys(),
                lease_seconds=self.settings.lease_seconds,
            )
        for message_id, until in asked.items():
            if self._held.get(message_id) != until:
                continue  # recorded, or claimed again, while the renewal ran
            if message_id in renewal.renewed:
                self._held[message_id] = send_until
            elif message_id in renewal.lost:
                del self._held[message_id]
        if renewal.lost:
            log.warning("%d message lease(s) lost to other workers or callbacks", len(renewal.lost))

    def _holds_lease(self, message_id: int) -> bool:
        until = self._held.get(message_id)
        return until is not None and time.monotonic() < until

    # --- reconciliation ------------------------------------------------------------

    async def _reconcile_loop(self, stop: asyncio.Event) -> None:
        """Every minute, look up messages whose final callback never arrived."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.reconcile_interval)
                return
            try:
                counts = await reconcile_once(self.ctx)
            except Exception:
                log.exception("reconciliation failed; trying again next time")
                continue
            if counts["checked"]:
                log.info("reconciliation: %s", counts)

    # --- recovery ------------------------------------------------------------------

    async def _recover_loop(self, stop: asyncio.Event) -> None:
        """Every quarter lease (at least every second), decide on expired leases,
        and at once again while a round finds a full take waiting: a dead worker
        may leave a couple of thousand claimed messages, which one small take a
        round would have recovered at about 40 a second. Beside the claim loop:
        a look-up may take as long as the HTTP timeout."""
        interval = max(1.0, self.settings.lease_seconds / 4)
        while not stop.is_set():
            full = False
            try:
                full = await self.recover_expired() >= self.settings.provider_concurrency
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
        async with self.ctx.write_session() as session:
            taken = await claims.take_expired(
                session,
                worker=self.worker_id,
                limit=self.settings.provider_concurrency,
                lease_seconds=self.settings.lease_seconds,
                exclude=list(self._held),
            )
            if taken:
                await self._refs.refresh(session, taken)
        if not taken:
            return 0
        look_ups = await asyncio.gather(*(self._look_up(m) for m in taken))
        async with self.ctx.write_session() as session:
            known = await claims.recorded_sids(session, _sids(look_ups))
            verdicts = [recovery.verdict(found, known) for found in look_ups]
            decided = recovery.decide(
                list(zip(taken, verdicts, strict=True)), self._recovery_policy(), utcnow()
            )
            await outcome_store.record(session, self.worker_id, decided)
        log.warning(
            "recovered %d message(s) with expired leases: %s",
            len(taken),
            dict(Counter(outcome.kind for outcome in decided)),
        )
        return len(taken)

    def _recovery_policy(self) -> recovery.Policy:
        return recovery.Policy(
            resend_unknown=self.settings.resend_unknown,
            max_attempts=self.retry.max_attempts,
            min_recheck=self.retry.base_delay,
            max_recheck=self.retry.max_delay,
        )

    async def _look_up(self, message: Claimed) -> recovery.LookUp:
        """What the provider holds that could be ``message``; None when it cannot
        be asked; the error when the question got no answer."""
        provider = self._refs.providers[message.provider_id]
        if not provider.impl.supports_lookup:
            return None
        outbound = self._outbound(message, self._refs.senders[message.sender_id], provider)
        assert message.created_at is not None, "take_expired reads what recovery needs"
        try:
            return await provider.impl.find_sent(self.ctx.http, outbound, message.created_at)
        except ProviderError as exc:
            log.warning("could not look message %s up at the provider: %s", message.id, exc)
            return exc

    # --- sending -------------------------------------------------------------------

    def _lanes_for(self, provider_id: int) -> SendLanes[Claimed]:
        lanes = self._lanes.get(provider_id)
        if lanes is None:
            lanes = self._lanes[provider_id] = SendLanes(
                self.settings.provider_concurrency, self._send, self._hand_back, self._stopping
            )
        return lanes

    def _hand_back(self, message: Claimed) -> None:
        """Stopping: the message goes back to the queue untried, due now."""
        self._finish(outcomes.released(message.id, time.time()))

    async def _send(self, message: Claimed) -> None:
        """One send attempt, its outcome buffered for the flusher. Never raises: a
        lane that died would strand the messages queued behind it.

        A message whose lease this worker may no longer hold is not sent: it
        goes back untried (a no-op when someone else holds it now)."""
        provider = self._refs.providers[message.provider_id]
        async with self._slots:
            if not self._holds_lease(message.id):
                self._finish(outcomes.released(message.id, time.time()))
                return
            started = time.perf_counter()
            try:
                outbound = self._outbound(message, self._refs.senders[message.sender_id], provider)
                result = await provider.impl.send(self.ctx.http, outbound)
            except ProviderError as error:
                outcome = self._failed(message, provider, error, started)
            except Exception as exc:  # a bug must not lose the message: retry it
                log.exception("unexpected error sending message %s", message.id)
                internal = ProviderError(
                    "internal", f"{type(exc).__name__}: {exc}", permanent=False
                )
                outcome = self._failed(message, provider, internal, started)
            else:
                latency = time.perf_counter() - started
                provider.accepted_count.inc()
                metrics.SEND_LATENCY.observe(latency)
                outcome = outcomes.accepted(message, result, latency)
        self._finish(outcome)

    def _failed(
        self, message: Claimed, provider: LoadedProvider, error: ProviderError, started: float
    ) -> Outcome:
        latency = time.perf_counter() - started
        metrics.SEND_LATENCY.observe(latency)
        traits = outcomes.ProviderTraits(
            provider.type, provider.impl.supports_lookup, self.settings.resend_unknown
        )
        return outcomes.failed_send(message, traits, error, latency, self.retry)

    def _outbound(
        self, message: Claimed, sender: LoadedSender, provider: LoadedProvider
    ) -> OutboundMessage:
        base = sender.custom_callback_url or provider.status_callback
        meta = sign_meta(
            provider.webhook_secret,
            message.id,
            sender.id,
            contact_id=message.contact_id,
            campaign=message.campaign,
            automation=message.automation,
        )
        callback = with_meta(base, meta)
        return OutboundMessage(
            message_id=message.id,
            to=message.to,
            body=message.body,
            sender_type=sender.type,
            sender_id=sender.sender_id,
            media_urls=message.media_urls,
            status_callback=callback,
        )


def _sids(look_ups: Iterable[recovery.LookUp]) -> set[str]:
    """Every provider message ID the look-ups found."""
    return {
        match.provider_message_id
        for found in look_ups
        if isinstance(found, Sequence)
        for match in found
        if match.provider_message_id
    }
