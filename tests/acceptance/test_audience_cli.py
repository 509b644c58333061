"""Contacts and segments from the command line, as a user runs them: real
`textcast` processes on a SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

TEXTCAST = [sys.executable, "-m", "textcast"]
CSV = (
    "phone,external_id,first_name,plan,renewal_date,age,tags\n"
    "+14155552671,u1,Ada,gold,2026-03-01,36,vip\n"
    "+14155552672,u2,Grace,gold,2026-02-30,41,\n"
    "+442079460001,u3,Linus,gold,2026-05-01,29,vip\n"
    "+33612345678,u4,Émile,platinum,2026-06-30,52,\n"
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {**os.environ, "TEXTCAST_DATA_DIR": str(tmp_path / "data")}
    environment.pop("TEXTCAST_DATABASE_URL", None)
    return environment


def tc(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TEXTCAST, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def test_import_count_export_and_erase_from_the_command_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "contacts.csv").write_text(CSV)
    done = tc(env, "contacts", "import", "contacts.csv", "--map", "age=age:number",
              "--tag", "spring", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1, done.stderr  # one bad row
    assert "3 created" in done.stdout and "1 rejected" in done.stdout
    assert "bad date '2026-02-30'" in done.stdout
    assert "renewal_date" in done.stdout

    rules = json.dumps(
        {
            "all": [
                {"field": "attributes.plan", "op": "in", "value": ["gold", "platinum"]},
                {"field": "attributes.age", "op": "gte", "value": 30},
                {"field": "tags", "op": "has", "value": "spring"},
            ]
        }
    )
    done = tc(env, "segments", "create", "engaged", "--rules", rules, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    counted = as_json(tc(env, "segments", "count", "engaged", "--json", cwd=tmp_path))
    assert counted["count"] == 2
    assert {row["country"] for row in counted["by_country"]} == {"US", "FR"}
    done = tc(env, "segments", "count", "--rules", '{"field": "age", "op": "eq", "value": 1}',
              cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and "unknown field 'age'" in done.stderr

    done = tc(env, "segments", "update", "engaged", "--name", "engaged-adults", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = tc(env, "contacts", "export", "out.csv", "--segment", "engaged-adults", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "out.csv").read_text().splitlines()) == 3
    again = as_json(tc(env, "contacts", "import", "out.csv", "--json", cwd=tmp_path))
    assert (again["unchanged"], again["rejected"], again["status"]) == (2, 0, "done")

    shown = as_json(tc(env, "contacts", "show", "u1", "--json", cwd=tmp_path))
    assert shown["attributes"]["age"] == 36 and shown["tags"] == ["vip", "spring"]
    erased = as_json(tc(env, "contacts", "delete", "u1", "--yes", cwd=tmp_path))
    assert erased["phone_hash"].startswith("erased:")
    assert tc(env, "contacts", "show", "u1", cwd=tmp_path).returncode == 1
