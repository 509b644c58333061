"""Prometheus metrics. Counters live in-process; queue depth is read from the
database when scraped, so every process reports the same truth.

``serve`` exposes them at ``/metrics`` on its API port; ``textcast worker``
serves no API, so it exposes the same page on ``TEXTCAST_WORKER_METRICS_PORT``
(see :func:`start_metrics_listener`). Scrape every process: each one's
counters count only the sends it made.
"""

from __future__ import annotations

import functools

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from textcast import status as message_status
from textcast.db.models import Campaign, CampaignRecipient, Message
from textcast.listeners import start_listener

SENDS = Counter(
    "textcast_sends_total", "Send attempts by provider type and result", ["provider", "result"]
)
SEND_ERRORS = Counter(
    "textcast_send_errors_total",
    "Send attempts the provider refused or that failed, by provider type and error code "
    "(retried and final failures alike)",
    ["provider", "code"],
)
SEND_LATENCY = Histogram(
    "textcast_send_latency_seconds",
    "Provider API latency per send attempt",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CALLBACKS = Counter(
    "textcast_callbacks_total", "Provider callbacks by kind and outcome", ["kind", "outcome"]
)
# Codes come from providers (a generic provider's may be any string): cut to the
# width the messages table stores, so one odd answer cannot mint endless series.
ERROR_CODE_WIDTH = 32


@functools.cache
def callback_counter(kind: str, outcome: str) -> Counter:
    """CALLBACKS for one kind and outcome; labels() takes a lock on every call,
    which shows on the status-callback path."""
    return CALLBACKS.labels(kind, outcome)


def count_send_error(provider_type: str, code: str) -> None:
    """Count one failed send attempt under its provider type and error code."""
    _send_error_counter(provider_type, code[:ERROR_CODE_WIDTH] or "unknown").inc()


@functools.lru_cache(maxsize=4096)
def _send_error_counter(provider_type: str, code: str) -> Counter:
    return SEND_ERRORS.labels(provider_type, code)


# --- the exposition page --------------------------------------------------------


async def messages_by_status(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Every status with its message count, zero included (a series that vanishes
    when the queue empties breaks alerts and graphs)."""
    async with sessions() as session:
        rows = await session.execute(select(Message.status, func.count()).group_by(Message.status))
        counted = {str(name): int(count) for name, count in rows}
    return {name: counted.get(name, 0) for name in sorted(message_status.ALL | set(counted))}


# Campaigns with series on the page: those under way. A finished campaign's
# numbers stay in its stats; its series end with it.
LIVE_CAMPAIGNS = ("scheduled", "sending", "paused")


def _label(value: str) -> str:
    """A label value as the exposition format writes it."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


async def campaign_lines(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    """Each live campaign's messages by status (test sends aside) and its
    skipped recipients by reason, from the campaign indexes."""
    async with sessions() as session:
        live = dict(
            (
                await session.execute(
                    select(Campaign.id, Campaign.name).where(Campaign.status.in_(LIVE_CAMPAIGNS))
                )
            ).all()
        )
        if not live:
            return []
        messages = await session.execute(
            select(Message.campaign_id, Message.status, func.count())
            .where(Message.campaign_id.in_(live), Message.is_test.is_(False))
            .group_by(Message.campaign_id, Message.status)
        )
        skipped = await session.execute(
            select(CampaignRecipient.campaign_id, CampaignRecipient.reason, func.count())
            .where(CampaignRecipient.campaign_id.in_(live), CampaignRecipient.reason.is_not(None))
            .group_by(CampaignRecipient.campaign_id, CampaignRecipient.reason)
        )
        by_status = {(c, s): int(n) for c, s, n in messages}
        by_reason = sorted((live[c], str(r), int(n)) for c, r, n in skipped)
    lines = [
        "# HELP textcast_campaign_messages A live campaign's messages in each status",
        "# TYPE textcast_campaign_messages gauge",
    ]
    for campaign_id, name in sorted(live.items(), key=lambda item: item[1]):
        lines.extend(
            f'textcast_campaign_messages{{campaign="{_label(name)}",status="{state}"}} '
            f"{by_status.get((campaign_id, state), 0)}"
            for state in sorted(message_status.ALL)
        )
    lines += [
        "# HELP textcast_campaign_recipients_skipped A live campaign's recipients skipped, "
        "by reason",
        "# TYPE textcast_campaign_recipients_skipped gauge",
        *(
            f"textcast_campaign_recipients_skipped"
            f'{{campaign="{_label(name)}",reason="{_label(reason)}"}} {n}'
            for name, reason, n in by_reason
        ),
    ]
    return lines


async def exposition(sessions: async_sessionmaker[AsyncSession]) -> bytes:
    """The Prometheus page: this process's counters, then the messages in each
    status (the queue depth) and the live campaigns' numbers as the database
    has them right now."""
    lines = [
        "# HELP textcast_messages Messages currently in each status",
        "# TYPE textcast_messages gauge",
        *(
            f'textcast_messages{{status="{name}"}} {count}'
            for name, count in (await messages_by_status(sessions)).items()
        ),
        *await campaign_lines(sessions),
    ]
    return generate_latest() + ("\n".join(lines) + "\n").encode()


async def start_metrics_listener(
    sessions: async_sessionmaker[AsyncSession], host: str, port: int
) -> web.AppRunner:
    """Serve :func:`exposition` at ``http://host:port/metrics`` (for ``textcast
    worker``). Raises OSError when the address cannot be bound (nothing is
    left running then); once started, the caller cleans the runner up."""

    async def page(_: web.Request) -> web.Response:
        response = web.Response(body=await exposition(sessions))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/metrics", page)
    return await start_listener(app, host, port, access_log=None)
