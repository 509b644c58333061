"""What the wizard shows before a launch: who the audience is now (the
segment count service's numbers), each text's segments and encoding, and an
estimated cost from the configured per-segment prices."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from textcast import phone, sms_segments
from textcast.audience import rules, segments
from textcast.config import Settings
from textcast.content import templates
from textcast.content.preview import worst_case
from textcast.content.templates import TemplateFields
from textcast.db.models import Provider
from textcast.errors import NotFound, ValidationFailed
from textcast.policy import geo
from textcast.services import senders as sender_service
from textcast.services import template_previews
from textcast.services.campaign_stats import price_of
from textcast.services.template_previews import PreviewRequest


async def audience_numbers(
    session: AsyncSession,
    settings: Settings,
    audience: dict[str, Any] | None,
    sender: str | None = None,
) -> dict[str, Any]:
    """How many the audience holds now, and how many of them cannot be
    messaged (opted out, invalid number, a country the provider of
    ``sender`` — or of the default sender — may not send to); ``error`` when
    it cannot be read; ``kept`` for an audience the form leaves as the API
    set it (None)."""
    if audience is None:
        return {"kept": True, "total": None, "sendable": None}
    zone = settings.default_time_zone
    found: segments.Count | None
    try:
        if audience.get("segment"):
            segment = await segments.find(session, str(audience["segment"]))
            found = await segments.count(session, rules.parse(segment.rules), zone, sample=0)
            numbers: dict[str, Any] = {
                "total": found.total,
                "opted_out": found.opted_out,
                "invalid": found.invalid,
                "sendable": found.sendable,
                "by_country": found.by_country,
                "new": 0,
            }
        elif audience.get("phones"):
            numbers, found = await _phone_numbers(session, settings, audience["phones"])
        elif audience.get("contacts"):
            listed = len(set(audience["contacts"]))
            numbers = {"total": listed, "opted_out": None, "invalid": None, "sendable": None}
            numbers.update(by_country=[], new=0)
            found = None
        else:
            return {"error": "choose a segment, or give phone numbers or contact IDs"}
    except NotFound as exc:
        return {"error": str(exc)}
    except ValidationFailed as exc:
        return {"error": exc.message}
    if found is not None and numbers["sendable"] is not None:
        outside = await _outside_allowed(session, sender, found.sendable_by_country)
        numbers["outside"] = outside
        numbers["sendable"] -= outside
    return numbers


async def _outside_allowed(
    session: AsyncSession, sender_ref: str | None, sendable: dict[str | None, int]
) -> int:
    """Of those who could be messaged, how many are in countries the
    sender's provider may not send to (skipped ``geo_not_allowed`` at launch)."""
    sender = None
    if sender_ref:
        sender = await sender_service.find_sender(session, sender_ref, missing_ok=True)
    sender = sender or await sender_service.default_sender(session)
    if sender is None:
        return 0
    allowed = geo.allowed_of((await sender_service.provider_of(session, sender)).config)
    if not allowed:
        return 0
    return sum(n for country, n in sendable.items() if country not in allowed)


async def _phone_numbers(
    session: AsyncSession, settings: Settings, given: list[str]
) -> tuple[dict[str, Any], segments.Count | None]:
    """A list of numbers: those already contacts are counted by the segment
    service (opted out, invalid); the others become contacts at launch."""
    numbers = sorted(
        {
            phone.normalize(p, settings.default_region, field=f"phones[{i}]")
            for i, p in enumerate(given)
        }
    )
    if len(numbers) > rules.MAX_CONDITIONS:
        counted_at_launch: dict[str, Any] = {
            "total": len(numbers),
            "opted_out": None,
            "invalid": None,
            "sendable": None,
            "by_country": [],
            "new": None,
        }
        return counted_at_launch, None
    rule = {"any": [{"field": "phone", "op": "eq", "value": n} for n in numbers]}
    known = await segments.count(session, rules.parse(rule), settings.default_time_zone, sample=0)
    counted = {
        "total": len(numbers),
        "opted_out": known.opted_out,
        "invalid": known.invalid,
        "sendable": len(numbers) - known.opted_out - known.invalid,
        "by_country": known.by_country,
        "new": len(numbers) - known.total,
    }
    return counted, known


async def texts(
    session: AsyncSession, settings: Settings, data: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each text the campaign sends (its one text, or every variant's): as
    written (segments, encoding), and, for a saved segment, the worst case
    over its first contacts rendered as they will get it."""
    arms = data["variants"] or [
        {"name": None, "template": data["template"], "body": data["body"], "percent": 100}
    ]
    found = []
    for arm in arms:
        body = arm["body"]
        if arm["template"] is not None:
            template = await templates.get(session, arm["template"])
            body = templates.current_version(template).body
        info = sms_segments.analyze(body or "")
        found.append(
            {
                "name": arm["name"],
                "percent": arm["percent"],
                "body": body or "",
                "segments": info.segments,
                "encoding": info.encoding,
                "characters": info.characters,
                "unicode": sms_segments.non_gsm7(body or ""),
                "personalised": "{{" in (body or ""),
                "sample": await _sample(session, settings, data, arm["template"], body),
            }
        )
    return found


async def _sample(
    session: AsyncSession,
    settings: Settings,
    data: dict[str, Any],
    template: str | None,
    body: str | None,
) -> dict[str, Any] | None:
    """The template preview service's worst case over the segment's first
    contacts (None for an audience that is no saved segment)."""
    segment = (data.get("audience") or {}).get("segment")
    if segment is None or (template is None and not body):
        return None
    try:
        draft = None
        if template is None:
            draft = TemplateFields(
                body=body or "", sender=data["sender"], click_tracking=data["click_tracking"]
            )
        request = PreviewRequest(template=template, draft=draft, segment=str(segment))
        previews = await template_previews.run(session, settings, request)
    except (ValidationFailed, NotFound, ValidationError) as exc:
        return {"error": getattr(exc, "message", str(exc))}
    failed = next((p for p in previews if p.error), None)
    return {
        **worst_case(previews),
        "first_error": f"{failed.recipient}: {failed.error}" if failed else None,
    }


async def estimated_cost(
    session: AsyncSession,
    settings: Settings,
    data: dict[str, Any],
    numbers: dict[str, Any],
    found_texts: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """Sendable recipients (less the control group) × the longest text's
    segments × the price per segment (``TEXTCAST_SEGMENT_PRICES``), averaged
    over the audience's countries; None without a price for each of them."""
    prices = settings.segment_prices
    if not prices or not numbers.get("sendable") or not found_texts:
        return None
    sender = None
    if data["sender"]:
        sender = await sender_service.find_sender(session, data["sender"], missing_ok=True)
    sender = sender or await sender_service.default_sender(session)
    if sender is None:
        return None
    row = await session.get(Provider, sender.provider_id)
    provider = row.name if row is not None else ""
    segments_each = max(
        max(t["segments"], (t["sample"] or {}).get("max_segments") or 0) for t in found_texts
    )
    held_out = (100 - int(data["control_percent"] or 0)) / 100
    # The price per country, weighted by where the audience's known contacts are.
    countries = numbers["by_country"] or [{"country": "ZZ", "count": 1}]
    weighted = 0.0
    for entry in countries:
        price = price_of(prices, provider, entry["country"] or "ZZ")
        if price is None:
            return None
        weighted += entry["count"] * price
    average = weighted / sum(entry["count"] for entry in countries)
    total = numbers["sendable"] * held_out * segments_each * average
    return {"amount": round(total, 2), "currency": settings.segment_price_currency}
