"""Campaigns: the list with each one's summary, a campaign's page (live
progress, pause/resume/cancel, test send, recipients and why any were
skipped), its Stats tab (chart, rates, per variant and control group) and
its Errors tab. Reads through the campaign and stats services the API uses;
the operator's moves are the API's calls. The wizard is in campaign_wizard."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.audience import segments
from textcast.campaigns import lifecycle, service
from textcast.campaigns.test_send import send_test
from textcast.dashboard.auth import CanRead, CanSend, Visitor
from textcast.dashboard.pages import campaign_form as cf
from textcast.dashboard.pages.campaign_review import audience_numbers
from textcast.dashboard.pages.campaign_wizard import wake_runner
from textcast.dashboard.render import page
from textcast.db.models import utcnow
from textcast.errors import NotFound, ValidationFailed
from textcast.services import audit, campaign_stats
from textcast.views.campaigns import campaign_view, recipient_view
from textcast.web.deps import IdPath, IdQuery

router = APIRouter(prefix="/dashboard", include_in_schema=False)
MOVES = {"pause": service.pause, "resume": service.resume, "cancel": service.cancel}
PAST = {
    "launch": "launched",
    "pause": "paused",
    "resume": "resumed",
    "cancel": "cancelled",
    "delete": "deleted",
}
RECIPIENTS_SHOWN = 100
PAGE_SIZE = 100  # campaigns a page of the list shows, each with its stats


async def _stats(me: Visitor, campaign_id: int) -> dict[str, Any]:
    settings = me.ctx.settings
    return await campaign_stats.campaign_stats(
        me.ctx, campaign_id, settings.segment_prices, settings.segment_price_currency
    )


def _summary(numbers: dict[str, Any]) -> dict[str, Any]:
    """The list's columns: sent, delivered, CTR."""
    return {k: numbers[k] for k in ("targeted", "sent", "delivered", "delivery_rate", "ctr")}


def _still_moving(campaign: dict[str, Any], numbers: dict[str, Any]) -> bool:
    """Worth polling: about to send or sending, or messages not yet final."""
    settled = numbers["delivered"] + numbers["undelivered"] + numbers["failed"]
    settled += numbers["canceled"]
    running = campaign["status"] in (lifecycle.SCHEDULED, lifecycle.SENDING)
    return running or numbers["queued"] > settled


