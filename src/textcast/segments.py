"""Exact SMS segment counting and splitting (GSM 03.38 / UCS-2).

GSM-7 carries 160 septets in a single message and 153 per part once split (the
user-data header takes the rest); the extension characters cost two septets
(escape + character). Any character outside the GSM alphabet switches the whole
message to UCS-2: 70 UTF-16 code units single, 67 per part. A split never cuts
an escape pair or a surrogate pair, so counts come from the real split.

An empty body counts as one segment, as providers bill it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM7 = GSM7_BASIC | GSM7_EXTENSION

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True)
class SegmentInfo:
    encoding: Encoding
    segments: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    per_segment: int
    characters: int
    remaining: int  # units still free in the last segment


def is_gsm7(body: str) -> bool:
    return GSM7.issuperset(body)


def _unit_costs(body: str, gsm: bool) -> list[int]:
    if gsm:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in body]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in body]


def _split_points(costs: list[int], part: int) -> list[int]:
    """Indexes where each part after the first starts, filling parts greedily."""
    starts: list[int] = []
    used = 0
    for index, cost in enumerate(costs):
        if used + cost > part:
            starts.append(index)
            used = 0
        used += cost
    return starts


def analyze(body: str) -> SegmentInfo:
    gsm = is_gsm7(body)
    single, part = (GSM7_SINGLE, GSM7_PART) if gsm else (UCS2_SINGLE, UCS2_PART)
    encoding: Encoding = "GSM-7" if gsm else "UCS-2"
    if gsm and body.isascii() and not any(ch in GSM7_EXTENSION for ch in body):
        units = len(body)  # fast path: plain text is one septet per character
        costs = None
    else:
        costs = _unit_costs(body, gsm)
        units = sum(costs)
    if units <= single:
        return SegmentInfo(encoding, 1, units, single, len(body), single - units)
    if costs is None:
        segments = -(-units // part)
        last = units - (segments - 1) * part
    else:
        starts = _split_points(costs, part)
        segments = len(starts) + 1
        last = sum(costs[starts[-1] :])
    return SegmentInfo(encoding, segments, units, part, len(body), part - last)


def split(body: str) -> list[str]:
    """The parts the message travels in (one part when it fits a single segment)."""
    info = analyze(body)
    if info.segments == 1:
        return [body]
    starts = _split_points(_unit_costs(body, info.encoding == "GSM-7"), info.per_segment)
    bounds = [0, *starts, len(body)]
    return [body[a:b] for a, b in pairwise(bounds)]
