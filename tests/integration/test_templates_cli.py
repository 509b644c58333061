"""`textcast templates` as a user types it (a real process, a fresh SQLite folder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TEXTCAST = [sys.executable, "-m", "textcast"]


def textcast(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TEXTCAST_DATA_DIR": str(data_dir)}
    env.pop("TEXTCAST_DATABASE_URL", None)
    return subprocess.run([*TEXTCAST, *args], env=env, capture_output=True, text=True, timeout=60)


def test_create_preview_change_and_refuse(tmp_path: Path) -> None:
    body = 'Hi {{ contact.first_name | default("there") }}, code {{ data.code }}'
    made = textcast(tmp_path, "templates", "create", "--name", "welcome", "--body", body, "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["version"] == 1

    shown = textcast(
        tmp_path, "templates", "preview", "welcome",
        "--attribute", "first_name=Zoë", "--data", '{"code": "X1"}', "--json",
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    [preview] = json.loads(shown.stdout)["previews"]
    assert (preview["text"], preview["encoding"]) == ("Hi Zoë, code X1", "UCS-2")

    missing = textcast(tmp_path, "templates", "preview", "welcome", "--json")
    assert json.loads(missing.stdout)["previews"][0]["missing"] == ["data.code"]

    changed = textcast(tmp_path, "templates", "update", "welcome", "--body", "Bye", "--json")
    assert json.loads(changed.stdout)["version"] == 2

    refused = textcast(tmp_path, "templates", "update", "welcome", "--body", "{{ range(9) }}")
    assert refused.returncode == 2
    assert "function calls" in refused.stderr
    assert "Traceback" not in refused.stderr

    table = textcast(tmp_path, "templates", "show", "welcome")
    assert table.returncode == 0 and "versions" in table.stdout and "2, 1" in table.stdout


def test_preview_for_a_segment_lists_each_contact_and_the_worst_case(tmp_path: Path) -> None:
    for phone, name in (("+14155552671", "Ada"), ("+14155552672", "D’Arcy")):
        added = textcast(
            tmp_path, "contacts", "add", phone, "--attr", f"first_name={name}", "--json"
        )
        assert added.returncode == 0, added.stderr
    made = textcast(tmp_path, "segments", "create", "everyone", "--rules", '{"all": []}')
    assert made.returncode == 0, made.stderr
    body = "Hi {{ contact.first_name }}"
    assert textcast(tmp_path, "templates", "create", "--name", "hi", "--body", body).returncode == 0

    shown = textcast(tmp_path, "templates", "preview", "hi", "--segment", "everyone")
    assert shown.returncode == 0, shown.stderr
    assert "+14155552671" in shown.stdout and "Hi D’Arcy" in shown.stdout
    assert "2 previewed: at most 1 segments, 1 in UCS-2, 0 not renderable" in shown.stdout
