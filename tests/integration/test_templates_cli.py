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
