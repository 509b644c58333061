"""The dispatch loop: claim a batch, send with bounded concurrency, record in bulk.

Sending and recording are decoupled: each finished send drops an
:class:`Outcome` into a buffer that a flusher writes every few milliseconds in
one transaction, so the database is not the bottleneck and a slow provider
call never holds a database connection. Claimed messages wait in each
provider's :class:`SendLanes` until the shared pacing lets them go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time

from sqlalchemy import func, select

from textcast import metrics, status
from textcast.context import Context
from textcast.db.models import Message
from textcast.dispatch import outbox, outcomes, pacing, recovery
from textcast.dispatch.lanes import SendLanes
from textcast.dispatch.outbox import Claimed, Outcome
from textcast.dispatch.reconcile import reconcile_once
from textcast.dispatch.references import LoadedProvider, LoadedSender, References
from textcast.dispatch.retry import RetryStrategy
from textcast.errors import ProviderError
from textcast.providers.base import OutboundMessage
from textcast.webhooks.meta import sign_meta, with_meta

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.02
RECONCILE_INTERVAL = 60.0


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
        # without hoarding the queue from other workers.
        self._max_claimed = max(
            ctx.settings.dispatch_concurrency * 4, ctx.settings.dispatch_batch_size
        )
        self._claim_at_least = min(ctx.settings.dispatch_batch_size, self._max_claimed // 2)
        self._outstanding = 0  # claimed here and not yet finished
        self._room = asyncio.Event()  # set when a claim of _claim_at_least fits
        self._last_requeue = 0.0
        self._last_reconcile = time.monotonic()

    # --- the loop ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, shutdown_timeout: float = 20.0) -> None:
        """Dispatch until ``stop`` is set, then finish in-flight sends and flush."""
        flusher = asyncio.create_task(self._flush_loop(stop))
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
            await flusher
            await self.flush()

    async def step(self) -> int:
        """Claim what fits in the free capacity and hand it to the send lanes."""
        await self._maybe_requeue_expired()
        await self._maybe_reconcile()
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
        try:
            async with self.ctx.session() as session:
                await outbox.record(session, self.worker_id, batch)
        except Exception:
            log.exception("recording %d send outcomes failed; will retry", len(batch))
            self._results[:0] = batch
            await asyncio.sleep(0.5)

    def _finish(self, outcome: Outcome) -> None:
        """Buffer a claimed message's outcome; it no longer counts against the claim cap."""
        self._results.append(outcome)
        self._outstanding -= 1
        if self._max_claimed - self._outstanding >= self._claim_at_least:
            self._room.set()

    # --- claiming ------------------------------------------------------------------

    async def _claim(self, limit: int) -> list[tuple[Claimed, float]]:
        async with self.ctx.session() as session:
            batch = await outbox.claim(
                session,
                worker=self.worker_id,
                limit=limit,
                lease_seconds=self.settings.lease_seconds,
            )
            if not batch:
                return []
            await self._refs.refresh(session, batch)
            suppressed = await outbox.suppressed(session, batch)
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
            await outbox.record(session, self.worker_id, released)
        self._results.extend(outcomes.suppressed(m) for m in batch if m.id in suppressed)
        return [(m, planned.send_at[m.id]) for m in sendable if m.id in planned.send_at]

    async def _maybe_reconcile(self) -> None:
        """Every minute, look up messages whose final callback never arrived."""
        now = time.monotonic()
        if now - self._last_reconcile < RECONCILE_INTERVAL:
            return
        self._last_reconcile = now
        counts = await reconcile_once(self.ctx)
        if counts["checked"]:
            log.info("reconciliation: %s", counts)

    async def _maybe_requeue_expired(self) -> None:
        now = time.monotonic()
        if now - self._last_requeue < max(1.0, self.settings.lease_seconds / 4):
            return
        self._last_requeue = now
        await self.recover_expired()

    async def recover_expired(self) -> None:
        """Decide what happened to messages whose worker died mid-send.

        Where the provider can be asked (Twilio), a message it already has is
        recorded as accepted and not resent, and one it never got is requeued
        as a normal retry. Where it cannot, the message is resent and flagged
        ``possible_duplicate`` if TEXTCAST_RESEND_UNKNOWN allows, else failed.
        """
        # Small takes, looked up concurrently and recorded at once, so a recovery
        # finishes well inside its lease even when this worker is killed again.
        async with self.ctx.session() as session:
            taken = await outbox.take_expired(
                session,
                worker=self.worker_id,
                limit=self.settings.provider_concurrency,
                lease_seconds=self.settings.lease_seconds,
            )
            if taken:
                await self._refs.refresh(session, taken)
        if not taken:
            return
        verdicts = await asyncio.gather(*(self._look_up(m) for m in taken))
        decisions = recovery.decide(
            [(m.id, v) for m, v in zip(taken, verdicts, strict=True)], self.settings.resend_unknown
        )
        async with self.ctx.session() as session:
            await outbox.record(session, self.worker_id, decisions.record)
            await outbox.requeue(session, self.worker_id, decisions.requeue)
        log.warning(
            "recovered %d message(s) from stopped workers: %d recorded, %d requeued",
            len(taken),
            len(decisions.record),
            len(decisions.requeue),
        )

    async def _look_up(self, message: Claimed) -> recovery.Verdict:
        provider = self._refs.providers[message.provider_id]
        if not provider.impl.supports_lookup:
            return "unsupported"
        outbound = self._outbound(message, self._refs.senders[message.sender_id], provider)
        try:
            result = await provider.impl.find_sent(self.ctx.http, outbound, message.created_at)
        except ProviderError as exc:
            log.warning("could not look message %s up at the provider: %s", message.id, exc)
            return "unsupported"
        return result if result is not None else "absent"

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
        lane that died would strand the messages queued behind it."""
        provider = self._refs.providers[message.provider_id]
        async with self._slots:
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
        return outcomes.failed_send(message, provider.type, error, latency, self.retry)

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
