"""Analytics > Events: the event log with filters, and its counts over time."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from textcast.dashboard.auth import CanRead
from textcast.dashboard.pages.filters import Chosen, choices
from textcast.dashboard.render import page
from textcast.db.models import MAX_ID, utcnow
from textcast.services import events

router = APIRouter(prefix="/dashboard", include_in_schema=False)
Text = Annotated[str, Query(max_length=100)]
SERIES_SHOWN = 6  # the most frequent types get a line each; more would be unreadable


def bucket_for(span: timedelta) -> int:
    """Seconds per point: 5 minutes up to 6 hours, hourly up to 4 days, else daily."""
    if span <= timedelta(hours=6):
        return 300
    if span <= timedelta(days=4):
        return 3600
    return 86400


def chart(rows: list[tuple[int, str, int]], start: int, end: int, step: int) -> dict[str, Any]:
    """uPlot's shape: one time axis, one series per event type (zeros filled in)."""
    totals = Counter[str]()
    for _, type_, count in rows:
        totals[type_] += count
    shown = [type_ for type_, _ in totals.most_common(SERIES_SHOWN)]
    times = list(range(start - start % step, end + 1, step))
    index = {t: i for i, t in enumerate(times)}
    series = {type_: [0] * len(times) for type_ in shown}
    for bucket, type_, count in rows:
        if type_ in series and bucket in index:
            series[type_][index[bucket]] = count
    return {
        "times": times,
        "series": [{"label": t, "values": series[t]} for t in shown],
        "totals": dict(totals.most_common()),
    }


@router.get("/events")
async def event_log(
    request: Request,
    me: CanRead,
    type: Annotated[str, Query(max_length=40)] = "",
    sender: Text = "",
    campaign: Text = "",
    since: Text = "",
    until: Text = "",
    error_code: Annotated[str, Query(max_length=32)] = "",
    message: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    chosen = Chosen(sender, campaign, since, until)
    end = chosen.until_at or utcnow()
    start = chosen.since_at or end - timedelta(hours=24)
    message_id = int(message) if message.strip().isdigit() else None
    # A message number that is none shows nothing and says so, not every event.
    bad_message = bool(message.strip()) and not (message_id and message_id <= MAX_ID)
    where = events.EventFilter(
        types=(type,) if type in events.TYPES else (),
        message_id=message_id,
        sender_id=chosen.sender_id,
        campaign=campaign or None,
        error_code=error_code.strip() or None,
        since=start,
        until=end,
    )
    step = bucket_for(end - start)
    async with me.ctx.session() as session:
        found, counts = [], []
        if not bad_message:
            found = await events.find(session, where, after_id=None, limit=200, newest_first=True)
            counts = await events.counts_over_time(session, where, step)
        options = await choices(session)
    return page(
        request,
        "events/list.html",
        "Analytics > Events",
        events=found,
        types=events.TYPES,
        type_chosen=type,
        error_code=error_code,
        message=message,
        errors={"message": "give a message number, e.g. 42"} if bad_message else {},
        chosen=chosen,
        window=(start, end),
        step=step,
        chart=chart(counts, int(start.timestamp()), int(end.timestamp()), step),
        **options,
    )
