"""The simulator's HTTP server: Twilio's Messages and Balance endpoints plus a
small control API under ``/_simulator/``."""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from email.utils import format_datetime
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import ValidationError

from textcast import segments
from textcast.simulator import callbacks
from textcast.simulator.rules import Refusal, check_send
from textcast.simulator.state import Account, SimulatedMessage, SimulatorState, now

API = "/2010-04-01/Accounts/{account_sid}"
STATE_KEY = web.AppKey("state", SimulatorState)
SESSION_KEY = web.AppKey("session", aiohttp.ClientSession)


def twilio_error(refusal: Refusal, headers: dict[str, str] | None = None) -> web.Response:
    body = {
        "code": refusal.code,
        "message": refusal.message,
        "more_info": f"https://www.twilio.com/docs/errors/{refusal.code}",
        "status": refusal.status,
    }
    return web.json_response(body, status=refusal.status, headers=headers)


def _authenticate(request: web.Request) -> Account | web.Response:
    state = request.app[STATE_KEY]
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user, password = "", ""
    account = state.accounts.get(user)
    if (
        scheme != "Basic"
        or account is None
        or not secrets.compare_digest(account.auth_token, password)
    ):
        return twilio_error(Refusal(20003, "Authentication Error - invalid username", 401))
    if request.match_info["account_sid"] != account.sid:
        return twilio_error(Refusal(20404, "The requested resource was not found", 404))
    return account


def resource(message: SimulatedMessage) -> dict[str, Any]:
    """The message in the shape of Twilio's ``api.v2010.account.message``."""
    created = format_datetime(message.date_created)
    uri = f"/2010-04-01/Accounts/{message.account_sid}/Messages/{message.sid}.json"
    return {
        "account_sid": message.account_sid,
        "api_version": "2010-04-01",
        "body": message.body,
        "date_created": created,
        "date_sent": created,
        "date_updated": created,
        "direction": "outbound-api",
        "error_code": message.error_code if message.status in ("failed", "undelivered") else None,
        "error_message": None,
        "from": message.from_,
        "messaging_service_sid": message.messaging_service_sid,
        "num_media": str(len(message.media_urls)),
        "num_segments": str(message.num_segments),
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        "to": message.to,
        "uri": uri,
    }


async def create_message(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.post_count += 1
    account = _authenticate(request)
    if isinstance(account, web.Response):
        return account
    config = state.config
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)
    if config.rate_limit_ratio and state.rng.random() < config.rate_limit_ratio:
        return twilio_error(Refusal(20429, "Too Many Requests", 429), {"Retry-After": "1"})
    post = await request.post()
    form: dict[str, list[str]] = {}
    pairs = [(key, str(value)) for key, value in post.items()]
    for key, value in pairs:
        form.setdefault(key, []).append(value)
    refusal = check_send(form, account)
    if refusal is not None:
        return twilio_error(refusal)
    message = _accept(state, account, form, pairs)
    if message.status_callback and config.callbacks:
        task = asyncio.create_task(
            callbacks.run_status_callbacks(state, request.app[SESSION_KEY], message)
        )
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)
    return web.json_response(resource(message), status=201)


def _accept(
    state: SimulatorState,
    account: Account,
    form: dict[str, list[str]],
    pairs: list[tuple[str, str]],
) -> SimulatedMessage:
    media = form.get("MediaUrl", [])
    body = _first(form, "Body") or ""
    service = _first(form, "MessagingServiceSid")
    failing = state.rng.random() < state.config.failure_ratio
    code = state.rng.choice(state.config.failure_codes) if failing else None
    message = SimulatedMessage(
        sid=("MM" if media else "SM") + secrets.token_hex(16),
        account_sid=account.sid,
        to=form["To"][0],
        from_=_first(form, "From"),
        messaging_service_sid=service,
        body=body,
        media_urls=media,
        status="accepted" if service else "queued",
        num_segments=segments.analyze(body).segments if body else 1,
        status_callback=_first(form, "StatusCallback"),
        params=pairs,
        date_created=now(),
        error_code=code,
        # Carrier-level refusals come back as "undelivered", Twilio-side ones as "failed".
        outcome=("undelivered" if code in (30003, 30005, 30006) else "failed")
        if failing
        else "delivered",
    )
    state.messages[message.sid] = message
    return message


def _first(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


async def fetch_message(request: web.Request) -> web.Response:
    account = _authenticate(request)
    if isinstance(account, web.Response):
        return account
    message = request.app[STATE_KEY].messages.get(request.match_info["sid"])
    if message is None or message.account_sid != account.sid:
        return twilio_error(Refusal(20404, "The requested resource was not found", 404))
    return web.json_response(resource(message))


async def list_messages(request: web.Request) -> web.Response:
    account = _authenticate(request)
    if isinstance(account, web.Response):
        return account
    to, from_ = request.query.get("To"), request.query.get("From")
    found = [
        resource(m)
        for m in request.app[STATE_KEY].messages.values()
        if m.account_sid == account.sid
        and (to is None or m.to == to)
        and (from_ is None or m.from_ == from_)
    ]
    return web.json_response({"messages": found, "page": 0, "page_size": len(found)})


async def balance(request: web.Request) -> web.Response:
    account = _authenticate(request)
    if isinstance(account, web.Response):
        return account
    config = request.app[STATE_KEY].config
    return web.json_response(
        {"account_sid": account.sid, "balance": config.balance, "currency": config.currency}
    )


# --- control API ---------------------------------------------------------------------


async def get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].config.model_dump())


