"""Reading JSON: the database's JSON columns (contact attributes and tags,
configs, event data) and Twilio's answers.

A campaign's fan-out reads two JSON values per recipient; the standard
library's parser took a tenth of its CPU (and 4.5 µs of each send's).
orjson parses the same documents to the same values about six times faster
— except that it turns an integer beyond 64 bits into a float, where Python
keeps every digit (an account number stored as a number must come back
whole). A document with a run of 19 digits, or anything orjson refuses,
goes to the standard parser.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_LONG_DIGITS = re.compile(r"[0-9]{19}")
_LONG_DIGITS_IN_BYTES = re.compile(rb"[0-9]{19}")


def loads(text: str | bytes) -> Any:
    if isinstance(text, str):
        exact_enough = _LONG_DIGITS.search(text) is None
    else:
        exact_enough = _LONG_DIGITS_IN_BYTES.search(text) is None
    if exact_enough:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # NaN and the like, which json.dumps writes and orjson does not read
    return json.loads(text)
