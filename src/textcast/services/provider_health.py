"""A provider's health now: what its last minutes of sending say, as a verdict
with the reasons behind it (the provider's Health page and the API).

Over the messages created in the last :data:`WINDOW` (read through
``ix_messages_created_at``, so the cost follows the recent traffic, not the
table) and their send attempts:

- ``failing``: no send attempt went through and at least :data:`FEW` were
  refused for reasons that are not one recipient's or one message's (wrong
  credentials, a sender the account does not own, an outage, timeouts);
- ``degraded``: some answered 429 (over the account's concurrency or rate),
  a large share of the messages failed, messages wait past
  :data:`OVERDUE` to be sent, or messages sent more than :data:`CALLBACK_GRACE`
  ago got no status callback (Textcast's callback URL unreachable from the
  provider: ``TEXTCAST_PUBLIC_URL``, a relay), where callbacks are expected;
- ``healthy``: none of that; ``idle``: nothing sent in the window.

Failures include a recipient's own (an invalid or unsubscribed number), so the
failure share is a reason to look, with the most frequent codes named, not a
verdict of ``failing`` by itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, exists, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import status
from textcast.db.dialect import dialect_of
from textcast.db.models import Message, MessageEvent, SendAttempt, utcnow
from textcast.db.models import Provider as ProviderRow
from textcast.services.stats import errors_by_code

WINDOW = timedelta(minutes=15)
CALLBACK_GRACE = timedelta(minutes=5)
OVERDUE = timedelta(minutes=1)
FEW = 3  # attempts before "refused every one" means something
FAILURE_SHARE = 0.2  # of at least FAILURES_COUNTED final messages
FAILURES_COUNTED = 10
RATE_LIMITED_CODE = "20429"
# Refusals about one recipient or one message (Twilio's codes): three invalid
# numbers in a row say nothing about the account.
RECIPIENT_CODES = ("21211", "21602", "21604", "21608", "21610", "21614", "21617", "21619", "21620")
REPORT_SOURCES = ("callback", "receipt")  # Twilio's status callbacks, a generic receipt
IN_FLIGHT = (status.ACCEPTED, status.SCHEDULED, status.SENDING, status.SENT, status.UNKNOWN)


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def expects_reports(provider: ProviderRow) -> bool:
    """Whether the provider calls back with statuses: Twilio always, a generic
    provider when its definition reads delivery receipts."""
    return provider.type == "twilio" or bool(provider.config.get("receipt"))


async def health(
    session: AsyncSession, provider: ProviderRow, now: datetime | None = None
) -> dict[str, Any]:
    now = now or utcnow()
    recent = [Message.provider_id == provider.id, Message.created_at >= now - WINDOW]
    unreported = ~exists().where(
        MessageEvent.message_id == Message.id, MessageEvent.source.in_(REPORT_SOURCES)
    )
    (m,) = await session.execute(
        select(
            func.count().label("messages"),
            _count(Message.status.in_((status.QUEUED, status.DISPATCHING))).label("waiting"),
            _count(
                (Message.status == status.QUEUED) & (Message.next_attempt_at < now - OVERDUE)
            ).label("overdue"),
            _count(Message.status.in_(IN_FLIGHT)).label("in_flight"),
            _count(Message.status.in_((status.DELIVERED, status.READ))).label("delivered"),
            _count(Message.status.in_((status.FAILED, status.UNDELIVERED))).label("failed"),
            _count(Message.status.in_(status.FINAL)).label("final"),
            _count((Message.sent_at < now - CALLBACK_GRACE) & unreported).label("unreported"),
            func.max(Message.sent_at).label("last_accepted_at"),
        ).where(*recent)
    )
    rate_limited = (SendAttempt.http_status == 429) | (
        SendAttempt.provider_code == RATE_LIMITED_CODE
    )
    refused = SendAttempt.outcome != "accepted"
    about_the_account = refused & (
        SendAttempt.provider_code.is_(None) | SendAttempt.provider_code.not_in(RECIPIENT_CODES)
    )
    (a,) = await session.execute(
        select(
            func.count().label("attempts"),
            _count(refused).label("refused"),
            _count(about_the_account).label("account_refusals"),
            _count(rate_limited).label("rate_limited"),
        )
        .join(Message, Message.id == SendAttempt.message_id)
        .where(*recent)
    )
    last_refusal = (
        await session.execute(
            select(SendAttempt.started_at, SendAttempt.provider_code, SendAttempt.detail)
            .join(Message, Message.id == SendAttempt.message_id)
            .where(*recent, refused)
            .order_by(SendAttempt.id.desc())
            .limit(1)
        )
    ).first()
    latency = (
        select(literal_column("0").label("key"), SendAttempt.latency_ms.label("v"))
        .join(Message, Message.id == SendAttempt.message_id)
        .where(*recent, SendAttempt.latency_ms.is_not(None))
        .subquery()
    )
    median = (await dialect_of(session).percentiles(session, latency, [0.5])).get(0)
    numbers = {
        **{key: int(getattr(m, key)) for key in m._fields if key != "last_accepted_at"},
        "attempts": int(a.attempts),
        "refused_attempts": int(a.refused),
        "account_refusals": int(a.account_refusals),
        "rate_limited": int(a.rate_limited),
        "median_latency_ms": round(median[0], 1) if median else None,
    }
    if not expects_reports(provider):
        numbers["unreported"] = None
    errors = await errors_by_code(session, recent)
    verdict, reasons = judge(numbers, errors)
    return {
        "provider": {"id": provider.id, "name": provider.name, "type": provider.type},
        "verdict": verdict,
        "reasons": reasons,
        "window_minutes": int(WINDOW.total_seconds() // 60),
        "since": (now - WINDOW).isoformat(),
        "last_accepted_at": m.last_accepted_at.isoformat() if m.last_accepted_at else None,
        "last_refusal": {
            "at": last_refusal.started_at.isoformat(),
            "code": last_refusal.provider_code,
            "detail": last_refusal.detail,
        }
        if last_refusal
        else None,
        **numbers,
        "errors": errors[:5],
    }


def judge(n: dict[str, Any], errors: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """The verdict on :func:`health`'s numbers, and why, in words."""
    minutes = int(WINDOW.total_seconds() // 60)
    if n["messages"] == 0:
        return "idle", [f"No messages in the last {minutes} minutes."]
    top = "; most often " + ", ".join(_named(e) for e in errors[:2]) if errors else ""
    if n["refused_attempts"] == n["attempts"] and n["account_refusals"] >= FEW:
        return "failing", [
            f"No send went through: the provider refused all {n['attempts']} attempts{top}."
        ]
    reasons: list[str] = []
    if n["rate_limited"]:
        reasons.append(
            f"{n['rate_limited']} send attempts were answered 429 (too many requests): "
            "lower the senders' rates or TEXTCAST_PROVIDER_CONCURRENCY."
        )
    if n["final"] >= FAILURES_COUNTED and n["failed"] >= FAILURE_SHARE * n["final"]:
        reasons.append(f"{n['failed']} of {n['final']} finished messages failed{top}.")
    if n["overdue"]:
        reasons.append(
            f"{n['overdue']} messages have waited over a minute to be sent "
            "(is a worker running? a sender at its rate limit?)."
        )
    if n["unreported"]:
        reasons.append(
            f"{n['unreported']} messages sent over {int(CALLBACK_GRACE.total_seconds() // 60)} "
            "minutes ago got no status report: the provider may not reach Textcast's callback "
            "URL (TEXTCAST_PUBLIC_URL, or a custom callback URL's relay)."
        )
    if reasons:
        return "degraded", reasons
    return "healthy", [f"Sends accepted and reported on in the last {minutes} minutes."]


def _named(error: dict[str, Any]) -> str:
    code = error["error_code"] or "no code"
    described = f" ({error['description']})" if error["description"] else ""
    return f"{code}{described} ×{error['count']}"
