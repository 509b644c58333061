"""Signed requests the simulator makes, as Twilio makes them: status callbacks for
accepted messages and injected inbound messages."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import mimetypes
import secrets
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from yarl import URL

from textcast import sms_segments
from textcast.simulator.state import CallbackRecord, SimulatedMessage, SimulatorState, now

API_VERSION = "2010-04-01"
# The sender a Messaging Service "picks" once the message leaves "accepted".
SERVICE_SENDER = "+15005550006"
FORM = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "TwilioProxy/1.1"}


def sender(message: SimulatedMessage) -> str:
    return message.from_ or SERVICE_SENDER


def status_form(message: SimulatedMessage, status: str) -> list[tuple[str, str]]:
    """The parameters of one status callback."""
    form = [
        ("MessageSid", message.sid),
        ("SmsSid", message.sid),
        ("AccountSid", message.account_sid),
        ("From", sender(message)),
        ("To", message.to),
        ("MessageStatus", status),
        ("SmsStatus", status),
        ("ApiVersion", API_VERSION),
    ]
    if message.messaging_service_sid:
        form.append(("MessagingServiceSid", message.messaging_service_sid))
    if status in ("failed", "undelivered") and message.error_code is not None:
        form.append(("ErrorCode", str(message.error_code)))
    if status in ("delivered", "undelivered"):
        form.append(("RawDlrDoneDate", now().strftime("%y%m%d%H%M")))
    return form


def twilio_signature(token: str, url: str, form: Sequence[tuple[str, str]] = ()) -> str:
    """``X-Twilio-Signature`` as Twilio documents it: base64(HMAC-SHA1(auth token,
    URL + each parameter's name and value, sorted)). Written here rather than
    imported: the simulator is a test double, and Textcast's verifier must not
    be checked against itself (the ``twilio`` package is the tests' oracle)."""
    signed = url + "".join(name + value for name, value in sorted(set(form)))
    return base64.b64encode(hmac.digest(token.encode(), signed.encode(), hashlib.sha1)).decode()


async def send_signed(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str,
    form: list[tuple[str, str]],
    idempotency_token: str | None = None,
) -> tuple[int, str]:
    """POST ``form`` (signed over URL + params) or GET it in the query (signed over
    the full URL); returns the answer's status and text."""
    headers = {
        **FORM,
        "I-Twilio-Idempotency-Token": idempotency_token or secrets.token_hex(16),
    }
    data: bytes | None = None
    if method == "GET":
        url = f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(form)}"
        headers["X-Twilio-Signature"] = twilio_signature(token, url)
        del headers["Content-Type"]
    else:
        headers["X-Twilio-Signature"] = twilio_signature(token, url, form)
        data = urlencode(form).encode()
    # encoded=True sends the URL byte for byte as signed; aiohttp would otherwise re-quote it.
    async with session.request(
        method, URL(url, encoded=True), data=data, headers=headers
    ) as response:
        return response.status, await response.text(errors="replace")


def callback_order(message: SimulatedMessage) -> list[str]:
    """The statuses to report, in the order they are sent."""
    order = list(message.steps)
    if message.out_of_order and len(order) >= 2:
        order[-1], order[-2] = order[-2], order[-1]
    return order


async def run_status_callbacks(
    state: SimulatorState, session: aiohttp.ClientSession, message: SimulatedMessage
) -> None:
    """One callback per status change, ``step_seconds`` apart, signed with the
    account's token; a duplicate repeats the same idempotency token, as a retry would."""
    url = message.status_callback
    account = state.accounts.get(message.account_sid)
    if url is None or account is None:
        return
    for status in callback_order(message):
        await asyncio.sleep(message.step_seconds)
        form = status_form(message, status)
        token = secrets.token_hex(16)
        for attempt in range(1, 3 if message.duplicate_callbacks else 2):
            record = CallbackRecord(message.sid, status, url, None, None, token, attempt)
            try:
                record.http_status, _ = await send_signed(
                    session, "POST", url, account.auth_token, form, token
                )
            except Exception as exc:  # a dead target must never take the simulator down
                record.error = f"{type(exc).__name__}: {exc}"
            state.callback_log.append(record)


def inbound_form(account_sid: str, data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The parameters of an inbound SMS/MMS webhook for ``data`` (from, to, body,
    media_urls, messaging_service_sid)."""
    body = str(data.get("body") or "")
    media = [str(url) for url in data.get("media_urls") or []]
    sid = ("MM" if media else "SM") + secrets.token_hex(16)
    form = [
        ("ToCountry", "US"),
        ("ToState", "CA"),
        ("ToCity", "SAN FRANCISCO"),
        ("ToZip", "94105"),
        ("FromCountry", "US"),
        ("FromState", "CA"),
        ("FromCity", "SAN FRANCISCO"),
        ("FromZip", "94103"),
        ("SmsMessageSid", sid),
        ("SmsSid", sid),
        ("MessageSid", sid),
        ("AccountSid", account_sid),
        ("From", str(data.get("from") or "")),
        ("To", str(data.get("to") or "")),
        ("Body", body),
        ("NumMedia", str(len(media))),
        ("NumSegments", str(sms_segments.analyze(body).segments)),
        ("SmsStatus", "received"),
        ("ApiVersion", API_VERSION),
    ]
    if data.get("messaging_service_sid"):
        form.append(("MessagingServiceSid", str(data["messaging_service_sid"])))
    for index, url in enumerate(media):
        kind = mimetypes.guess_type(urlsplit(url).path)[0] or "application/octet-stream"
        form += [(f"MediaUrl{index}", url), (f"MediaContentType{index}", kind)]
    return form
