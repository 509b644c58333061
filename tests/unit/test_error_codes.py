"""The Twilio error catalogue: names shown to users and retry decisions."""

import pytest

from textcast.error_codes import CATALOGUE, describe, is_permanent, lookup

REQUIRED = [
    *(str(code) for code in range(30001, 30011)),
    "20003", "20404", "20429",
    "21211", "21212", "21408", "21602", "21603", "21604", "21606", "21608",
    "21610", "21611", "21612", "21614", "21617", "21660",
    "30032", "30034", "30036",
]  # fmt: skip


@pytest.mark.parametrize("code", REQUIRED)
def test_the_catalogue_covers_the_codes_users_see(code: str) -> None:
    entry = CATALOGUE[code]
    assert entry.code == code
    assert entry.name and entry.description.endswith(".")


def test_every_entry_is_filed_under_its_own_code() -> None:
    assert all(key == entry.code and key.isdigit() for key, entry in CATALOGUE.items())


@pytest.mark.parametrize(
    ("code", "name"),
    [
        pytest.param(30001, "Queue overflow", id="an int code"),
        pytest.param("30003", "Unreachable destination handset", id="a str code"),
        pytest.param(" 21610 ", "Unsubscribed recipient", id="a code with spaces"),
    ],
)
def test_lookup_accepts_ints_and_strings(code: str | int, name: str) -> None:
    entry = lookup(code)
    assert entry is not None and entry.name == name


@pytest.mark.parametrize("code", [None, "", "99999", "http_500", "abc"])
def test_unknown_codes_have_no_entry_and_no_description(code: str | None) -> None:
    assert lookup(code) is None
    assert describe(code) is None


def test_describe_gives_name_and_description() -> None:
    assert describe(30005) == (
        "Unknown destination handset: The number does not exist or is no longer in service."
    )


def test_the_trial_account_error_says_what_to_do() -> None:
    text = describe("21608") or ""
    assert "verify" in text and "Twilio console" in text and "upgrade" in text


def test_only_an_unsubscribed_recipient_is_suppressed() -> None:
    suppressed = {code for code, entry in CATALOGUE.items() if entry.suppress_recipient}
    assert suppressed == {"21610"}


@pytest.mark.parametrize(
    ("code", "permanent"),
    [
        pytest.param("20429", False, id="too many requests is retried"),
        pytest.param("30001", False, id="queue overflow is retried"),
        pytest.param("21611", False, id="a full sender queue is retried"),
        pytest.param("20003", True, id="bad credentials are permanent"),
        pytest.param("21211", True, id="an invalid To is permanent"),
        pytest.param("21408", True, id="a region without permission is permanent"),
        pytest.param("21606", True, id="an unusable From is permanent"),
        pytest.param("21608", True, id="an unverified trial recipient is permanent"),
        pytest.param("21610", True, id="an unsubscribed recipient is permanent"),
        pytest.param("21614", True, id="a landline is permanent"),
        pytest.param("30007", True, id="filtered content is permanent"),
        pytest.param(30001, False, id="an int code is looked up like a string"),
    ],
)
def test_known_codes_carry_their_retry_decision(code: str | int, permanent: bool) -> None:
    assert is_permanent(code) is permanent


@pytest.mark.parametrize(
    ("code", "permanent"),
    [
        pytest.param("21999", True, id="an unknown 21xxx request error is permanent"),
        pytest.param("30999", True, id="an unknown delivery error is permanent"),
        pytest.param("template", True, id="an unknown provider code is permanent"),
        pytest.param(None, True, id="no code at all is permanent"),
        pytest.param("timeout", False, id="a timeout is transient"),
        pytest.param("network", False, id="a lost connection is transient"),
        pytest.param("internal", False, id="an internal failure is transient"),
        pytest.param("http_429", False, id="HTTP 429 without a code is transient"),
        pytest.param("http_503", False, id="HTTP 503 without a code is transient"),
        pytest.param("http_400", True, id="HTTP 400 without a code is permanent"),
    ],
)
def test_unknown_codes_are_permanent_unless_known_transient(
    code: str | None, permanent: bool
) -> None:
    assert is_permanent(code) is permanent
