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

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from textcast.config import Settings

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CODE_LENGTH = 7
CODE = re.compile(rf"^[0-9A-Za-z]{{{CODE_LENGTH},16}}$")
# A URL runs to the next whitespace; punctuation that ends a sentence is not part of it.
URL_IN_TEXT = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
TRAILING = ".,;:!?)]}’”'\""


# Each character of a code is one byte from the operating system's CSPRNG,
# kept only below 248 (4 × 62) and written as ALPHABET[byte % 62]: uniform
# over the alphabet, the 8 bytes above dropped, so no character is likelier.
# One bytes.translate makes a pool of characters at C speed: one
# ``os.urandom`` per code was an eighth of a campaign's fan-out CPU (a
# syscall each), and base-62 arithmetic per code most of the rest.
_KEPT = len(ALPHABET) * (256 // len(ALPHABET))
_AS_CHARACTER = bytes(ord(ALPHABET[b % len(ALPHABET)]) if b < _KEPT else 0 for b in range(256))
_DROPPED = bytes(range(_KEPT, 256))
_POOL_BYTES = 4096


class _Characters:
    """Code characters read a pool at a time; a forked process reads a pool
    of its own, never its parent's (emptied at the fork: comparing
    ``os.getpid()`` per code would be a syscall again). Codes are minted on
    the event loop's thread only, so the pool takes no lock."""

    def __init__(self) -> None:
        self._empty()
        os.register_at_fork(after_in_child=self._empty)

    def _empty(self) -> None:
        self._pool = ""
        self._at = 0

    def take(self, count: int) -> str:
        end = self._at + count
        while end > len(self._pool):
            raw = secrets.token_bytes(_POOL_BYTES)
            self._pool = self._pool[self._at :] + raw.translate(_AS_CHARACTER, _DROPPED).decode()
            self._at, end = 0, count
        taken = self._pool[self._at : end]
        self._at = end
        return taken


_characters = _Characters()


def new_code() -> str:
    return _characters.take(CODE_LENGTH)


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


def measure_shortened(text: str, base: str) -> str:
    """``text`` as long as it will be once shortened (previews, segment counts):
    a code is :data:`CODE_LENGTH` characters of the GSM-7 alphabet, so any
    stand-in of that length counts the same."""
    pieces = cut(text).pieces
    stand_in = f"{base}/{'x' * CODE_LENGTH}"
    return "".join(piece if index % 2 == 0 else stand_in for index, piece in enumerate(pieces))


@dataclass
class Minted:
    """A text with its links shortened, and the (code, destination) of each."""

    text: str
    links: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Cut:
    """A text cut at its URLs, to mint new codes into again and again: the
    pieces alternate text, URL, text, … (a URL without the punctuation that
    ends its sentence). A campaign cuts each distinct rendered text once."""

    pieces: tuple[str, ...]

    @property
    def has_links(self) -> bool:
        return len(self.pieces) > 1

    def mint(self, base: str, utm: Mapping[str, str] | None = None) -> Minted:
        """The text with a new code for each URL (UTM parameters added to the
        destinations); the caller stores the links with their message."""
        if not self.has_links:
            return Minted(self.pieces[0])
        out: list[str] = []
        minted: list[tuple[str, str]] = []
        for index, piece in enumerate(self.pieces):
            if index % 2 == 0:
                out.append(piece)
                continue
            code = new_code()
            minted.append((code, with_utm(piece, utm or {})))
            out.append(f"{base}/{code}")
        return Minted("".join(out), minted)


def cut(text: str) -> Cut:
    pieces: list[str] = []
    at = 0
    for found in URL_IN_TEXT.finditer(text):
        url = found.group(0)
        kept = url.rstrip(TRAILING)
        pieces += [text[at : found.start()], kept]
        at = found.start() + len(kept)
    pieces.append(text[at:])
    return Cut(tuple(pieces))


def mint(text: str, base: str, utm: Mapping[str, str] | None = None) -> Minted:
    """Shorten every URL in ``text`` with a new code (UTM parameters added to
    the destination); the caller stores the links with their message."""
    return cut(text).mint(base, utm)
