"""Opt-out keywords as carriers and Twilio apply them: the whole reply, trimmed
and case-folded, must be the keyword. "Please stop texting me" is not an opt-out."""

from __future__ import annotations

from typing import Literal

OPT_OUT = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"})
OPT_IN = frozenset({"start", "yes", "unstop"})
HELP = frozenset({"help", "info"})

Keyword = Literal["opt_out", "opt_in", "help"]


def classify(body: str) -> Keyword | None:
    word = body.strip().casefold()
    if word in OPT_OUT:
        return "opt_out"
    if word in OPT_IN:
        return "opt_in"
    if word in HELP:
        return "help"
    return None
