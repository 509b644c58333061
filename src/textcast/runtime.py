"""The event loop and garbage collector settings of Textcast's long-running
processes (``serve``, ``worker``).

uvloop (installed with uvicorn[standard]) roughly halves the event-loop
overhead per send on the dispatch path; the standard loop is the fallback.

The cyclic garbage collector is tuned before the loop starts. With CPython's
defaults it ran every 700 new objects and now and then walked every object
the process holds (150,000 after the imports), and took about a third of a
campaign fan-out's CPU (measured with ``gc.callbacks`` in
``benchmarks/campaigns.py``). So: what the imports made is moved out of its
reach (``gc.freeze``: modules, classes and metadata live as long as the
process), and a collection waits for 50,000 new objects. Almost everything
is freed by reference counting anyway; the collector is only for cycles, and
50,000 objects' worth of cyclic garbage is a few megabytes at most.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

YOUNG_OBJECTS = 50_000  # CPython's default is 700


def tune_garbage_collector() -> None:
    gc.collect()  # the imports' own cyclic garbage, before the rest is frozen
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, middle, old)


def run(main: Coroutine[Any, Any, T]) -> T:
    tune_garbage_collector()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.run(main)
    return uvloop.run(main)
