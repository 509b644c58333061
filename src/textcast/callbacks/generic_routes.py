"""Delivery receipts from generic HTTP providers.

``/webhooks/generic/{provider_id}/{token}`` (POST or GET): the token is a
secret derived from the provider's webhook secret, so only someone given the
URL can post receipts; Plivo's are also checked against its V3 signature.
Each receipt is matched through the ``meta`` parameter when the provider
calls back the per-message URL it was given, else by the provider message ID
recorded at send time; it is stored, applied forward-only, and answered 200.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Mapping
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from textcast import metrics
from textcast.callback_meta import verify_meta
from textcast.callback_urls import receipt_token
from textcast.callbacks.routes import read_body, webhook_state
from textcast.context import Context
from textcast.db.models import Provider as ProviderRow
from textcast.errors import WebhookRejected
from textcast.providers.base import StatusUpdate
from textcast.providers.generic import receipts
from textcast.providers.generic.config import GenericConfig
from textcast.providers.generic.presets import plivo_signature
from textcast.services import status_reports
from textcast.web.deps import IdPath, get_ctx

router = APIRouter(prefix="/webhooks/generic", tags=["webhooks"])
CtxDep = Annotated[Context, Depends(get_ctx)]


async def receipt(provider_id: IdPath, token: str, request: Request, ctx: CtxDep) -> Response:
    try:
        row, config = await _provider(ctx, provider_id, token)
        body = await read_body(request) if request.method == "POST" else b""
        query = parse_qsl(request.url.query, keep_blank_values=True)
        mapping = config.receipt
        if mapping is None:
            raise WebhookRejected(409, "this provider has no receipt mapping configured")
        if mapping.signature == "plivo_v3":
            _check_plivo(ctx, row, request, body)
        found = receipts.read(mapping, request.headers.get("content-type", ""), body, query)
    except WebhookRejected as exc:
        metrics.CALLBACKS.labels("receipt", f"rejected_{exc.status}").inc()
        return JSONResponse({"error": "webhook_rejected", "message": exc.message}, exc.status)
    except receipts.ReceiptUnreadable as exc:
        metrics.CALLBACKS.labels("receipt", "rejected_400").inc()
        return JSONResponse({"error": "unreadable_receipt", "message": str(exc)}, 400)
    secret = str(ctx.box.decrypt(row.webhook_secret_encrypted))
    # The per-message URL's meta names one message; a batch of receipts does not.
    meta = verify_meta(secret, request.query_params.get("meta")) if len(found) == 1 else None
    payload = query + parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    if not payload and body:
        payload = [("body", body.decode("utf-8", "replace"))]

    reports = [
        status_reports.StatusReport(
            provider_id=provider_id,
            meta=meta,
            provider_message_id=item.provider_message_id,
            update=StatusUpdate(
                provider_message_id=item.provider_message_id or "",
                status=item.status,
                error_code=item.error_code,
                error_message=item.error_message or item.raw_status,
            )
            if item.status
            else None,
            params=payload,
            kind="receipt",
            source="receipt",
            provider_type="generic",
        )
        for item in found
    ]
    status_writer = webhook_state(request).status
    for outcome in await asyncio.gather(*(status_writer.run(r) for r in reports)):
        metrics.CALLBACKS.labels("receipt", outcome).inc()
    return Response("OK", media_type="text/plain")


async def _provider(
    ctx: Context, provider_id: int, token: str
) -> tuple[ProviderRow, GenericConfig]:
    async with ctx.sessions() as session:
        row = await session.get(ProviderRow, provider_id)
    if row is None or row.deleted_at is not None or row.type != "generic":
        raise WebhookRejected(404, "no such receipt URL")
    expected = receipt_token(str(ctx.box.decrypt(row.webhook_secret_encrypted)))
    if not hmac.compare_digest(expected, token):
        raise WebhookRejected(404, "no such receipt URL")
    return row, GenericConfig.model_validate(row.config)


def _check_plivo(ctx: Context, row: ProviderRow, request: Request, body: bytes) -> None:
    credentials = ctx.box.decrypt(row.secrets_encrypted).get("credentials") or {}
    token = credentials.get("auth_token")
    if not token:
        raise WebhookRejected(409, "Plivo signature checks need the auth_token credential")
    is_form = "json" not in request.headers.get("content-type", "")
    params = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True) if is_form else []
    if not plivo_signature.verify(
        str(token),
        request.method,
        signed_url(request),
        params,
        request.headers.get("x-plivo-signature-v3-nonce"),
        request.headers.get("x-plivo-signature-v3"),
    ):
        raise WebhookRejected(403, "invalid or missing X-Plivo-Signature-V3")


def signed_url(request: Request) -> str:
    """The URL exactly as requested: raw path and query, not Starlette's decoded form."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    path = raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
    host = request.headers.get("host", request.url.netloc)
    return str(public_url(request.url.scheme, host, path, request.headers))


def public_url(
    scheme: str,
    host: str,
    path_and_query: str,
    headers: Mapping[str, str],
    trust_forwarded: bool = True,
) -> str:
    """The URL the caller used, rebuilt behind a proxy.

    With ``trust_forwarded``, the first value of X-Forwarded-Proto and of
    X-Forwarded-Host (header names in any case) replace ``scheme`` and ``host``.
    Only trust them when a proxy you run sets them: a client can send anything.
    ``path_and_query`` must be the raw (still percent-encoded) request target.
    """
    if trust_forwarded:
        scheme = _first(_header(headers, "x-forwarded-proto")) or scheme
        host = _first(_header(headers, "x-forwarded-host")) or host
    return f"{scheme}://{host}{path_and_query}"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # a plain dict is case-sensitive; aiohttp/Starlette headers are not
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


def _first(value: str | None) -> str:
    return (value or "").split(",")[0].strip()


for _method in ("POST", "GET"):
    router.add_api_route(
        "/{provider_id}/{token}",
        receipt,
        methods=[_method],
        operation_id=f"generic_receipt_{_method.lower()}",
    )
