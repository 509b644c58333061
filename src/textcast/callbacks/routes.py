"""Twilio's inbound messages (replies), by POST or GET.

Each request is verified through the Twilio package (see
:mod:`textcast.providers.twilio.webhook`; 403 when wrong or missing), stored
durably together with its effect (contact, thread, keywords, opt-outs; see
:mod:`textcast.services.inbound`), and only then answered with TwiML. Status
callbacks are answered in front of FastAPI, by :mod:`textcast.callbacks.intake`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from textcast import metrics
from textcast.audience import keywords
from textcast.callbacks.group_commit import GroupCommitter, one_by_one
from textcast.callbacks.twilio_verify import MAX_BODY_BYTES, ProviderAuthCache, verify
from textcast.context import Context
from textcast.errors import WebhookRejected
from textcast.providers.twilio.twiml import twiml_reply
from textcast.providers.twilio.webhook import CallbackRequest, callback_request
from textcast.services import status_reports
from textcast.services.inbound import InboundItem, record_inbound
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