def chart(series: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The stats service's time series in uPlot's shape (as events/list draws
    it), each minute (then hour) from the hour of launch to the last point or
    now given, zeros included: a lone point would leave uPlot no scale."""
    start = datetime.fromisoformat(series["start"])
    fine_until = datetime.fromisoformat(series["per_minute_until"])
    points = {datetime.fromisoformat(p["at"]): p for p in series["points"]}
    end = max([*points, min(now, fine_until)])
    times: list[datetime] = []
    at = start
    while at <= end:
        times.append(at)
        at += timedelta(minutes=1) if at < fine_until else timedelta(hours=1)
    empty = dict.fromkeys(campaign_stats.SERIES, 0)
    return {
        "times": [int(t.timestamp()) for t in times],
        "series": [
            {"label": kind, "values": [points.get(t, empty)[kind] for t in times]}
            for kind in campaign_stats.SERIES
        ],
    }


@router.get("/campaigns")
async def campaigns(
    request: Request,
    me: CanRead,
    status: Annotated[str, Query(max_length=20)] = "",
    before_id: IdQuery = None,
) -> HTMLResponse:
    async with me.ctx.session() as session:
        found = await service.list_campaigns(
            session, status_filter=status or None, before_id=before_id, limit=PAGE_SIZE
        )
        names = {str(row.id): row.name for row in await segments.list_all(session)}
        views = [campaign_view(c) for c in found]
    rows = [
        {
            **view,
            **_summary(await _stats(me, view["id"])),
            "audience_label": _listed_audience(view["audience"], names),
        }
        for view in views
    ]
    return page(
        request,
        "campaigns/list.html",
        "Campaigns",
        campaigns=rows,
        statuses=lifecycle.STATUSES,
        status_chosen=status,
        next_url=str(request.url.include_query_params(before_id=found[-1].id))
        if len(found) == PAGE_SIZE
        else None,
    )


async def _campaign(me: Visitor, campaign_id: int) -> dict[str, Any]:
    async with me.ctx.session() as session:
        found = await service.get(session, campaign_id)
        return campaign_view(found, await service.recipient_counts(session, found.id))


def _listed_audience(audience: dict[str, Any], segment_names: dict[str, str]) -> str:
    if "segment" in audience:
        segment = str(audience["segment"])
        return f"segment {segment_names.get(segment, '#' + segment + ' (deleted)')}"
    if "phones" in audience:
        return f"{len(audience['phones'])} phone numbers"
    if "contacts" in audience:
        return f"{len(audience['contacts'])} contacts"
    return "rules given through the API"


async def _audience_label(session: AsyncSession, audience: dict[str, Any]) -> str:
    names = {}
    if "segment" in audience:
        try:
            found = await segments.find(session, str(audience["segment"]))
            names[str(found.id)] = found.name
        except NotFound:
            pass
    return _listed_audience(audience, names)


async def _show(
    request: Request,
    me: Visitor,
    campaign_id: int,
    template: str,
    tab: str = "",
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    """One of the campaign's pages (or their live parts): the campaign, its
    numbers from the stats service (the chart's too), and whether it is
    still worth polling."""
    view = await _campaign(me, campaign_id)
    numbers = await _stats(me, campaign_id)
    suffix = {"stats": ": Stats", "errors": ": Errors"}.get(tab, "")
    return page(
        request,
        template,
        f"{view['name']}{suffix}" if tab else "",
        c=view,
        n=numbers,
        tab=tab,
        moving=_still_moving(view, numbers),
        chart=chart(numbers["series"], utcnow()),
        status_code=status_code,
        **extra,
    )


async def _overview(
    request: Request, me: Visitor, campaign_id: int, reason: str = "", **extra: Any
) -> HTMLResponse:
    async with me.ctx.session() as session:
        campaign = await service.get(session, campaign_id)
        audience = await _audience_label(session, campaign.audience)
        recipients = await service.list_recipients(
            session, campaign_id, reason=reason or None, limit=RECIPIENTS_SHOWN
        )
    return await _show(
        request,
        me,
        campaign_id,
        "campaigns/detail.html",
        "overview",
        audience=audience,
        recipients=[recipient_view(r) for r in recipients],
        reason_chosen=reason,
        **extra,
    )


@router.get("/campaigns/{campaign_id}")
async def campaign_page(
    request: Request,
    campaign_id: IdPath,
    me: CanRead,
    reason: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    done = request.query_params.get("done")
    notice = f"Campaign {done}." if done in ("saved", "launched") else None
    return await _overview(request, me, campaign_id, reason, notice=notice)


@router.get("/campaigns/{campaign_id}/progress")
async def progress(request: Request, campaign_id: IdPath, me: CanRead) -> HTMLResponse:
    """The live part of the campaign's page, redrawn by htmx while it moves."""
    return await _show(request, me, campaign_id, "campaigns/_progress.html")


async def _move(request: Request, campaign_id: int, move: str, me: Visitor) -> Response:
    """The service's move; one the campaign's state refuses: its reason (a 409 page)."""
    async with me.ctx.write_session() as session:
        campaign = await service.get(session, campaign_id)
        if move == "launch":
            await service.launch(me.ctx.settings, session, campaign)
        elif move == "delete":
            await service.delete(session, campaign)
        else:
            await MOVES[move](session, campaign)
        audit.record(session, me.actor, f"campaign.{PAST[move]}", campaign.name)
    if move in ("launch", "resume"):
        wake_runner(request)
    if move == "delete":
        return RedirectResponse("/dashboard/campaigns", status_code=303)
    done = "?done=launched" if move == "launch" else ""
    return RedirectResponse(f"/dashboard/campaigns/{campaign_id}{done}", status_code=303)


def _mover(move: str) -> Any:
    async def handle(request: Request, campaign_id: IdPath, me: CanSend) -> Response:
        return await _move(request, campaign_id, move, me)

    return handle


for _name in PAST:
    router.add_api_route(f"/campaigns/{{campaign_id}}/{_name}", _mover(_name), methods=["POST"])


@router.post("/campaigns/{campaign_id}/test-send")
async def test_send(
    request: Request,
    campaign_id: IdPath,
    me: CanSend,
    phones: Annotated[str, Form(max_length=2000)] = "",
    variant: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    numbers = cf.phones_of(phones)
    error = None
    sent: list[int] = []
    try:
        if not 1 <= len(numbers) <= 20:
            raise ValidationFailed("phones", "give 1 to 20 phone numbers")
        async with me.ctx.write_session() as session:
            campaign = await service.get(session, campaign_id)
            found = await send_test(me.ctx.settings, session, campaign, numbers, variant or None)
            sent = [m.id for m in found]
            audit.record(session, me.actor, "campaign.test_sent", campaign.name)
    except ValidationFailed as exc:
        error = exc.message if exc.field.startswith(("phones", "variant")) else str(exc)
    return await _overview(
        request,
        me,
        campaign_id,
        test_phones=phones,
        test_sent=sent,
        errors={"phones": error} if error else {},
        status_code=422 if error else 200,
    )


@router.get("/campaigns/{campaign_id}/stats")
async def stats_tab(request: Request, campaign_id: IdPath, me: CanRead) -> HTMLResponse:
    return await _show(request, me, campaign_id, "campaigns/stats.html", "stats")


@router.get("/campaigns/{campaign_id}/stats/numbers")
async def stats_numbers(request: Request, campaign_id: IdPath, me: CanRead) -> HTMLResponse:
    """The Stats tab's figures, redrawn by htmx while the campaign moves."""
    return await _show(request, me, campaign_id, "campaigns/_stats_numbers.html")


@router.get("/campaigns/{campaign_id}/errors")
async def errors_tab(request: Request, campaign_id: IdPath, me: CanRead) -> HTMLResponse:
    return await _show(request, me, campaign_id, "campaigns/errors.html", "errors")


@router.post("/campaign-audience/count")
async def audience_count(request: Request, me: CanSend) -> HTMLResponse:
    """The wizard's live count: the audience as chosen so far."""
    form = await request.form()
    v = cf.values_of(form)
    payload = cf.payload(v)
    async with me.ctx.session() as session:
        numbers = await audience_numbers(
            session, me.ctx.settings, payload.get("audience"), payload.get("sender")
        )
    return page(request, "campaigns/_audience_count.html", "", numbers=numbers)
