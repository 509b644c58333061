"""Prometheus metrics. Counters live in-process; queue depth is read from the
database when scraped, so every process reports the same truth."""

from __future__ import annotations

import functools

from prometheus_client import Counter, Histogram

SENDS = Counter(
    "textcast_sends_total", "Send attempts by provider type and result", ["provider", "result"]
)
SEND_LATENCY = Histogram(
    "textcast_send_latency_seconds",
    "Provider API latency per send attempt",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CALLBACKS = Counter(
    "textcast_callbacks_total", "Provider callbacks by kind and outcome", ["kind", "outcome"]
)


@functools.cache
def callback_counter(kind: str, outcome: str) -> Counter:
    """CALLBACKS for one kind and outcome; labels() takes a lock on every call,
    which shows on the status-callback path."""
    return CALLBACKS.labels(kind, outcome)
