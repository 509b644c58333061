"""Reading the JSON columns (contact attributes and tags, configs, event data).

A campaign's fan-out reads two JSON values per recipient; the standard
library's parser took a tenth of its CPU. orjson parses the same documents
to the same values about six times faster — except that it turns an integer
beyond 64 bits into a float, where Python keeps every digit (an account
number stored as a number must come back whole). A document with a run of
19 digits, or anything orjson refuses, goes to the standard parser.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_LONG_DIGITS = re.compile(r"\d{19}")


def loads(text: str | bytes) -> Any:
    if _LONG_DIGITS.search(text if isinstance(text, str) else text.decode()) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # NaN and the like, which json.dumps writes and orjson does not read
    return json.loads(text)
