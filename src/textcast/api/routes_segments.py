"""/api/v1/segments: saved segments and live counts.

(``POST /api/v1/segments`` itself is the SMS segment preview of a text, kept
as it was: a saved segment is created or replaced by name with ``PUT``.)
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from textcast.audience import rules, segments
from textcast.views.audience import count_view, segment_view
from textcast.web.deps import CtxDep, SessionDep

router = APIRouter(prefix="/api/v1", tags=["segments"])
SampleQuery = Annotated[int, Query(ge=0, le=segments.MAX_SAMPLE)]


class CountRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: dict[str, Any] = Field(description="A rule tree: all / any / not over conditions.")
    sample: int = Field(10, ge=0, le=segments.MAX_SAMPLE)


@router.get("/segments")
async def list_segments(session: SessionDep) -> dict[str, Any]:
    return {"segments": [segment_view(s) for s in await segments.list_all(session)]}


@router.put("/segments/{name}", status_code=status.HTTP_201_CREATED)
async def put_segment(
    name: str, data: segments.SegmentIn, response: Response, session: SessionDep
) -> dict[str, Any]:
    """Create the segment called ``name``, or replace its rules and description
    (201 created, 200 replaced). Rules are checked: a bad one is a 422 naming
    where it is (``rules.all[1].value``)."""
    segment, created = await segments.put(session, name, data)
    if not created:
        response.status_code = status.HTTP_200_OK
    return segment_view(segment)


@router.post("/segments/count")
async def count_rules(data: CountRequest, ctx: CtxDep, session: SessionDep) -> dict[str, Any]:
    """Count an unsaved rule tree: how many contacts it selects now, how many of
    them are opted out or have an invalid number, per country, and a sample."""
    zone = ctx.settings.default_time_zone
    found = await segments.count(session, rules.parse(data.rules), zone, sample=data.sample)
    return await count_view(session, found, zone)


@router.get("/segments/{ref}")
async def show_segment(ref: str, session: SessionDep) -> dict[str, Any]:
    """By ID or name."""
    return segment_view(await segments.find(session, ref))


@router.patch("/segments/{ref}")
async def change_segment(
    ref: str, data: segments.SegmentChange, session: SessionDep
) -> dict[str, Any]:
    segment = await segments.change(session, await segments.find(session, ref), data)
    return segment_view(segment)


@router.delete("/segments/{ref}")
async def delete_segment(ref: str, session: SessionDep) -> dict[str, Any]:
    segment = await segments.find(session, ref)
    await segments.delete(session, segment)
    return {"deleted": segment.id}


@router.get("/segments/{ref}/count")
async def count_segment(
    ref: str, ctx: CtxDep, session: SessionDep, sample: SampleQuery = 10
) -> dict[str, Any]:
    """The saved segment's live count, as ``POST /api/v1/segments/count``."""
    segment = await segments.find(session, ref)
    zone = ctx.settings.default_time_zone
    found = await segments.count(session, rules.parse(segment.rules), zone, sample=sample)
    return {"segment": segment_view(segment), **await count_view(session, found, zone)}
