"""Sending claimed messages: each provider account's send lanes, the process's
send slots, and one send attempt with its outcome.

Sends in progress are capped per process by the slots, and per provider
account by its lanes, so one slow provider cannot take every slot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from textcast import metrics
from textcast.callback_meta import sign_meta, with_meta
from textcast.context import Context
from textcast.dispatch import outcomes
from textcast.dispatch.claims import Claimed
from textcast.dispatch.lanes import SendLanes
from textcast.dispatch.leases import HeldLeases
from textcast.dispatch.outcomes import Outcome
from textcast.dispatch.references import LoadedProvider, LoadedSender, References
from textcast.errors import ProviderError
from textcast.providers.base import OutboundMessage
from textcast.retry import RetryStrategy

log = logging.getLogger(__name__)


class Sending:
    """Sends claimed messages when they are due; each one's outcome goes to
    ``finish``, which must not raise."""

    def __init__(
        self,
        ctx: Context,
        refs: References,
        leases: HeldLeases,
        retry: RetryStrategy,
        finish: Callable[[Outcome], None],
    ) -> None:
        self._ctx = ctx
        self._settings = ctx.settings
        self._refs = refs
        self._leases = leases
        self._retry = retry
        self._finish = finish
        self._slots = asyncio.Semaphore(ctx.settings.dispatch_concurrency)
        self._lanes: dict[int, SendLanes[Claimed]] = {}
        self._stopping = asyncio.Event()

    def add(self, message: Claimed, send_at: float) -> None:
        """Send ``message`` at ``send_at`` (epoch seconds), or as soon after as
        its provider has a free lane."""
        lanes = self._lanes.get(message.provider_id)
        if lanes is None:
            lanes = self._lanes[message.provider_id] = SendLanes(
                self._settings.provider_concurrency, self._send, self._hand_back, self._stopping
            )
        lanes.add(message, send_at)

    def stop(self) -> None:
        """Hand back every message not yet started; the sends under way go on."""
        self._stopping.set()
        for provider_lanes in self._lanes.values():
            provider_lanes.stop()

    def running(self) -> set[asyncio.Task[None]]:
        """The lanes with a send under way (or about to start one)."""
        return {lane for lanes in self._lanes.values() for lane in lanes.lanes}

    def under_way(self) -> bool:
        return any(lanes.lanes for lanes in self._lanes.values())

    def _hand_back(self, message: Claimed) -> None:
        """Stopping: the message goes back to the queue untried, due now."""
        self._finish(outcomes.released(message.id, time.time()))

    async def _send(self, message: Claimed) -> None:
        """One send attempt, its outcome finished. Never raises: a lane that
        died would strand the messages queued behind it.

        A message whose lease this worker may no longer hold is not sent: it
        goes back untried (a no-op when someone else holds it now)."""
        provider = self._refs.providers[message.provider_id]
        async with self._slots:
            if not self._leases.holds(message.id):
                self._finish(outcomes.released(message.id, time.time()))
                return
            started = time.perf_counter()
            try:
                outbound = outbound_message(
                    message, self._refs.senders[message.sender_id], provider
                )
                result = await provider.impl.send(self._ctx.http, outbound)
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
            provider.type, provider.impl.supports_lookup, self._settings.resend_unknown
        )
        return outcomes.failed_send(message, traits, error, latency, self._retry)


def outbound_message(
    message: Claimed, sender: LoadedSender, provider: LoadedProvider
) -> OutboundMessage:
    """What the provider is sent for ``message`` (or asked about, by recovery),
    its status callback carrying the signed ``meta``."""
    base = sender.custom_callback_url or provider.status_callback
    meta = sign_meta(
        provider.webhook_secret,
        message.id,
        sender.id,
        contact_id=message.contact_id,
        campaign=message.campaign,
        automation=message.automation,
        variant=message.variant,
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
        template_id=message.template_id,
        content_variables=message.content_variables,
    )
