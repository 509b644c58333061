"""Twilio's Messages and Balance endpoints (REST API 2010-04-01), answering in the
shapes of Twilio's OpenAPI definition."""

from __future__ import annotations

import asyncio
import secrets
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from textcast import sms_segments
from textcast.simulator import callbacks
from textcast.simulator.rules import Refusal, check_send, final_status
from textcast.simulator.state import Account, SimulatedMessage, SimulatorState, now

API = "/2010-04-01/Accounts/{account_sid}"
STATE_KEY = web.AppKey("state", SimulatorState)
SESSION_KEY = web.AppKey("session", aiohttp.ClientSession)
NOT_FOUND = Refusal(20404, "The requested resource was not found", 404)
UNAUTHORIZED = Refusal(20003, "Authentication Error - invalid username or password", 401)
RATE_LIMITED = Refusal(20429, "Too Many Requests", 429)


def twilio_error(refusal: Refusal, headers: dict[str, str] | None = None) -> web.Response:
    """Twilio's JSON error body: code, message, more_info, status."""
    body = {
        "code": refusal.code,
        "message": refusal.message,
        "more_info": f"https://www.twilio.com/docs/errors/{refusal.code}",
        "status": refusal.status,
    }
    return web.json_response(body, status=refusal.status, headers=headers)


def _account(request: web.Request) -> Account | web.Response:
    """The caller's account, or the error answer when the credentials are wrong."""
    account = request.app[STATE_KEY].authenticate(request.headers.get("Authorization", ""))
    if account is None:
        return twilio_error(UNAUTHORIZED, {"WWW-Authenticate": 'Basic realm="Twilio API"'})
    if request.match_info["account_sid"] != account.sid:
        # Another account's resources: Twilio does not confirm they exist.
        return twilio_error(NOT_FOUND)
    return account


def resource(message: SimulatedMessage, *, as_created: bool = False) -> dict[str, Any]:
    """The message as Twilio's ``api.v2010.account.message``, as of now (or as
    it was when created: what Twilio answers a send with, queued or accepted,
    however slow the answer is)."""
    done = 0 if as_created else message.reached()
    status = message.steps[done - 1] if done else message.initial_status
    sent = message.steps.index("sent") if "sent" in message.steps else len(message.steps)
    uri = f"/2010-04-01/Accounts/{message.account_sid}/Messages/{message.sid}"
    updated = message.step_time(done - 1) if done else message.date_created
    return {
        "account_sid": message.account_sid,
        "api_version": "2010-04-01",
        "body": message.body,
        "date_created": format_datetime(message.date_created),
        "date_sent": format_datetime(message.step_time(sent)) if done > sent else None,
        "date_updated": format_datetime(updated),
        "direction": "outbound-api",
        "error_code": message.error_code if status in ("failed", "undelivered") else None,
        "error_message": None,
        "from": message.from_ if status == "accepted" else callbacks.sender(message),
        "messaging_service_sid": message.messaging_service_sid,
        "num_media": str(len(message.media_urls)),
        "num_segments": str(message.num_segments),
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": status,
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
        "to": message.to,
        "uri": f"{uri}.json",
    }


async def create_message(request: web.Request) -> web.Response:
    """``POST .../Messages.json``: validate like Twilio, accept, schedule callbacks."""
    state = request.app[STATE_KEY]
    state.post_count += 1
    if state.config.latency_ms:
        await asyncio.sleep(state.config.latency_ms / 1000)
    account = _account(request)
    if isinstance(account, web.Response):
        return account
    pairs = [(name, str(value)) for name, value in (await request.post()).items()]
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    to, body = _first(form, "To") or "", _first(form, "Body") or ""
    nth = state.count_post(to, body)
    # Twilio throttles before it looks at the message, so a 429 comes ahead of validation.
    if state.config.rate_limit_ratio and state.rng.random() < state.config.rate_limit_ratio:
        return twilio_error(RATE_LIMITED, {"Retry-After": "1"})
    refusal = check_send(form, account)
    if refusal is not None:
        return twilio_error(refusal)
    message = _accept(state, account, form, pairs, nth)
    if message.status_callback and state.config.callbacks:
        state.spawn(callbacks.run_status_callbacks(state, request.app[SESSION_KEY], message))
    return web.json_response(resource(message, as_created=True), status=201)


