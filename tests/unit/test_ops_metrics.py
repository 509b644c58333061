"""Send errors are counted by provider type and error code."""

from __future__ import annotations

from prometheus_client import REGISTRY

from textcast import metrics


def errors(provider: str, code: str) -> float:
    value = REGISTRY.get_sample_value(
        "textcast_send_errors_total", {"provider": provider, "code": code}
    )
    return value or 0.0


def test_each_send_error_counts_under_its_provider_type_and_code() -> None:
    before = errors("twilio", "21211"), errors("twilio", "20429"), errors("generic", "21211")
    metrics.count_send_error("twilio", "21211")
    metrics.count_send_error("twilio", "21211")
    metrics.count_send_error("twilio", "20429")
    after = errors("twilio", "21211"), errors("twilio", "20429"), errors("generic", "21211")
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1, 0]


def test_an_overlong_code_is_cut_and_an_empty_one_is_unknown() -> None:
    long_code = "x" * 500
    before = errors("generic", "x" * 32), errors("generic", "unknown")
    metrics.count_send_error("generic", long_code)
    metrics.count_send_error("generic", "")
    after = errors("generic", "x" * 32), errors("generic", "unknown")
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1]
