"""Exact SMS segment counting and splitting (GSM 03.38 / UCS-2).

Contract:

* A body made only of GSM 03.38 default-alphabet characters travels as GSM-7:
  160 septets in a single message, 153 per part once it has to be split (the
  concatenation header takes the rest). Extension-table characters (``^ { } \\
  [ ] ~ | €`` and form feed) cost two septets: an escape plus the character.
* One character outside that alphabet switches the *whole* message to UCS-2:
  70 UTF-16 code units single, 67 per part. Characters outside the Basic
  Multilingual Plane (most emoji) take two code units (a surrogate pair).
* A split never separates an escape from its character nor the halves of a
  surrogate pair, so a part may end one unit short. Segment counts therefore
  come from the real, greedy split rather than ``ceil(units / 153)``:
  152 septets followed by ``€`` needs a second part for the ``€``.
* An empty body is one GSM-7 segment with nothing in it: providers bill a send
  with no text as one segment, and ``split("")`` returns ``[""]`` so that
  ``len(split(b)) == analyze(b).segments`` holds for every body.

This runs for every message and for each row of a batch intake, so the common
cases are counted with C-level string operations and only bodies that contain
a two-unit character and need splitting are walked character by character.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# GSM 03.38 default alphabet, in table order (0x1B, the escape, is not a character).
# 0x09 is written as capital Ç as in the standard's table and Unicode's mapping;
# lowercase ç is not in the alphabet and so forces UCS-2.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# Reached through the escape, so each costs two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[]~|€")
GSM7 = GSM7_BASIC | GSM7_EXTENSION

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True)
class SegmentInfo:
    """How a body is encoded and how many segments it is billed as."""

    encoding: Encoding
    segments: int  # at least 1, even for an empty body
    units: int  # septets (GSM-7, extension chars count 2) or UTF-16 code units (UCS-2)
    per_segment: int  # 160/70 when it fits one segment, 153/67 once split
    characters: int  # len(body): Python code points
    remaining: int  # units still free in the last segment


def is_gsm7(body: str) -> bool:
    """Whether every character of ``body`` is in the GSM 03.38 alphabet (basic or extension)."""
    return GSM7.issuperset(body)


def non_gsm7(body: str) -> list[str]:
    """The characters that force ``body`` into UCS-2 (a curly quote in a first
    name, an emoji), each once, in order of appearance."""
    return list(dict.fromkeys(ch for ch in body if ch not in GSM7))


def _units(text: str, gsm: bool) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) of ``text``, using C-level string scans."""
    if gsm:
        return len(text) + sum(text.count(ch) for ch in GSM7_EXTENSION)
    # surrogatepass: a lone surrogate (possible in a Python str) counts as the one unit it is.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _part_starts(body: str, gsm: bool, part: int, wide: int) -> list[int]:
    """Index where each part begins, filling every part greedily up to ``part`` units."""
    if not wide:  # one unit per character: parts are plain slices
        return list(range(0, len(body), part))
    starts = [0]
    used = 0
    for index, ch in enumerate(body):
        cost = 2 if (ch in GSM7_EXTENSION if gsm else ord(ch) > 0xFFFF) else 1
        if used + cost > part:  # the pair would straddle the boundary: start a new part
            starts.append(index)
            used = 0
        used += cost
    return starts


def _plan(body: str) -> tuple[bool, int, int, list[int]]:
    """``(is GSM-7, units, units per segment, index where each part starts)``."""
    gsm = GSM7.issuperset(body)
    units = _units(body, gsm)
    single, part = (GSM7_SINGLE, GSM7_PART) if gsm else (UCS2_SINGLE, UCS2_PART)
    if units <= single:
        return gsm, units, single, [0]
    return gsm, units, part, _part_starts(body, gsm, part, wide=units - len(body))


def analyze(body: str) -> SegmentInfo:
    """Encoding, unit count and exact segment count of ``body``."""
    gsm, units, per_segment, starts = _plan(body)
    last = units if len(starts) == 1 else _units(body[starts[-1] :], gsm)
    return SegmentInfo(
        encoding="GSM-7" if gsm else "UCS-2",
        segments=len(starts),
        units=units,
        per_segment=per_segment,
        characters=len(body),
        remaining=per_segment - last,
    )


def split(body: str) -> list[str]:
    """The parts ``body`` travels in; ``"".join(split(body)) == body`` always.

    A body that fits one segment comes back as ``[body]`` (``[""]`` when empty).
    """
    starts = _plan(body)[3]
    ends = [*starts[1:], len(body)]
    return [body[start:end] for start, end in zip(starts, ends, strict=True)]
