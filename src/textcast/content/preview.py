"""Previews: a template's text as one recipient will get it, with what it
costs (segments, encoding), what made it Unicode, and what it is missing."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from textcast import sms_segments
from textcast.content.render import Compiled, Record, RenderError, missing_variables


@dataclass(frozen=True)
class Preview:
    """One recipient's text (None when it cannot be rendered, with ``error``)."""

    text: str | None
    segments: int
    encoding: str
    characters: int
    unicode_characters: list[str]  # what forced UCS-2; empty for GSM-7
    missing: list[str] = field(default_factory=list)
    error: str | None = None
    # The saved contact it was rendered for (its number); None for sample data.
    recipient: str | None = None


def preview(
    compiled: Compiled,
    contact: Record,
    data: Mapping[str, Any],
    zone: ZoneInfo | None,
    *,
    unsubscribe_text: str | None = None,
    shorten: Callable[[str], str] | None = None,
) -> Preview:
    """The text as it would be sent: rendered, with the unsubscribe text and
    tracked links (``shorten`` swaps each URL for a link of the length it
    will have) in place, since both count toward the segments."""
    missing = missing_variables(compiled, contact, data)
    try:
        text = compiled.render(contact, data, zone)
    except RenderError as exc:
        return Preview(None, 0, "", 0, [], missing, str(exc))
    text = finish(text, unsubscribe_text, shorten)
    info = sms_segments.analyze(text)
    return Preview(
        text, info.segments, info.encoding, info.characters, sms_segments.non_gsm7(text), missing
    )


def finish(
    text: str, unsubscribe_text: str | None, shorten: Callable[[str], str] | None = None
) -> str:
    """The rendered text with its tracked links and the unsubscribe line."""
    if shorten is not None:
        text = shorten(text)
    if unsubscribe_text:
        text = f"{text}\n{unsubscribe_text}" if text else unsubscribe_text
    return text


def worst_case(previews: Sequence[Preview]) -> dict[str, Any]:
    """Over a sample: the most segments any recipient gets, how many came out
    Unicode, how many could not be rendered."""
    rendered = [p for p in previews if p.text is not None]
    return {
        "sampled": len(previews),
        "max_segments": max((p.segments for p in rendered), default=0),
        "ucs2": sum(1 for p in rendered if p.encoding == "UCS-2"),
        "render_errors": len(previews) - len(rendered),
    }