async def patch_config(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        changes = await request.json()
        merged = state.config.model_copy(update={})
        state.config = type(merged).model_validate({**merged.model_dump(), **changes})
    except (ValueError, TypeError, ValidationError) as exc:
        return web.json_response({"error": "invalid config", "message": str(exc)[:500]}, status=422)
    if "seed" in changes:
        state.reseed()
    return web.json_response(state.config.model_dump())


async def add_account(request: web.Request) -> web.Response:
    try:
        data = await request.json()
        account = request.app[STATE_KEY].add_account(
            str(data["account_sid"]),
            str(data["auth_token"]),
            bool(data.get("trial", False)),
            list(data.get("verified_numbers", [])),
        )
    except (ValueError, KeyError, TypeError) as exc:
        return web.json_response({"error": "invalid account", "message": str(exc)}, status=422)
    return web.json_response({"account_sid": account.sid, "trial": account.trial}, status=201)


async def sent_messages(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.json_response(
        {
            "post_count": state.post_count,
            "messages": [
                {**resource(m), "params": m.params, "status_callback": m.status_callback}
                for m in state.messages.values()
            ],
        }
    )


async def callback_log(request: web.Request) -> web.Response:
    log = request.app[STATE_KEY].callback_log
    return web.json_response([vars(record) for record in log])


async def reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return web.json_response({"reset": True})


async def inject_inbound(request: web.Request) -> web.Response:
    """Send a reply from a handset to ``url`` the way Twilio delivers inbound SMS."""
    state = request.app[STATE_KEY]
    try:
        data = await request.json()
        url, sid = str(data["url"]), str(data["account_sid"])
        account = state.accounts[sid]
        method = str(data.get("method", "POST")).upper()
        if method not in ("POST", "GET"):
            raise ValueError("method must be POST or GET")
    except (ValueError, KeyError, TypeError) as exc:
        return web.json_response({"error": "invalid inbound", "message": str(exc)}, status=422)
    form = inbound_form(account.sid, data)
    send = callbacks.post_signed if method == "POST" else callbacks.get_signed
    try:
        status, text = await send(request.app[SESSION_KEY], url, account.auth_token, form)
    except (aiohttp.ClientError, OSError) as exc:
        return web.json_response({"status": None, "error": str(exc)}, status=502)
    return web.json_response({"status": status, "body": text})


def inbound_form(account_sid: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    sid = "SM" + secrets.token_hex(16)
    body = str(data.get("body", ""))
    media = [str(url) for url in data.get("media_urls", [])]
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
        ("From", str(data.get("from", ""))),
        ("To", str(data.get("to", ""))),
        ("Body", body),
        ("NumMedia", str(len(media))),
        ("NumSegments", str(segments.analyze(body).segments)),
        ("SmsStatus", "received"),
        ("ApiVersion", "2010-04-01"),
    ]
    if data.get("messaging_service_sid"):
        form.append(("MessagingServiceSid", str(data["messaging_service_sid"])))
    form += [(f"MediaUrl{i}", url) for i, url in enumerate(media)]
    return form


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _session_context(app: web.Application) -> Any:
    app[SESSION_KEY] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    yield
    for task in list(app[STATE_KEY].tasks):
        task.cancel()
    await app[SESSION_KEY].close()


def create_app(state: SimulatorState) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[STATE_KEY] = state
    app.cleanup_ctx.append(_session_context)
    app.router.add_post(f"{API}/Messages.json", create_message)
    app.router.add_get(f"{API}/Messages.json", list_messages)
    app.router.add_get(f"{API}/Messages/{{sid}}.json", fetch_message)
    app.router.add_get(f"{API}/Balance.json", balance)
    app.router.add_get("/_simulator/config", get_config)
    app.router.add_patch("/_simulator/config", patch_config)
    app.router.add_post("/_simulator/accounts", add_account)
    app.router.add_get("/_simulator/messages", sent_messages)
    app.router.add_get("/_simulator/callbacks", callback_log)
    app.router.add_post("/_simulator/reset", reset)
    app.router.add_post("/_simulator/inbound", inject_inbound)
    app.router.add_get("/_simulator/healthz", healthz)
    return app


async def start_simulator(state: SimulatorState, host: str, port: int) -> web.AppRunner:
    """Serve ``state`` on host:port until the returned runner is cleaned up."""
    runner = web.AppRunner(create_app(state), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def run_simulator_forever(host: str, port: int, accounts: dict[str, str]) -> None:
    state = SimulatorState()
    for sid, token in accounts.items():
        state.add_account(sid, token)
    web.run_app(create_app(state), host=host, port=port, access_log=None, print=None)
