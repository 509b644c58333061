"""Webhooks: the operator's endpoints that receive events (textcast.notify),
their signing secret (shown once), and the log of every delivery attempt."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from textcast.dashboard.auth import CanManageWebhooks, CanRead, Visitor
from textcast.dashboard.pages.provider_forms import checked, text
from textcast.dashboard.render import field_errors, page
from textcast.errors import ValidationFailed
from textcast.notify import endpoints
from textcast.services import audit
from textcast.services.events import TYPES
from textcast.services.senders import validation_failed
from textcast.web.deps import IdPath, IdQuery

router = APIRouter(prefix="/dashboard", include_in_schema=False)


async def _list_page(request: Request, me: Visitor, **values: Any) -> HTMLResponse:
    async with me.ctx.session() as session:
        found = [endpoints.endpoint_view(e) for e in await endpoints.list_all(session)]
    return page(
        request,
        "webhooks/list.html",
        "Webhooks",
        endpoints=found,
        types=TYPES,
        private_ok=me.ctx.settings.allow_private_targets,
        **values,
    )


@router.get("/webhooks")
async def webhook_list(request: Request, me: CanRead) -> HTMLResponse:
    return await _list_page(request, me)


def _changes(form: Any) -> dict[str, Any]:
    return {
        "url": text(form, "url"),
        "description": text(form, "description") or None,
        "event_types": [t for t in form.getlist("event_types") if isinstance(t, str)],
        "active": checked(form, "active"),
    }


@router.post("/webhooks")
async def add_endpoint(request: Request, me: CanManageWebhooks) -> Response:
    values = _changes(await request.form())
    try:
        try:
            data = endpoints.EndpointIn.model_validate(values)
        except ValidationError as exc:
            raise validation_failed(exc) from None
        async with me.ctx.session() as session:
            endpoint, secret = await endpoints.create(me.ctx, session, data)
            audit.record(session, me.actor, "webhook.created", endpoint.url)
            view = endpoints.endpoint_view(endpoint)
    except ValidationFailed as exc:
        return await _list_page(request, me, v=values, errors=field_errors(exc), status_code=422)
    return await _endpoint_page(request, me, int(str(view["id"])), secret=secret)


DELIVERIES_PAGE = 100


async def _endpoint_page(
    request: Request,
    me: Visitor,
    endpoint_id: int,
    status: str = "",
    before_id: int | None = None,
    **values: Any,
) -> HTMLResponse:
    async with me.ctx.session() as session:
        view = endpoints.endpoint_view(await endpoints.get(session, endpoint_id))
        log = await endpoints.deliveries(
            session,
            endpoint_id,
            status=status or None,
            before_id=before_id,
            limit=DELIVERIES_PAGE,
        )
    older = None
    if len(log) == DELIVERIES_PAGE:
        query = {"before_id": log[-1].id, **({"status": status} if status else {})}
        older = f"/dashboard/webhooks/{endpoint_id}?{urlencode(query)}"
    return page(
        request,
        "webhooks/detail.html",
        f"Webhook {endpoint_id}",
        e=view,
        older_url=older,
        deliveries=[endpoints.delivery_view(d) for d in log],
        types=TYPES,
        status_chosen=status,
        private_ok=me.ctx.settings.allow_private_targets,
        **values,
    )


@router.get("/webhooks/{endpoint_id}")
async def endpoint(
    request: Request,
    endpoint_id: IdPath,
    me: CanRead,
    status: Annotated[str, Query(pattern="^(|pending|delivered|failed)$")] = "",
    before_id: IdQuery = None,
) -> HTMLResponse:
    """The endpoint, its settings and its deliveries newest first, paged on."""
    return await _endpoint_page(request, me, endpoint_id, status, before_id)


@router.post("/webhooks/{endpoint_id}")
async def update_endpoint(request: Request, endpoint_id: IdPath, me: CanManageWebhooks) -> Response:
    values = _changes(await request.form())
    try:
        try:
            changes = endpoints.EndpointUpdate.model_validate(values)
        except ValidationError as exc:
            raise validation_failed(exc) from None
        async with me.ctx.session() as session:
            saved = await endpoints.update(me.ctx, session, endpoint_id, changes)
            audit.record(session, me.actor, "webhook.updated", saved.url)
    except ValidationFailed as exc:
        return await _endpoint_page(request, me, endpoint_id, errors=field_errors(exc))
    return await _endpoint_page(request, me, endpoint_id, notice="Saved.")


@router.post("/webhooks/{endpoint_id}/delete")
async def delete_endpoint(request: Request, endpoint_id: IdPath, me: CanManageWebhooks) -> Response:
    async with me.ctx.session() as session:
        gone = await endpoints.get(session, endpoint_id)
        audit.record(session, me.actor, "webhook.deleted", gone.url)
        await endpoints.delete(session, endpoint_id)
    return RedirectResponse("/dashboard/webhooks", status_code=303)


@router.get("/webhooks/{endpoint_id}/deliveries/{delivery_id}")
async def delivery(
    request: Request,
    endpoint_id: IdPath,
    delivery_id: IdPath,
    me: CanRead,
    redelivered: Annotated[str, Query(max_length=1)] = "",
) -> HTMLResponse:
    async with me.ctx.session() as session:
        found, history = await endpoints.delivery_with_history(session, endpoint_id, delivery_id)
    return page(
        request,
        "webhooks/delivery.html",
        f"Delivery {delivery_id}",
        d=endpoints.delivery_detail_view(found, history),
        endpoint_id=endpoint_id,
        notice="Queued to be sent again now." if redelivered else None,
    )


@router.post("/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(endpoint_id: IdPath, delivery_id: IdPath, me: CanManageWebhooks) -> Response:
    async with me.ctx.session() as session:
        again = await endpoints.redeliver(session, endpoint_id, delivery_id)
        audit.record(
            session,
            me.actor,
            "webhook.redelivered",
            f"delivery {again.id}",
            {"event": again.event_id},
        )
    return RedirectResponse(
        f"/dashboard/webhooks/{endpoint_id}/deliveries/{delivery_id}?redelivered=1", status_code=303
    )
