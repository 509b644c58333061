"""Delivering events to operators' webhook endpoints: at least once, signed,
retried with backoff, every answered attempt in the delivery log.

Two steps, each its own short transaction, so any number of processes can run
this loop on PostgreSQL:

1. Fan-out: each endpoint keeps a cursor (``last_event_id``); new events of the
   types it wants become ``webhook_deliveries`` rows and the cursor moves on,
   under a row lock on the endpoint. Only events older than ``settle_seconds``
   are read: PostgreSQL hands out IDs before commit, so a younger, lower ID
   could still be committing; two seconds is far longer than any Textcast
   transaction that writes events.
2. Delivery: due rows are claimed by pushing ``next_attempt_at`` one lease into
   the future (``SKIP LOCKED`` on PostgreSQL), POSTed, and then marked
   delivered, rescheduled with exponential backoff and jitter, or failed after
   ``max_attempts``; each attempt's answer (or error) and latency become a
   ``webhook_attempts`` row in the same transaction. A process that dies
   mid-delivery leaves its rows due again when the lease passes (that attempt
   is counted, with no row); receivers deduplicate by the event ``id``.

Request: POST, ``Content-Type: application/json``, body is the event as the
Events API shows it; headers ``Textcast-Signature`` (see
:mod:`textcast.hmac_signing`), ``Textcast-Event-Id``, ``Textcast-Event-Type``
and ``Textcast-Delivery-Attempt``. Any 2xx answer counts as delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import aiohttp
from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import hmac_signing
from textcast.context import Context
from textcast.db.dialect import dialect_of
from textcast.db.models import (
    MessageEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from textcast.netguard import TargetRefused
from textcast.services import events

log = logging.getLogger(__name__)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
ERROR_SNIPPET = 200  # bytes of a refusing receiver's answer kept in the log
DELIVERIES = cast(Table, WebhookDelivery.__table__)
ATTEMPTS = cast(Table, WebhookAttempt.__table__)


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 10
    base_delay: float = 5.0  # seconds before the second attempt; doubles each time
    max_delay: float = 3600.0
    timeout: float = 10.0
    lease_seconds: float = 60.0
    settle_seconds: float = 2.0
    batch_size: int = 200
    concurrency: int = 20

    def delay(self, attempts: int) -> float:
        """Backoff after ``attempts`` failed tries, with ±20% jitter so a
        recovering endpoint is not hit by every retry at once."""
        raw = min(self.max_delay, self.base_delay * 2 ** max(0, attempts - 1))
        return float(raw * random.uniform(0.8, 1.2))


@dataclass(frozen=True)
class _Payload:
    """One event as it is POSTed: its type (the ``Textcast-Event-Type`` header)
    and the JSON body."""

    type: str
    body: bytes


@dataclass(frozen=True)
class _Attempt:
    delivery_id: int
    ok: bool
    response_status: int | None
    error: str | None
    started_at: datetime
    latency_ms: int | None = None  # None when no request was made


class EventNotifier:
    def __init__(self, ctx: Context, policy: DeliveryPolicy | None = None) -> None:
        self.ctx = ctx
        self.policy = policy or DeliveryPolicy()
        self._slots = asyncio.Semaphore(self.policy.concurrency)

    async def run(self, stop: asyncio.Event, poll_interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                busy = await self.step()
            except Exception:  # a database hiccup must not end the loop
                log.exception("webhook delivery step failed")
                busy = 0
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll_interval)

    async def step(self) -> int:
        return await self.fan_out() + await self.deliver_due()

    async def fan_out(self) -> int:
        created = 0
        settled_before = utcnow() - timedelta(seconds=self.policy.settle_seconds)
        async with self.ctx.write_session() as session:
            query = select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))
            query = dialect_of(session).skip_locked(query)
            for endpoint in await session.scalars(query):
                created += await self._fan_out_one(session, endpoint, settled_before)
        return created

    async def _fan_out_one(
        self, session: AsyncSession, endpoint: WebhookEndpoint, settled_before: Any
    ) -> int:
        rows = (
            await session.execute(
                select(MessageEvent.id, MessageEvent.type)
                .where(
                    MessageEvent.id > endpoint.last_event_id,
                    MessageEvent.created_at <= settled_before,
                )
                .order_by(MessageEvent.id)
                .limit(self.policy.batch_size * 5)
            )
        ).all()
        if not rows:
            return 0
        wanted = set(endpoint.event_types)
        now = utcnow()
        new = [
            {
                "endpoint_id": endpoint.id,
                "event_id": row.id,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for row in rows
            if not wanted or row.type in wanted
        ]
        if new:
            await session.execute(insert(DELIVERIES), new)
        endpoint.last_event_id = rows[-1].id
        return len(new)

    async def deliver_due(self) -> int:
        claimed = await self._claim()
        if not claimed:
            return 0
        deliveries, endpoints, payloads = claimed
        results = await asyncio.gather(
            *(
                self._deliver(d, endpoints[d.endpoint_id], payloads.get(d.event_id))
                for d in deliveries
            )
        )
        await self._record(results, {d.id: d.attempts for d in deliveries})
        return len(deliveries)

    async def _claim(
        self,
    ) -> tuple[list[WebhookDelivery], dict[int, tuple[str, str]], dict[int, _Payload]] | None:
        now = utcnow()
        async with self.ctx.write_session() as session:
            query = (
                select(WebhookDelivery)
                .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(self.policy.batch_size)
            )
            query = dialect_of(session).skip_locked(query)
            deliveries = list(await session.scalars(query))
            if not deliveries:
                return None
            lease_until = now + timedelta(seconds=self.policy.lease_seconds)
            for delivery in deliveries:
                # The delivery row shows the latest attempt (earlier ones are rows of
                # webhook_attempts): clear the previous answer so attempts,
                # last_attempt_at, response_status and error describe the same
                # attempt (no answer yet while it is under way).
                delivery.attempts += 1
                delivery.next_attempt_at = lease_until
                delivery.last_attempt_at = now
                delivery.response_status = None
                delivery.error = None
            await session.flush()  # before expunge_all below, which would drop these
            endpoint_rows = await session.scalars(
                select(WebhookEndpoint).where(
                    WebhookEndpoint.id.in_({d.endpoint_id for d in deliveries})
                )
            )
            endpoints = {
                e.id: (e.url, str(self.ctx.box.decrypt(e.secret_encrypted))) for e in endpoint_rows
            }
            found = await events.by_ids(session, sorted({d.event_id for d in deliveries}))
            payloads = {event_id: _payload(view) for event_id, view in found.items()}
            session.expunge_all()
        return deliveries, endpoints, payloads

    async def _deliver(
        self, delivery: WebhookDelivery, endpoint: tuple[str, str], payload: _Payload | None
    ) -> _Attempt:
        if payload is None:  # the event was deleted with its message
            return _Attempt(delivery.id, False, None, "event no longer exists", utcnow())
        url, secret = endpoint
        body = payload.body
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Textcast-Webhooks/1",
            "Textcast-Signature": hmac_signing.sign(secret, body),
            "Textcast-Event-Id": str(delivery.event_id),
            "Textcast-Event-Type": payload.type,
            "Textcast-Delivery-Attempt": str(delivery.attempts),
        }
        async with self._slots:
            started_at = utcnow()  # when the slot is ours, not when the batch was claimed
            clock = time.monotonic()
            try:
                await self.ctx.guard.check(url)
            except TargetRefused as exc:
                return _Attempt(delivery.id, False, None, str(exc), started_at)
            try:
                timeout = aiohttp.ClientTimeout(total=self.policy.timeout)
                async with self.ctx.http.session.post(
                    url, data=body, headers=headers, timeout=timeout, allow_redirects=False
                ) as response:
                    answer = await response.read()
                    ok = 200 <= response.status < 300
                    error = None if ok else _http_error(response.status, answer)
                    status: int | None = response.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                ok, status, error = False, None, f"{type(exc).__name__}: {exc}"[:500]
            latency_ms = round((time.monotonic() - clock) * 1000)
            return _Attempt(delivery.id, ok, status, error, started_at, latency_ms)

    async def _record(self, results: list[_Attempt], attempts: dict[int, int]) -> None:
        now = utcnow()
        table = DELIVERIES
        history = []
        async with self.ctx.write_session() as session:
            connection = await session.connection()  # its results carry rowcount
            for result in results:
                tries = attempts[result.delivery_id]
                if result.ok:
                    values: dict[str, Any] = {"status": DELIVERED, "delivered_at": now}
                elif tries >= self.policy.max_attempts:
                    values = {"status": FAILED}
                else:
                    values = {"next_attempt_at": now + timedelta(seconds=self.policy.delay(tries))}
                values.update(response_status=result.response_status, error=result.error)
                changed = await connection.execute(
                    update(table).where(table.c.id == result.delivery_id).values(**values)
                )
                # Gone when its endpoint was deleted meanwhile: no history to add to.
                if changed.rowcount:
                    history.append(
                        {
                            "delivery_id": result.delivery_id,
                            "attempt": tries,
                            "started_at": result.started_at,
                            "latency_ms": result.latency_ms,
                            "response_status": result.response_status,
                            "error": result.error,
                        }
                    )
            if history:
                await connection.execute(insert(ATTEMPTS), history)


def _http_error(status: int, answer: bytes) -> str:
    """``HTTP 503``, with the start of the receiver's answer when it gave one."""
    snippet = " ".join(answer[:ERROR_SNIPPET].decode(errors="replace").split())
    return f"HTTP {status}: {snippet}" if snippet else f"HTTP {status}"


def _payload(view: dict[str, Any]) -> _Payload:
    return _Payload(str(view["type"]), json.dumps(view, separators=(",", ":")).encode())
