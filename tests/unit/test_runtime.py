"""The long-running processes' garbage collector settings (textcast.runtime)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc
from textcast import runtime

async def main():
    return gc.get_threshold()[0], gc.get_freeze_count()

young, frozen = runtime.run(main())
print(young, frozen)
"""


def test_the_processes_freeze_their_imports_and_collect_cycles_less_often() -> None:
    # A process of its own: freezing is for the life of the process.
    answer = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    young, frozen = (int(part) for part in answer.stdout.split())
    assert young == 50_000
    assert frozen > 10_000  # what the imports made, out of the collector's reach
