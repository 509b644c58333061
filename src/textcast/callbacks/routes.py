"""Twilio's inbound messages (replies), by POST or GET.

Each request is verified through the Twilio package (see
:mod:`textcast.providers.twilio.webhook`; 403 when wrong or missing), stored
durably together with its effect (contact, thread, keywords, opt-outs), and
only then answered with TwiML. Status callbacks are answered in front of
FastAPI, by :mod:`textcast.callbacks.intake`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import metrics
from textcast.audience import keywords
from textcast.callbacks.group_commit import GroupCommitter, one_by_one
from textcast.callbacks.twilio_verify import MAX_BODY_BYTES, ProviderAuthCache, verify
from textcast.context import Context
from textcast.db.models import Sender
from textcast.errors import WebhookRejected
from textcast.providers.twilio.twiml import twiml_reply
from textcast.providers.twilio.webhook import CallbackRequest, callback_request
from textcast.services import callbacks, status_reports
from textcast.web.deps import IdPath

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"], include_in_schema=True)


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


async def parsed(request: Request) -> CallbackRequest:
    """``request`` as the signature checks see it."""
    body = await read_body(request) if request.method == "POST" else b""
    headers = {name: value for name, value in reversed(request.headers.items())}
    return callback_request(
        request.method,
        request.url.scheme,
        request.headers.get("host", request.url.netloc),
        request.scope.get("raw_path") or request.url.path.encode(),
        request.scope.get("query_string", b""),
        headers,
        body,
    )


def _rejected(exc: WebhookRejected, kind: str) -> JSONResponse:
    metrics.CALLBACKS.labels(kind, f"rejected_{exc.status}").inc()
    return JSONResponse({"error": "webhook_rejected", "message": exc.message}, exc.status)


@dataclass(frozen=True)
class InboundItem:
    provider_id: int
    sender_id: int | None  # from a sender's own inbound URL
    params: list[tuple[str, str]]
    token: str | None


async def record_inbound(session: AsyncSession, item: InboundItem) -> tuple[str, keywords.Decision]:
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
        decision = await keywords.decide(session, provider_id, sender_id, form.get("Body", ""))
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
class WebhookState:
    """What the app's webhook handlers share: the providers' secrets and the
    group-commit writers (see :mod:`textcast.callbacks.group_commit`)."""

    auth: ProviderAuthCache
    status: GroupCommitter[status_reports.StatusReport, str]
    inbound: GroupCommitter[InboundItem, tuple[str, keywords.Decision]]

    store: status_reports.StatusReportStore

    @classmethod
    def create(cls, ctx: Context) -> WebhookState:
        store = status_reports.StatusReportStore(ctx)
        return cls(
            auth=ProviderAuthCache(ctx),
            # PostgreSQL: a second batch in flight hides the first one's round trips.
            status=GroupCommitter(store.record, concurrency=1 if store.on_sqlite else 2),
            inbound=GroupCommitter(one_by_one(ctx, record_inbound)),
            store=store,
        )

    async def close(self) -> None:
        await self.status.close()
        await self.inbound.close()
        await self.store.close()


def webhook_state(request: Request) -> WebhookState:
    found: WebhookState = request.app.state.webhooks
    return found


async def inbound(provider_id: IdPath, request: Request) -> Response:
    return await _inbound(provider_id, request, None)


async def _inbound(provider_id: int, request: Request, sender_id: int | None) -> Response:
    state = webhook_state(request)
    try:
        auth = await state.auth.get(provider_id)
        callback = await parsed(request)
        verify(auth, callback)
    except WebhookRejected as exc:
        return _rejected(exc, "inbound")
    token = request.headers.get("i-twilio-idempotency-token")
    item = InboundItem(provider_id, sender_id, callback.params, token)
    outcome, decision = await state.inbound.run(item)
    metrics.CALLBACKS.labels("inbound", outcome).inc()
    return Response(twiml_reply(decision.reply), media_type="text/xml")


async def sender_inbound(provider_id: IdPath, sender_id: IdPath, request: Request) -> Response:
    return await _inbound(provider_id, request, sender_id)


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
