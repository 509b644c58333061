"""Signed status callbacks and injected inbound messages, as Twilio sends them."""

from __future__ import annotations

import asyncio
import secrets
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from textcast.simulator.state import CallbackRecord, SimulatedMessage, SimulatorState, now
from textcast.webhooks.signature import compute_signature

API_VERSION = "2010-04-01"
FINAL = frozenset({"delivered", "undelivered", "failed"})


def status_payload(message: SimulatedMessage, status: str) -> list[tuple[str, str]]:
    form = [
        ("MessageSid", message.sid),
        ("SmsSid", message.sid),
        ("AccountSid", message.account_sid),
        ("From", message.from_ or ""),
        ("To", message.to),
        ("MessageStatus", status),
        ("SmsStatus", status),
        ("ApiVersion", API_VERSION),
    ]
    if message.messaging_service_sid:
        form.append(("MessagingServiceSid", message.messaging_service_sid))
    if status in ("failed", "undelivered") and message.error_code:
        form.append(("ErrorCode", str(message.error_code)))
    if status in ("delivered", "undelivered"):
        form.append(("RawDlrDoneDate", now().strftime("%y%m%d%H%M")))
    return form


async def post_signed(
    session: aiohttp.ClientSession, url: str, token: str, form: list[tuple[str, str]]
) -> tuple[int, str]:
    headers = {
        "X-Twilio-Signature": compute_signature(token, url, form),
        "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        "User-Agent": "TwilioProxy/1.1",
    }
    async with session.post(url, data=form, headers=headers) as response:
        return response.status, await response.text()


async def get_signed(
    session: aiohttp.ClientSession, url: str, token: str, form: list[tuple[str, str]]
) -> tuple[int, str]:
    full = f"{url}{'&' if '?' in url else '?'}{urlencode(form)}"
    headers = {
        "X-Twilio-Signature": compute_signature(token, full),
        "User-Agent": "TwilioProxy/1.1",
    }
    # encoded=True: send the very bytes that were signed, without re-quoting.
    async with session.get(URL(full, encoded=True), headers=headers) as response:
        return response.status, await response.text()


async def run_status_callbacks(
    state: SimulatorState, session: aiohttp.ClientSession, message: SimulatedMessage
) -> None:
    """queued/accepted → sent → final (optionally duplicated or out of order), each signed."""
    if not message.status_callback or not state.config.callbacks:
        return
    sequence = [message.status, "sent", message.outcome]
    if state.rng.random() < state.config.out_of_order_ratio:
        sequence = [message.outcome, message.status, "sent"]
    token = state.accounts[message.account_sid].auth_token
    for status in sequence:
        await asyncio.sleep(state.config.callback_delay_ms / 1000)
        if message.status not in FINAL:
            message.status = status
        repeats = 2 if state.rng.random() < state.config.duplicate_callback_ratio else 1
        for _ in range(repeats):
            await _deliver(state, session, message, status, token)


async def _deliver(
    state: SimulatorState,
    session: aiohttp.ClientSession,
    message: SimulatedMessage,
    status: str,
    token: str,
) -> None:
    url = message.status_callback or ""
    try:
        code, _ = await post_signed(session, url, token, status_payload(message, status))
        state.callback_log.append(CallbackRecord(message.sid, status, url, code))
    except (
        aiohttp.ClientError,
        TimeoutError,
        OSError,
    ) as exc:  # the target may be down; never crash
        state.callback_log.append(CallbackRecord(message.sid, status, url, None, str(exc)))
