"""Twilio's status callbacks and inbound messages.

Each request is verified (``X-Twilio-Signature``, or for a customer's relay
``X-Textcast-Signature`` with the provider's relay secret over the raw body,
or the raw query string for GET; 403 when wrong or missing),
parsed, stored durably together with its effect, and only then answered 200;
concurrent callbacks share one transaction (group commit). Callbacks for
unknown messages are stored and answered 200 too, so Twilio does not retry
them forever.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape as xml_escape

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import hmac_signing, metrics
from textcast.api.deps import get_ctx
from textcast.context import Context
from textcast.db.models import Provider as ProviderRow
from textcast.db.models import Sender
from textcast.providers.twilio import parse_status_callback
from textcast.services import callbacks, keyword_rules
from textcast.webhooks.group_commit import GroupCommitter, one_by_one
from textcast.webhooks.meta import Meta, verify_meta, with_meta
from textcast.webhooks.signature import public_url, verify

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"], include_in_schema=True)

# Twilio's callbacks are a few hundred bytes; even 1,600-character replies fit easily.
MAX_BODY_BYTES = 64 * 1024
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
AUTH_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class _ProviderAuth:
    auth_token: str
    webhook_secret: str
    custom_callback_urls: dict[int, str]
    relay_secret: str | None
    loaded_at: float


class WebhookRejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _provider_auth(ctx: Context, request: Request, provider_id: int) -> _ProviderAuth:
    """Token, meta secret and custom URLs, cached briefly: callbacks come in bursts."""
    cache: dict[int, _ProviderAuth] = request.app.state.__dict__.setdefault("webhook_auth", {})
    cached = cache.get(provider_id)
    if cached is not None and time.monotonic() - cached.loaded_at < AUTH_CACHE_SECONDS:
        return cached
    async with ctx.sessions() as session:
        row = await session.get(ProviderRow, provider_id)
        if row is None or row.deleted_at is not None or row.type != "twilio":
            raise WebhookRejected(404, f"no Twilio provider {provider_id}")
        rows = await session.execute(
            select(Sender.id, Sender.custom_callback_url).where(
                Sender.provider_id == provider_id, Sender.custom_callback_url.is_not(None)
            )
        )
        custom = {row.id: str(row.custom_callback_url) for row in rows}
    secrets = ctx.box.decrypt(row.secrets_encrypted)
    auth = _ProviderAuth(
        auth_token=str(secrets["auth_token"]),
        webhook_secret=str(ctx.box.decrypt(row.webhook_secret_encrypted)),
        custom_callback_urls=custom,
        relay_secret=str(ctx.box.decrypt(row.relay_secret_encrypted))
        if row.relay_secret_encrypted
        else None,
        loaded_at=time.monotonic(),
    )
    cache[provider_id] = auth
    return auth


async def _read_params(request: Request) -> tuple[list[tuple[str, str]], bytes]:
    """The form fields (POST body or GET query), size-capped and strictly UTF-8,
    and the raw bytes they came from."""
    if request.method == "GET":
        query = request.scope.get("query_string", b"")
        return parse_qsl(request.url.query, keep_blank_values=True), query
    body = await read_body(request)
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False), body
    except UnicodeDecodeError:
        raise WebhookRejected(400, "body is not valid UTF-8 form data") from None


async def read_body(request: Request) -> bytes:
    """The raw body, refused (413) past MAX_BODY_BYTES without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise WebhookRejected(413, f"body larger than {MAX_BODY_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise WebhookRejected(413, f"body larger than {MAX_BODY_BYTES} bytes")
    return body


def signed_url(request: Request) -> str:
    """The URL exactly as requested: raw path and query, not Starlette's decoded form."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    path = raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
    host = request.headers.get("host", request.url.netloc)
    return str(public_url(request.url.scheme, host, path, request.headers))


async def _verified(
    ctx: Context, request: Request, provider_id: int
) -> tuple[list[tuple[str, str]], Meta | None]:
    """The request's parameters and its verified ``meta``, or WebhookRejected."""
    auth = await _provider_auth(ctx, request, provider_id)
    params, raw = await _read_params(request)
    signature = request.headers.get("x-twilio-signature")
    signed_params = params if request.method == "POST" else []
    meta_value = request.query_params.get("meta")
    meta = verify_meta(auth.webhook_secret, meta_value)
    if verify(auth.auth_token, signature, signed_url(request), signed_params):
        return params, meta
    # Relayed through the sender's custom callback URL: Twilio signed that URL, not ours.
    custom = auth.custom_callback_urls.get(meta.sender_id) if meta else None
    if (
        custom
        and meta_value
        and verify(auth.auth_token, signature, with_meta(custom, meta_value), signed_params)
    ):
        return params, meta
    # A relay that cannot forward Twilio's header signs with Textcast's own scheme.
    relay_signature = request.headers.get("x-textcast-signature")
    if relay_signature and auth.relay_secret:
        if hmac_signing.verify([auth.relay_secret], relay_signature, raw):
            return params, meta
        raise WebhookRejected(403, "invalid or expired X-Textcast-Signature")
    raise WebhookRejected(403, "invalid or missing X-Twilio-Signature")


def _rejected(exc: WebhookRejected, kind: str) -> JSONResponse:
    metrics.CALLBACKS.labels(kind, f"rejected_{exc.status}").inc()
    return JSONResponse({"error": "webhook_rejected", "message": exc.message}, exc.status)


CtxDep = Annotated[Context, Depends(get_ctx)]


@dataclass(frozen=True)
class InboundItem:
    provider_id: int
    sender_id: int | None  # from a sender's own inbound URL
    params: list[tuple[str, str]]
    token: str | None


async def record_inbound(
    session: AsyncSession, item: InboundItem
) -> tuple[str, keyword_rules.Decision]:
    provider_id, params, token = item.provider_id, item.params, item.token
    form = dict(params)
    sender_id = item.sender_id
    if sender_id is not None:
        sender = await session.get(Sender, sender_id)
        if sender is None or sender.provider_id != provider_id or sender.deleted_at is not None:
            sender_id = None  # a stale sender URL still reaches the account
    if sender_id is None:
        sender_id = await callbacks.inbound_sender_id(session, provider_id, form)
    sid = form.get("MessageSid") or form.get("SmsSid")
    if await callbacks.seen_before(session, provider_id, token) or await callbacks.inbound_stored(
        session, provider_id, sid
    ):
        # Twilio retried a reply already stored: answer it the same way, change nothing.
        decision = await keyword_rules.decide(session, provider_id, sender_id, form.get("Body", ""))
        outcome = "duplicate"
    else:
        received = await callbacks.receive_inbound(session, provider_id, form, sender_id)
        decision = received.decision
        outcome, sid = decision.action or "stored", received.message.provider_message_id
    callbacks.store_receipt(
        session,
        provider_id=provider_id,
        kind="inbound",
        payload=params,
        provider_message_id=sid,
        message_id=None,
        outcome=outcome,
        idempotency_token=token,
    )
    return outcome, decision


@dataclass
class CallbackWriters:
    """The app's group-commit writers (see :mod:`textcast.webhooks.group_commit`)."""

    status: GroupCommitter[callbacks.StatusReport, str]
    inbound: GroupCommitter[InboundItem, tuple[str, keyword_rules.Decision]]

    @classmethod
    def create(cls, ctx: Context) -> CallbackWriters:
        return cls(
            status=GroupCommitter(ctx, callbacks.record_status_reports),
            inbound=GroupCommitter(ctx, one_by_one(record_inbound)),
        )

    async def close(self) -> None:
        await self.status.close()
        await self.inbound.close()


def writers(request: Request) -> CallbackWriters:
    found: CallbackWriters = request.app.state.callback_writers
    return found


@router.post("/{provider_id}/status")
async def status_callback(provider_id: int, request: Request, ctx: CtxDep) -> Response:
    try:
        params, meta = await _verified(ctx, request, provider_id)
    except WebhookRejected as exc:
        return _rejected(exc, "status")
    form = dict(params)
    update = parse_status_callback(form)
    sid = update.provider_message_id if update else form.get("MessageSid")
    report = callbacks.StatusReport(
        provider_id=provider_id,
        meta=meta,
        provider_message_id=sid,
        update=update,
        params=params,
        idempotency_token=request.headers.get("i-twilio-idempotency-token"),
    )
    outcome = await writers(request).status.run(report)
    metrics.CALLBACKS.labels("status", outcome).inc()
    return Response(status_code=200)


async def inbound(provider_id: int, request: Request, ctx: CtxDep) -> Response:
    return await _inbound(provider_id, request, ctx, None)


async def _inbound(
    provider_id: int, request: Request, ctx: Context, sender_id: int | None
) -> Response:
    try:
        params, _ = await _verified(ctx, request, provider_id)
    except WebhookRejected as exc:
        return _rejected(exc, "inbound")
    token = request.headers.get("i-twilio-idempotency-token")
    item = InboundItem(provider_id, sender_id, params, token)
    outcome, decision = await writers(request).inbound.run(item)
    metrics.CALLBACKS.labels("inbound", outcome).inc()
    return Response(twiml_reply(decision.reply), media_type="text/xml")


def twiml_reply(text: str | None) -> str:
    """Empty TwiML, or one ``<Message>`` when a keyword has an auto-reply."""
    if not text:
        return EMPTY_TWIML
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f"<Message>{xml_escape(text)}</Message></Response>"
    )


async def sender_inbound(
    provider_id: int, sender_id: int, request: Request, ctx: CtxDep
) -> Response:
    return await _inbound(provider_id, request, ctx, sender_id)


# Twilio calls inbound webhooks by POST or GET (seed 002 configures GET); each
# sender also has its own URL, so a reply is attributed even when To is shared.
for _method in ("POST", "GET"):
    router.add_api_route(
        "/{provider_id}/inbound",
        inbound,
        methods=[_method],
        operation_id=f"twilio_inbound_{_method.lower()}",
    )
    router.add_api_route(
        "/{provider_id}/inbound/{sender_id}",
        sender_inbound,
        methods=[_method],
        operation_id=f"twilio_sender_inbound_{_method.lower()}",
    )
