"""Short links: every http(s) URL in a message's text becomes a link of its
own on Textcast's public URL (``<public URL>/s/<code>``) or on a short domain
the operator runs (``TEXTCAST_SHORT_LINK_BASE``, e.g. ``https://go.example.com``,
whose requests reach Textcast as ``/<code>``).

Codes are random, :data:`CODE_LENGTH` characters of base62 from ``secrets``:
about 3.5 × 10¹² of them, so a million links leave a guess one chance in
three million, and nothing about a code says which message or customer it
belongs to. A link's length is what segment counts and previews use: the
text is shortened before it is measured.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from textcast.config import Settings

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CODE_LENGTH = 7
CODE = re.compile(rf"^[0-9A-Za-z]{{{CODE_LENGTH},16}}$")
# A URL runs to the next whitespace; punctuation that ends a sentence is not part of it.
URL_IN_TEXT = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
TRAILING = ".,;:!?)]}’”'\""


_CODES = len(ALPHABET) ** CODE_LENGTH


def new_code() -> str:
    # One draw from the CSPRNG, written in base 62: the same uniform codes as
    # a draw per character, a fifth of the cost (a campaign mints one a message).
    number = secrets.randbelow(_CODES)
    digits = []
    for _ in range(CODE_LENGTH):
        number, digit = divmod(number, len(ALPHABET))
        digits.append(ALPHABET[digit])
    return "".join(digits)


def link_base(settings: Settings) -> str:
    """What a code is appended to, without a trailing slash."""
    return settings.short_link_base.rstrip("/") or f"{settings.effective_public_url}/s"


def with_utm(url: str, utm: Mapping[str, str]) -> str:
    """``url`` with the UTM parameters it does not already set."""
    if not utm:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {name for name, _ in query}
    query += [(k, v) for k, v in utm.items() if k not in present]
    return urlunsplit(parts._replace(query=urlencode(query)))


def shorten(text: str, base: str, mint: Callable[[str], str]) -> str:
    """``text`` with each URL replaced by ``base/<code>``, ``mint(url)`` giving
    the code (and recording the link)."""

    def replace(found: re.Match[str]) -> str:
        url = found.group(0)
        kept = url.rstrip(TRAILING)
        return f"{base}/{mint(kept)}{url[len(kept) :]}"

    return URL_IN_TEXT.sub(replace, text)


def measure_shortened(text: str, base: str) -> str:
    """``text`` as long as it will be once shortened (previews, segment counts)."""
    return shorten(text, base, lambda _: "x" * CODE_LENGTH)


@dataclass
class Minted:
    """A text with its links shortened, and the (code, destination) of each."""

    text: str
    links: list[tuple[str, str]] = field(default_factory=list)


def mint(text: str, base: str, utm: Mapping[str, str] | None = None) -> Minted:
    """Shorten every URL in ``text`` with a new code (UTM parameters added to
    the destination); the caller stores the links with their message."""
    minted = Minted(text)

    def record(url: str) -> str:
        code = new_code()
        minted.links.append((code, with_utm(url, utm or {})))
        return code

    minted.text = shorten(text, base, record)
    return minted
