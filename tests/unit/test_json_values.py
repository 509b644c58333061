"""JSON columns read through orjson must give what the standard parser gives."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from textcast import json_values

DOCUMENTS = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too: orjson would make those floats
    | st.floats()  # NaN and infinities: json.dumps writes them, orjson refuses them
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(DOCUMENTS)
def test_every_document_reads_as_the_standard_parser_reads_it(value: Any) -> None:
    text = json.dumps(value)
    read = json_values.loads(text)
    # Compared as written again: NaN is not equal to itself.
    assert json.dumps(read) == json.dumps(json.loads(text))
    assert json.dumps(json_values.loads(text.encode())) == json.dumps(read)


def test_an_account_number_keeps_every_digit() -> None:
    assert json_values.loads('{"account": 123456789012345678901}') == {
        "account": 123456789012345678901
    }
