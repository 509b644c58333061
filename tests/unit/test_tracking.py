"""Short links in text, and telling people from link-preview bots."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from textcast.tracking import links
from textcast.tracking.bots import bot_reason

BASE = "https://go.example.com"


def test_every_url_gets_its_own_code_and_punctuation_stays_outside() -> None:
    minted = links.mint(
        "Track it: https://shop.example.com/o/17?x=1. Or see http://example.com/help!", BASE
    )
    (code1, url1), (code2, url2) = minted.links
    assert minted.text == f"Track it: {BASE}/{code1}. Or see {BASE}/{code2}!"
    assert (url1, url2) == ("https://shop.example.com/o/17?x=1", "http://example.com/help")
    assert code1 != code2
    assert all(links.CODE.match(code) for code in (code1, code2))


def test_codes_are_random_not_sequential() -> None:
    codes = {links.new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == links.CODE_LENGTH and c.isalnum() for c in codes)


def test_every_character_of_a_code_is_equally_likely() -> None:
    """A random byte becomes a character through a table: each character must
    stand for as many bytes as every other, and the bytes that would make
    some likelier are dropped, never mapped."""
    kept = bytes(range(256)).translate(links._AS_CHARACTER, links._DROPPED)
    assert Counter(kept) == {ord(c): 256 // len(links.ALPHABET) for c in links.ALPHABET}
    assert len(kept) + len(links._DROPPED) == 256


def test_a_forked_process_draws_codes_of_its_own() -> None:
    """Codes come from a pool of random bytes read ahead: a child forked with
    its parent's pool must not mint the codes the parent mints next."""
    links.new_code()  # the pool is full now
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(writer, "".join(links.new_code() for _ in range(5)).encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(pid, 0)
    child = os.read(reader, 100).decode()
    os.close(reader)
    parent = "".join(links.new_code() for _ in range(5))
    assert len(child) == len(parent) == 5 * links.CODE_LENGTH
    assert child != parent


def test_utm_parameters_are_added_unless_the_link_sets_them() -> None:
    minted = links.mint(
        "https://example.com/p?utm_source=own",
        BASE,
        {"utm_source": "sms", "utm_campaign": "spring"},
    )
    assert minted.links[0][1] == "https://example.com/p?utm_source=own&utm_campaign=spring"


def test_measuring_uses_a_shortened_links_length() -> None:
    text = "See https://example.com/a/very/long/path/that/is/long?with=query&and=more"
    measured = links.measure_shortened(text, BASE)
    assert len(measured) == len(f"See {BASE}/") + links.CODE_LENGTH
    assert len(measured) == len(links.mint(text, BASE).text)


def test_a_text_cut_once_mints_new_codes_each_time() -> None:
    cut = links.cut("Sale: https://a.example/x, then https://b.example/y. Bye")
    first, second = cut.mint(BASE), cut.mint(BASE)
    assert [url for _, url in first.links] == ["https://a.example/x", "https://b.example/y"]
    assert {code for code, _ in first.links}.isdisjoint(code for code, _ in second.links)
    code1, code2 = (code for code, _ in first.links)
    assert first.text == f"Sale: {BASE}/{code1}, then {BASE}/{code2}. Bye"
    assert not links.cut("no links here").has_links


NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


@pytest.mark.parametrize(
    ("agent", "method", "delivered_seconds_ago", "reason"),
    [
        (PHONE, "GET", 60, None),
        (PHONE, "HEAD", 60, "head_request"),
        (PHONE, "GET", 2, "right_after_delivery"),
        (None, "GET", 60, "no_user_agent"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like "
            "Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
            "GET", 60, "bot_user_agent",
        ),
        ("WhatsApp/2.23.20.0 A", "GET", 60, "bot_user_agent"),
        ("TelegramBot (like TwitterBot)", "GET", 60, "bot_user_agent"),
        ("curl/8.5.0", "GET", 60, "bot_user_agent"),
        ("python-requests/2.32", "GET", 60, "bot_user_agent"),
        ("Mozilla/5.0 (Linux; Android 13; CUBOT X30) Chrome/120.0 Mobile", "GET", 60, None),
    ],
)  # fmt: skip
def test_bots_are_told_from_people(
    agent: str | None, method: str, delivered_seconds_ago: int, reason: str | None
) -> None:
    delivered = NOW - timedelta(seconds=delivered_seconds_ago)
    assert bot_reason(agent, method, NOW, delivered) == reason
