"""The dispatch loop: claim a batch, send with bounded concurrency, record in bulk.

Sending and recording are decoupled: each finished send drops an
:class:`Outcome` into a buffer that a flusher writes every few milliseconds in
one transaction, so the database is not the bottleneck and a slow provider
call never holds a database connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from textcast import error_codes, metrics, status
from textcast.context import Context
from textcast.db.models import Message, Sender, utcnow
from textcast.db.models import Provider as ProviderRow
from textcast.dispatch import outbox, pacing, recovery
from textcast.dispatch.outbox import Claimed, Outcome
from textcast.dispatch.reconcile import reconcile_once
from textcast.dispatch.retry import RetryStrategy
from textcast.errors import ProviderError
from textcast.providers.base import OutboundMessage, Provider
from textcast.services.providers import instantiate
from textcast.webhooks.meta import sign_meta, with_meta
from textcast.webhooks.urls import callback_base

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.02
RECONCILE_INTERVAL = 60.0
SUPPRESSED_CODE = "21610"


@dataclass
class _LoadedProvider:
    updated_at: object
    type: str
    impl: Provider
    webhook_secret: str


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
        self._providers: dict[int, _LoadedProvider] = {}
        self._senders: dict[int, Sender] = {}
        self._results: list[Outcome] = []
        self._inflight: set[asyncio.Task[None]] = set()
        # Sends in progress are capped by the semaphore; claimed messages waiting
        # for a slot are capped at a few times that, so claims come in large
        # batches (few transactions) without hoarding the queue from other workers.
        self._slots = asyncio.Semaphore(ctx.settings.dispatch_concurrency)
        # Per provider account too: one slow provider must not take every slot.
        self._provider_slots: dict[int, asyncio.Semaphore] = {}
        self._stopping = asyncio.Event()
        self._max_claimed = max(
            ctx.settings.dispatch_concurrency * 4, ctx.settings.dispatch_batch_size
        )
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
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=shutdown_timeout)
            for task in self._inflight:
                task.cancel()
            await flusher
            await self.flush()

    async def step(self) -> int:
        """Claim what fits in the free concurrency and start sending it."""
        await self._maybe_requeue_expired()
        await self._maybe_reconcile()
        capacity = self._max_claimed - len(self._inflight)
        if capacity < min(self.settings.dispatch_batch_size, self._max_claimed // 2):
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
            return 1
        batch = await self._claim(min(capacity, self.settings.dispatch_batch_size))
        for message, send_at in batch:
            task = asyncio.create_task(self._send(message, send_at))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        return len(batch)

    async def drain(self, timeout: float = 30.0) -> None:
        """Send until no message is queued or in flight (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            claimed = await self.step()
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=0.05)
            await self.flush()
            if not claimed and not self._inflight:
                if not await self._pending():
                    return
                await asyncio.sleep(self.settings.dispatch_poll_interval)
        raise TimeoutError("dispatcher did not drain in time")

    async def _pending(self) -> int:
        """Messages still waiting: paced, backing off, or held by another worker."""
        async with self.ctx.sessions() as session:
            query = select(func.count()).where(
                Message.status.in_((status.QUEUED, status.DISPATCHING))
            )
            return int(await session.scalar(query) or 0)

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set() or self._inflight:
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
            await self._load_refs(session, batch)
            suppressed = await outbox.suppressed_numbers(session, batch)
            sendable = [m for m in batch if (m.provider_id, m.to) not in suppressed]
            planned = await pacing.plan(
                session,
                [(m.id, m.sender_id, m.segments) for m in sendable],
                {m.sender_id: self._senders[m.sender_id].mps for m in sendable},
                time.time(),
            )
            # Over the sender's pace: back to the queue in this same transaction, untried.
            released = [_released(mid, at) for mid, at in planned.released.items()]
            await outbox.record(session, self.worker_id, released)
        self._results.extend(_suppressed(m) for m in batch if (m.provider_id, m.to) in suppressed)
        return [(m, planned.send_at[m.id]) for m in sendable if m.id in planned.send_at]

    async def _load_refs(self, session: object, batch: Sequence[Claimed]) -> None:
        """Refresh the senders and providers a batch needs (one query each)."""
        assert hasattr(session, "scalars")
        sender_ids = {m.sender_id for m in batch}
        for sender in await session.scalars(select(Sender).where(Sender.id.in_(sender_ids))):
            self._senders[sender.id] = sender
        provider_ids = {m.provider_id for m in batch}
        rows = await session.scalars(select(ProviderRow).where(ProviderRow.id.in_(provider_ids)))
        for row in rows:
            cached = self._providers.get(row.id)
            if cached is None or cached.updated_at != row.updated_at:
                self._providers[row.id] = _LoadedProvider(
                    row.updated_at,
                    row.type,
                    instantiate(self.ctx, row),
                    str(self.ctx.box.decrypt(row.webhook_secret_encrypted)),
                )

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
                await self._load_refs(session, taken)
        if not taken:
            return
        verdicts = await asyncio.gather(
            *(self._look_up(m, self._providers[m.provider_id]) for m in taken)
        )
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

    async def _look_up(self, message: Claimed, provider: _LoadedProvider) -> recovery.Verdict:
        if not provider.impl.supports_lookup:
            return "unsupported"
        outbound = self._outbound(message, self._senders[message.sender_id], provider)
        try:
            result = await provider.impl.find_sent(self.ctx.http, outbound, message.created_at)
        except ProviderError as exc:
            log.warning("could not look message %s up at the provider: %s", message.id, exc)
            return "unsupported"
        return result if result is not None else "absent"

    # --- sending -------------------------------------------------------------------

    async def _send(self, message: Claimed, send_at: float) -> None:
        """Wait for the slot the shared pacing gave this message, then send it."""
        sender = self._senders[message.sender_id]
        provider = self._providers[message.provider_id]
        wait = send_at - time.time()
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), wait)
        outbound = self._outbound(message, sender, provider)
        provider_slots = self._provider_slots.setdefault(
            message.provider_id, asyncio.Semaphore(self.settings.provider_concurrency)
        )
        async with provider_slots, self._slots:
            if self._stopping.is_set():
                self._results.append(_released(message.id, time.time()))
                return
            await self._send_now(message, provider, outbound)

    async def _send_now(
        self, message: Claimed, provider: _LoadedProvider, outbound: OutboundMessage
    ) -> None:
        started = time.perf_counter()
        try:
            result = await provider.impl.send(self.ctx.http, outbound)
        except ProviderError as error:
            self._results.append(self._failure(message, provider, error, started))
        except Exception as exc:  # a bug must not lose the message: retry it like a network error
            log.exception("unexpected error sending message %s", message.id)
            internal = ProviderError("internal", f"{type(exc).__name__}: {exc}", permanent=False)
            self._results.append(self._failure(message, provider, internal, started))
        else:
            latency = time.perf_counter() - started
            metrics.SENDS.labels(provider.type, "accepted").inc()
            metrics.SEND_LATENCY.observe(latency)
            self._results.append(
                Outcome(
                    message.id,
                    "accepted",
                    provider_message_id=result.provider_message_id,
                    new_status=result.status,
                    latency_ms=latency * 1000,
                )
            )

    def _outbound(
        self, message: Claimed, sender: Sender, provider: _LoadedProvider
    ) -> OutboundMessage:
        base = sender.custom_callback_url or callback_base(
            self.settings, provider.type, message.provider_id, provider.webhook_secret
        )
        callback = with_meta(base, sign_meta(provider.webhook_secret, message.id, sender.id))
        return OutboundMessage(
            message_id=message.id,
            to=message.to,
            body=message.body,
            sender_type=sender.type,
            sender_id=sender.sender_id,
            media_urls=message.media_urls,
            status_callback=callback,
        )

    def _failure(
        self, message: Claimed, provider: _LoadedProvider, error: ProviderError, started: float
    ) -> Outcome:
        latency = time.perf_counter() - started
        metrics.SEND_LATENCY.observe(latency)
        # The catalogue holds Twilio's codes; another provider's "21610" means something else.
        catalogue = provider.type == "twilio"
        description = error_codes.describe(error.code) if catalogue else None
        text = (
            f"{error.message} — {description}"
            if description and description != error.message
            else error.message
        )
        if self.retry.should_retry(error, message.attempts):
            metrics.SENDS.labels(provider.type, "retry").inc()
            delay = self.retry.delay(message.attempts, error.retry_after)
            return Outcome(
                message.id,
                "retry",
                error_code=error.code,
                error_message=text,
                http_status=error.http_status,
                latency_ms=latency * 1000,
                next_attempt_at=utcnow() + timedelta(seconds=delay),
            )
        metrics.SENDS.labels(provider.type, "failed").inc()
        lookup = error_codes.lookup(error.code) if catalogue else None
        suppress = (
            (message.provider_id, message.to) if lookup and lookup.suppress_recipient else None
        )
        return Outcome(
            message.id,
            "failed",
            error_code=error.code,
            error_message=text,
            http_status=error.http_status,
            latency_ms=latency * 1000,
            suppress=suppress,
        )


def _released(message_id: int, due_at: float) -> Outcome:
    return Outcome(message_id, "released", next_attempt_at=datetime.fromtimestamp(due_at, UTC))


def _suppressed(message: Claimed) -> Outcome:
    return Outcome(
        message.id,
        "failed",
        error_code=SUPPRESSED_CODE,
        error_message="recipient is on the suppression list (opted out); not sent",
    )
