"""The campaign wizard: audience → content → schedule → review, then save
the draft or launch. One form carried from step to step (the other steps'
values ride along as hidden inputs, so it works without JavaScript). Moving
forward asks the campaign service to check the campaign as it stands, in a
transaction rolled back, and shows a refusal about a step already done next
to its input; saving and launching are the API's calls."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.audience import segments
from textcast.campaigns import lifecycle, service
from textcast.campaigns.spec import CampaignChange, CampaignIn
from textcast.content import templates
from textcast.dashboard.auth import CanSend, Visitor
from textcast.dashboard.pages import campaign_form as cf
from textcast.dashboard.pages import campaign_review as review
from textcast.dashboard.pages.provider_forms import text
from textcast.dashboard.render import page
from textcast.db.models import Campaign
from textcast.errors import Conflict, ValidationFailed
from textcast.services import audit
from textcast.services import providers as provider_service
from textcast.services.senders import validation_failed
from textcast.views.campaigns import campaign_view
from textcast.web.deps import IdPath

router = APIRouter(prefix="/dashboard", include_in_schema=False)


class _RolledBack(Exception):
    """Ends a check's transaction without keeping anything."""


def _spec(data: dict[str, Any], editing: bool) -> BaseModel:
    model: type[BaseModel] = CampaignChange if editing else CampaignIn
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_failed(exc) from None


async def _apply(
    me: Visitor, session: AsyncSession, data: dict[str, Any], campaign_id: int | None
) -> Campaign:
    """Create the campaign, or change it: exactly what the API's POST and PATCH do."""
    spec = _spec(data, campaign_id is not None)
    if campaign_id is None:
        assert isinstance(spec, CampaignIn)
        return await service.create(me.ctx.settings, session, spec)
    assert isinstance(spec, CampaignChange)
    campaign = await service.get(session, campaign_id)
    return await service.change(me.ctx.settings, session, campaign, spec)


async def _refusal(me: Visitor, data: dict[str, Any], campaign_id: int | None) -> dict[str, str]:
    """What the service says about the campaign as it stands (nothing kept)."""
    try:
        async with me.ctx.write_session() as session:
            await _apply(me, session, data, campaign_id)
            raise _RolledBack
    except _RolledBack:
        return {}
    except ValidationFailed as exc:
        return {cf.form_field(exc.field): exc.message}
    except Conflict as exc:
        field = "name" if "named" in str(exc) else "form"
        return {field: str(exc)}


async def _choices(me: Visitor) -> dict[str, Any]:
    async with me.ctx.session() as session:
        providers = await provider_service.list_providers(session)
        found_segments = await segments.list_all(session)
        found_templates = await templates.list_templates(session, limit=500)
    return {
        "senders": [
            (str(s.id), f"{s.name} ({s.sender_id}, {p.name})")
            for p in providers
            for s in p.senders
            if s.deleted_at is None
        ],
        "segment_names": [s.name for s in found_segments],
        "template_names": [t.name for t in found_templates],
    }


async def _review(me: Visitor, data: dict[str, Any]) -> dict[str, Any]:
    async with me.ctx.session() as session:
        numbers = await review.audience_numbers(
            session, me.ctx.settings, data.get("audience"), data.get("sender")
        )
        found = await review.texts(session, me.ctx.settings, data)
        cost = await review.estimated_cost(session, me.ctx.settings, data, numbers, found)
    return {"numbers": numbers, "texts": found, "cost": cost}


async def _step(
    request: Request,
    me: Visitor,
    v: dict[str, str],
    step: str,
    campaign_id: int | None,
    errors: dict[str, str] | None = None,
    status_code: int | None = None,
) -> HTMLResponse:
    checked = None
    if step == "review" and not errors:
        checked = await _review(me, cf.payload(v))
    title = "Edit campaign" if campaign_id else "New campaign"
    return page(
        request,
        "campaigns/wizard.html",
        f"{title}: {step}",
        v=v,
        step=step,
        steps=cf.STEPS,
        fields=cf.STEP_FIELDS,
        all_fields=cf.ALL_FIELDS,
        variant_rows=cf.variant_rows(v),
        campaign_id=campaign_id,
        review=checked,
        errors=errors or {},
        status_code=status_code or (422 if errors else 200),
        **await _choices(me),
    )