def _accept(
    state: SimulatorState,
    account: Account,
    form: dict[str, list[str]],
    pairs: list[tuple[str, str]],
    nth: int,
) -> SimulatedMessage:
    config = state.config
    to, body = form["To"][0], _first(form, "Body") or ""
    media, service = form.get("MediaUrl", []), _first(form, "MessagingServiceSid")
    rng = state.fate_rng(to, body, nth)
    code = rng.choice(config.failure_codes) if rng.random() < config.failure_ratio else None
    outcome = final_status(code)
    # No callback for the initial status; a service's message is queued once a sender is picked.
    steps = ("sent", outcome) if outcome != "failed" else (outcome,)
    message = SimulatedMessage(
        sid=("MM" if media else "SM") + secrets.token_hex(16),
        account_sid=account.sid,
        to=to,
        from_=_first(form, "From"),
        messaging_service_sid=service,
        body=body,
        media_urls=media,
        num_segments=sms_segments.analyze(body).segments,
        status_callback=_first(form, "StatusCallback"),
        params=pairs,
        date_created=now(),
        initial_status="accepted" if service else "queued",
        steps=("queued", *steps) if service else steps,
        step_seconds=config.callback_delay_ms / 1000,
        error_code=code,
        duplicate_callbacks=rng.random() < config.duplicate_callback_ratio,
        out_of_order=rng.random() < config.out_of_order_ratio,
    )
    state.messages[message.sid] = message
    return message


def _first(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


async def fetch_message(request: web.Request) -> web.Response:
    """``GET .../Messages/{Sid}.json``."""
    account = _account(request)
    if isinstance(account, web.Response):
        return account
    message = request.app[STATE_KEY].messages.get(request.match_info["sid"])
    if message is None or message.account_sid != account.sid:
        return twilio_error(NOT_FOUND)
    return web.json_response(resource(message))


async def list_messages(request: web.Request) -> web.Response:
    """``GET .../Messages.json``: newest first, filtered by To/From, paged like Twilio."""
    account = _account(request)
    if isinstance(account, web.Response):
        return account
    query = request.query
    to, from_ = query.get("To"), query.get("From")
    try:
        size = min(max(int(query.get("PageSize", "50")), 1), 1000)
        page = max(int(query.get("Page", "0")), 0)
    except ValueError:
        return twilio_error(Refusal(20001, "Invalid paging parameter"))
    found = [
        m
        for m in reversed(request.app[STATE_KEY].messages.values())
        if m.account_sid == account.sid
        and (to is None or m.to == to)
        and (from_ is None or callbacks.sender(m) == from_)
    ]
    start = page * size
    chunk = found[start : start + size]

    def page_uri(number: int) -> str:
        params = {k: v for k, v in (("To", to), ("From", from_)) if v is not None}
        return f"{request.path}?{urlencode({**params, 'PageSize': size, 'Page': number})}"

    return web.json_response(
        {
            "messages": [resource(m) for m in chunk],
            "page": page,
            "page_size": size,
            "start": start,
            "end": start + max(len(chunk) - 1, 0),
            "uri": page_uri(page),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if start + size < len(found) else None,
            "previous_page_uri": page_uri(page - 1) if page else None,
        }
    )


async def balance(request: web.Request) -> web.Response:
    """``GET .../Balance.json``."""
    account = _account(request)
    if isinstance(account, web.Response):
        return account
    config = request.app[STATE_KEY].config
    return web.json_response(
        {"account_sid": account.sid, "balance": config.balance, "currency": config.currency}
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post(f"{API}/Messages.json", create_message)
    app.router.add_get(f"{API}/Messages.json", list_messages)
    app.router.add_get(f"{API}/Messages/{{sid}}.json", fetch_message)
    app.router.add_get(f"{API}/Balance.json", balance)
