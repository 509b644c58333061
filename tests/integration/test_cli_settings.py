"""A setting that cannot be read stops every command, `serve` included, at
start-up with exit 2 naming it — never a traceback, never later at the first
campaign."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BAD_SETTINGS = [
    ("TEXTCAST_FREQUENCY_CAPS", "2/banana", "cannot read '2/banana'"),
    ("TEXTCAST_QUIET_HOURS", "25:00-08:00", "HH:MM"),
    ("TEXTCAST_SEGMENT_PRICES", "abc", "written as JSON"),
    ("TEXTCAST_SEGMENT_PRICES", '{"*": -1}', "cannot be negative"),
    ("TEXTCAST_QUIET_HOURS_INSIDE", "later", "'defer' or 'skip'"),
    ("TEXTCAST_DEFAULT_REGION", "XX", "not a region code"),
]


@pytest.mark.parametrize(("name", "value", "reason"), BAD_SETTINGS)
@pytest.mark.parametrize("command", [["campaigns", "list"], ["serve"]])
def test_a_bad_setting_is_refused_at_start_naming_it(
    tmp_path: Path, name: str, value: str, reason: str, command: list[str]
) -> None:
    env = {**os.environ, "TEXTCAST_DATA_DIR": str(tmp_path), name: value}
    env.pop("TEXTCAST_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "textcast", *command],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert f"bad setting {name}" in done.stderr and reason in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_good_campaign_settings_are_accepted(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TEXTCAST_DATA_DIR": str(tmp_path),
        "TEXTCAST_FREQUENCY_CAPS": "2/24h,5/week",
        "TEXTCAST_QUIET_HOURS": "",
        "TEXTCAST_SEGMENT_PRICES": '{"*": 0.0083, "*:GB": 0.0463}',
    }
    env.pop("TEXTCAST_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "textcast", "campaigns", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr
