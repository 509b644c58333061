"""The group committer: one transaction for many callbacks, and what happens
when a batch fails."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from textcast.errors import ConcurrentUpdate
from textcast.web.group_commit import RACE_RETRIES, GroupCommitter


class Recorder:
    """A handler that records its batches and fails as told."""

    def __init__(self, races: int = 0, poison: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.races = races
        self.poison = poison

    async def __call__(self, items: Sequence[int]) -> list[str]:
        self.batches.append(list(items))
        if self.poison in items:
            raise ValueError("bad item")
        if self.races:
            self.races -= 1
            raise ConcurrentUpdate("lost a race")
        return [f"done {item}" for item in items]


async def test_callbacks_waiting_together_share_one_batch() -> None:
    handler = Recorder()
    committer = GroupCommitter(handler)
    results = await asyncio.gather(*(committer.run(i) for i in range(10)))
    await committer.close()
    assert results == [f"done {i}" for i in range(10)]
    assert handler.batches == [list(range(10))]


async def test_one_bad_callback_does_not_sink_the_others() -> None:
    committer = GroupCommitter(Recorder(poison=3))
    results = await asyncio.gather(*(committer.run(i) for i in range(5)), return_exceptions=True)
    await committer.close()
    assert [r for r in results if isinstance(r, ValueError)] == [results[3]]
    assert results[:3] + results[4:] == ["done 0", "done 1", "done 2", "done 4"]


async def test_a_lost_race_is_run_again() -> None:
    handler = Recorder(races=RACE_RETRIES)  # the batch, then all but the last retry lose
    committer = GroupCommitter(handler)
    assert await committer.run(1) == "done 1"
    await committer.close()
    assert len(handler.batches) == RACE_RETRIES + 1


async def test_a_race_lost_every_time_fails_the_callback() -> None:
    committer = GroupCommitter(Recorder(races=100))
    with pytest.raises(ConcurrentUpdate):
        await committer.run(1)
    await committer.close()