def wake_runner(request: Request) -> None:
    """A launch need not wait for the campaign runner's next look."""
    runner = getattr(request.app.state, "campaign_runner", None)
    if runner is not None:
        runner.wake()


@router.get("/campaigns/new")
async def new_campaign(request: Request, me: CanSend) -> HTMLResponse:
    values = dict.fromkeys(cf.ALL_FIELDS, "") | cf.DEFAULTS
    return await _step(request, me, values, "audience", None)


@router.post("/campaigns/new")
async def wizard_new(request: Request, me: CanSend) -> Response:
    return await _wizard(request, me, None)


@router.get("/campaigns/{campaign_id}/edit")
async def edit_campaign(request: Request, campaign_id: IdPath, me: CanSend) -> HTMLResponse:
    """A draft (or a scheduled campaign not started) in the wizard; anything
    else: the service's reason, as a 409 page."""
    async with me.ctx.session() as session:
        campaign = await service.get(session, campaign_id)
        lifecycle.editable(campaign.status, campaign.materialised_at is not None)
        view = campaign_view(campaign)
        segment_name = None
        if "segment" in campaign.audience:
            segment_name = (await segments.find(session, str(campaign.audience["segment"]))).name
        used = {campaign.template_id, *(arm["template_id"] for arm in campaign.variants)}
        template_names = {}
        for template_id in used - {None}:
            template_names[template_id] = (await templates.get(session, template_id)).name
    values = cf.from_view(view, segment_name, template_names)
    return await _step(request, me, values, "audience", campaign_id)


@router.post("/campaigns/{campaign_id}/edit")
async def wizard_edit(request: Request, campaign_id: IdPath, me: CanSend) -> Response:
    return await _wizard(request, me, campaign_id)


async def _wizard(request: Request, me: Visitor, campaign_id: int | None) -> Response:
    form = await request.form()
    v = cf.values_of(form)
    here = text(form, "step") if text(form, "step") in cf.STEPS else "audience"
    go = text(form, "go")
    data = cf.payload(v)
    if go in ("save", "launch"):
        return await _save(request, me, v, data, campaign_id, launch=go == "launch")
    target = go if go in cf.STEPS else here
    if cf.STEPS.index(target) > cf.STEPS.index(here):
        # Forward: the steps passed must hold; a later step's gaps are its own.
        errors = await _refusal(me, data, campaign_id)
        passed = {
            name: message
            for name, message in errors.items()
            if cf.STEPS.index(cf.step_of(name)) < cf.STEPS.index(target)
        }
        if passed:
            first = min(cf.STEPS.index(cf.step_of(name)) for name in passed)
            return await _step(request, me, v, cf.STEPS[first], campaign_id, passed)
    return await _step(request, me, v, target, campaign_id)


async def _save(
    request: Request,
    me: Visitor,
    v: dict[str, str],
    data: dict[str, Any],
    campaign_id: int | None,
    *,
    launch: bool,
) -> Response:
    try:
        async with me.ctx.write_session() as session:
            campaign = await _apply(me, session, data, campaign_id)
            action = "campaign.created" if campaign_id is None else "campaign.updated"
            audit.record(session, me.actor, action, campaign.name)
            if launch:
                await service.launch(me.ctx.settings, session, campaign)
                audit.record(session, me.actor, "campaign.launched", campaign.name)
            saved_id = campaign.id
    except ValidationFailed as exc:
        name = cf.form_field(exc.field)
        return await _step(request, me, v, cf.step_of(name), campaign_id, {name: exc.message})
    except Conflict as exc:
        if "named" in str(exc):
            return await _step(request, me, v, "audience", campaign_id, {"name": str(exc)}, 409)
        return await _step(request, me, v, "review", campaign_id, {"form": str(exc)}, 409)
    if launch:
        wake_runner(request)
    notice = "launched" if launch else "saved"
    return RedirectResponse(f"/dashboard/campaigns/{saved_id}?done={notice}", status_code=303)
