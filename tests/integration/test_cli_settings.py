"""A setting that cannot be read stops every command, `serve` included, at
start-up with exit 2 naming it — never a traceback, never later at the first
campaign. And `textcast settings`: the installation's defaults saved at run
time, held to those same rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from textcast.services.installation_defaults import FIELDS

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


def textcast(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "TEXTCAST_DATA_DIR": str(data_dir), "COLUMNS": "200", **env}
    environ.pop("TEXTCAST_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "textcast", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_saved_defaults_replace_the_environments_until_reset(tmp_path: Path) -> None:
    shown = textcast(tmp_path, "settings", "show", "--json", TEXTCAST_FREQUENCY_CAPS="3/day")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["frequency_caps"] == {
        "value": "3/day",
        "source": "environment",
        "environment": "3/day",
    }
    saved = textcast(
        tmp_path, "settings", "set", "--default-region", "gb", "--quiet-hours", "",
        "--quiet-hours-inside", "skip", "--frequency-caps", "2/24h,5/week", "--json",
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    view = json.loads(saved.stdout)
    assert {name: (view[name]["value"], view[name]["source"]) for name in FIELDS} == {
        "default_region": ("GB", "saved"),
        "quiet_hours": ("", "saved"),
        "quiet_hours_inside": ("skip", "saved"),
        "frequency_caps": ("2/24h,5/week", "saved"),
    }
    # Every later command uses them: a national number is read as British.
    added = textcast(tmp_path, "contacts", "add", "020 7946 0958", "--json")
    assert json.loads(added.stdout)["phone"] == "+442079460958", added.stderr

    table = textcast(tmp_path, "settings", "show")
    assert "2/24h,5/week" in table.stdout and "saved" in table.stdout

    back = textcast(tmp_path, "settings", "set", "--reset", "default-region", "--json")
    assert json.loads(back.stdout)["default_region"]["source"] == "environment", back.stderr
    assert json.loads(back.stdout)["quiet_hours_inside"]["source"] == "saved"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--frequency-caps", "2/banana"], "--frequency-caps: cannot read '2/banana'"),
        (["--quiet-hours", "22:00"], "--quiet-hours: must be a time of day as HH:MM"),
        (["--default-region", "XX"], "--default-region: 'XX' is not a region code"),
        (["--quiet-hours-inside", "later"], "--quiet-hours-inside: Input should be 'defer'"),
        (["--reset", "max-segments"], "'max_segments' is not a default"),
        (["--quiet-hours", "", "--reset", "quiet-hours"], "contradict"),
        ([], "give a default to change"),
    ],
)
def test_a_bad_default_is_refused_naming_the_option(
    tmp_path: Path, args: list[str], reason: str
) -> None:
    done = textcast(tmp_path, "settings", "set", *args)
    assert done.returncode == 2, done.stderr
    assert reason in done.stderr and "Traceback" not in done.stderr, done.stderr
    shown = json.loads(textcast(tmp_path, "settings", "show", "--json").stdout)
    assert shown["version"] == 0
