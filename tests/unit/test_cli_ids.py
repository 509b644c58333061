"""An ID no database column can hold is a usage error (exit 2) in every CLI
command that takes one, before any database is opened."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from textcast.cli import app

BEYOND_64_BITS = "99999999999999999999"


@pytest.mark.parametrize(
    "args",
    [
        ["messages", "show", BEYOND_64_BITS],
        ["messages", "show", "0"],
        ["apikeys", "revoke", BEYOND_64_BITS],
        ["events", "--message", BEYOND_64_BITS],
        ["events", "--after-id", BEYOND_64_BITS],
        ["keywords", "remove", BEYOND_64_BITS],
        ["keywords", "update", BEYOND_64_BITS, "HOURS", "--provider", "x"],
        ["webhooks", "redeliver", "1", BEYOND_64_BITS],
        ["suppressions", "list", "--before-id", BEYOND_64_BITS],
        ["messages", "list", "--before-id", BEYOND_64_BITS],
        ["webhooks", "remove", BEYOND_64_BITS],
        ["webhooks", "deliveries", BEYOND_64_BITS],
        ["webhooks", "delivery", "1", BEYOND_64_BITS],
    ],
)
def test_an_impossible_id_is_a_usage_error(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEXTCAST_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not list(tmp_path.iterdir())  # refused before a database was made
