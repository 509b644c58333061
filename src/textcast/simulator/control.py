"""The simulator's own JSON API under ``/_simulator/``: behaviour settings, accounts,
what was received and sent, reset, and injected inbound messages."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from textcast.simulator import callbacks
from textcast.simulator.state import SimulatorConfig
from textcast.simulator.twilio_api import SESSION_KEY, STATE_KEY, resource


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_sid: str = Field(min_length=1)
    auth_token: str = Field(min_length=1)
    trial: bool = False
    verified_numbers: list[str] = []


class InboundIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    url: str = Field(pattern=r"^https?://")
    method: Literal["POST", "GET"] = "POST"
    account_sid: str
    from_: str = Field(alias="from")
    to: str
    body: str = ""
    media_urls: list[str] = []
    messaging_service_sid: str | None = None


def invalid(error: str, exc: Exception) -> web.Response:
    detail = exc.errors(include_url=False) if isinstance(exc, ValidationError) else str(exc)
    return web.json_response({"error": error, "detail": detail}, status=422, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)  # validation details may hold exceptions


async def _json_object(request: web.Request) -> dict[str, Any]:
    data = await request.json()
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


async def get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].config.model_dump())


async def patch_config(request: web.Request) -> web.Response:
    """Merge the given fields into the config; 422 (nothing changed) when invalid."""
    state = request.app[STATE_KEY]
    try:
        changes = await _json_object(request)
        state.config = SimulatorConfig.model_validate({**state.config.model_dump(), **changes})
    except (ValueError, ValidationError) as exc:
        return invalid("invalid config", exc)
    if "seed" in changes:
        state.reseed()
    return web.json_response(state.config.model_dump())


async def add_account(request: web.Request) -> web.Response:
    try:
        data = AccountIn.model_validate(await _json_object(request))
    except (ValueError, ValidationError) as exc:
        return invalid("invalid account", exc)
    account = request.app[STATE_KEY].add_account(
        data.account_sid, data.auth_token, data.trial, data.verified_numbers
    )
    return web.json_response({"account_sid": account.sid, "trial": account.trial}, status=201)


async def sent_messages(request: web.Request) -> web.Response:
    """Every accepted message with its raw params, plus the POST counters."""
    state = request.app[STATE_KEY]
    return web.json_response(
        {
            "post_count": state.post_count,
            "post_counts": [
                {"to": to, "body": body, "count": count}
                for (to, body), count in state.post_counts.items()
            ],
            "messages": [
                {
                    **resource(m),
                    "params": m.params,
                    "status_callback": m.status_callback,
                    "media_urls": m.media_urls,
                    "outcome": m.outcome,
                }
                for m in state.messages.values()
            ],
        }
    )


async def callback_log(request: web.Request) -> web.Response:
    return web.json_response([asdict(record) for record in request.app[STATE_KEY].callback_log])


async def reset(request: web.Request) -> web.Response:
    """Forget messages, counters and logs, and drop callbacks still pending."""
    state = request.app[STATE_KEY]
    await state.cancel_tasks()
    state.reset()
    return web.json_response({"reset": True})


async def inject_inbound(request: web.Request) -> web.Response:
    """Deliver a handset's message to ``url`` the way Twilio does, signed with the
    account's token; answers the target's HTTP status and response text."""
    state = request.app[STATE_KEY]
    try:
        data = InboundIn.model_validate(await _json_object(request))
    except (ValueError, ValidationError) as exc:
        return invalid("invalid inbound", exc)
    account = state.accounts.get(data.account_sid)
    if account is None:
        return web.json_response(
            {"error": "unknown account", "detail": data.account_sid}, status=404
        )
    form = callbacks.inbound_form(account.sid, data.model_dump(by_alias=True))
    try:
        status, text = await callbacks.send_signed(
            request.app[SESSION_KEY], data.method, data.url, account.auth_token, form
        )
    except Exception as exc:  # the target's failure is the answer, not a simulator crash
        return web.json_response(
            {"status": None, "body": None, "error": f"{type(exc).__name__}: {exc}"}, status=502
        )
    return web.json_response({"status": status, "body": text})


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/_simulator/config", get_config)
    app.router.add_patch("/_simulator/config", patch_config)
    app.router.add_post("/_simulator/accounts", add_account)
    app.router.add_get("/_simulator/messages", sent_messages)
    app.router.add_get("/_simulator/callbacks", callback_log)
    app.router.add_post("/_simulator/reset", reset)
    app.router.add_post("/_simulator/inbound", inject_inbound)
    app.router.add_get("/_simulator/healthz", healthz)
