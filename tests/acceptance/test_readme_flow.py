"""The README's walkthrough, as a user runs it: `textcast serve` in demo mode,
then the CLI and the API against it (real processes, real HTTP, SQLite)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port

TEXTCAST = [sys.executable, "-m", "textcast"]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, Any]]:
    port, sim_port = free_port(), free_port()
    env = {
        **os.environ,
        "TEXTCAST_DATA_DIR": str(tmp_path / "data"),
        "TEXTCAST_PORT": str(port),
        "TEXTCAST_SIMULATOR_PORT": str(sim_port),
        "TEXTCAST_DEMO": "true",
    }
    env.pop("TEXTCAST_DATABASE_URL", None)
    proc = subprocess.Popen(
        [*TEXTCAST, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    output = ""
    deadline = time.monotonic() + 60
    key = None
    while time.monotonic() < deadline and key is None:
        line = proc.stdout.readline()
        if not line:
            break
        output += line
        found = re.search(r"Admin API key \(shown once, store it now\): (\S+)", line)
        key = found.group(1) if found else None
    assert key, f"no admin key printed:\n{output}"
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield {"url": url, "key": key, "env": env, "output": output}
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:  # pragma: no cover - only on a hung server
        proc.kill()


def cli(demo: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TEXTCAST, *args], env=demo["env"], capture_output=True, text=True, timeout=120
    )


def test_demo_start_prints_url_and_key_and_serves_docs(demo: dict[str, Any]) -> None:
    assert demo["url"] in demo["output"]
    assert httpx.get(f"{demo['url']}/docs").status_code == 200
    providers = httpx.get(
        f"{demo['url']}/api/v1/providers", headers={"Authorization": f"Bearer {demo['key']}"}
    ).json()
    assert [(p["name"], p["is_simulated"]) for p in providers] == [("simulator", True)]


def test_cli_send_test_reaches_delivered_through_the_simulator(demo: dict[str, Any]) -> None:
    result = cli(demo, "send-test", "--country-code", "1", "--to", "4155552671", "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["status"] == "delivered"
    assert shown["provider_message_id"].startswith("SM")
    assert [e["status"] for e in shown["history"]][-1] == "delivered"


def test_cli_lists_providers_as_a_table_and_balance(demo: dict[str, Any]) -> None:
    table = cli(demo, "providers", "list")
    assert table.returncode == 0 and "simulator" in table.stdout
    balance = cli(demo, "providers", "balance", "simulator", "--json")
    assert json.loads(balance.stdout) == {"balance": "20.00", "currency": "USD"}


def test_cli_bad_input_exits_non_zero_with_a_message(demo: dict[str, Any]) -> None:
    result = cli(demo, "send", "--to", "garbage", "--body", "hi")
    assert result.returncode == 2
    assert "to:" in result.stderr and "Traceback" not in result.stderr
    missing = cli(demo, "providers", "show", "nope")
    assert missing.returncode == 1 and "no provider" in missing.stderr


def test_a_bad_setting_is_invalid_input_named_in_the_message(demo: dict[str, Any]) -> None:
    env = {**demo["env"], "TEXTCAST_LEASE_SECONDS": "1"}
    result = subprocess.run(
        [*TEXTCAST, "providers", "list"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "TEXTCAST_LEASE_SECONDS" in result.stderr and "Traceback" not in result.stderr


def test_cli_adds_a_twilio_provider_with_masked_token(demo: dict[str, Any]) -> None:
    result = cli(
        demo,
        "providers",
        "add",
        "--name",
        "second",
        "--account-sid",
        "AC" + "1" * 32,
        "--auth-token",
        "supersecrettoken99",
        "--sender-id",
        "+14155550100",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["credentials"]["auth_token"] == "••••••••en99"
    assert "supersecrettoken99" not in result.stdout
    keys = cli(demo, "apikeys", "create", "--name", "ci", "--json")
    assert json.loads(keys.stdout)["key"].startswith("tc_")


def test_cli_send_batch_reads_csv_and_reports_bad_lines(
    demo: dict[str, Any], tmp_path: Path
) -> None:
    csv_file = tmp_path / "campaign.csv"
    csv_file.write_text(
        "to,body\n+14155552671,Hello one\nnot-a-number,Hello two\n+14155552672,Hello three 😀\n"
    )
    result = cli(demo, "send-batch", str(csv_file), "--json")
    assert result.returncode == 1  # a bad row is a failure worth a non-zero exit
    report = json.loads(result.stdout)
    assert (report["accepted"], report["rejected"]) == (2, 1)
    assert report["errors"][0]["line"] == 3 and report["errors"][0]["field"] == "to"
    missing = cli(demo, "send-batch", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_cli_engagement_commands(demo: dict[str, Any]) -> None:
    sent = cli(demo, "send-test", "--country-code", "1", "--to", "4155552673", "--json")
    assert sent.returncode == 0, sent.stderr
    events = cli(demo, "events", "--type", "message.delivered", "--json")
    assert events.returncode == 0, events.stderr
    assert any(e["phone"] == "+14155552673" for e in json.loads(events.stdout))
    assert cli(demo, "events", "--type", "message.nope").returncode == 2

    rule = cli(demo, "keywords", "add", "HOURS", "--provider", "simulator", "--reply", "9-5")
    assert rule.returncode == 0, rule.stderr
    listed = cli(demo, "keywords", "list")
    assert "HOURS" in listed.stdout
    rule_id = str(json.loads(cli(demo, "keywords", "list", "--json").stdout)[0]["id"])
    changed = cli(
        demo, "keywords", "update", rule_id, "HOURS", "--provider", "simulator",
        "--reply", "8-6", "--json",
    )  # fmt: skip
    assert changed.returncode == 0 and json.loads(changed.stdout)["reply"] == "8-6", changed.stderr
    built_in = cli(demo, "keywords", "update", rule_id, "STOP", "--provider", "simulator")
    assert built_in.returncode == 2 and "built-in" in built_in.stderr, built_in.stderr
    assert "Traceback" not in built_in.stderr

    added = cli(demo, "suppressions", "add", "+14155552673", "--provider", "simulator", "--json")
    assert added.returncode == 0 and json.loads(added.stdout)["added"] is True
    contact = json.loads(cli(demo, "contacts", "show", "+14155552673", "--json").stdout)
    assert contact["opted_out"] is True
    removal = ["suppressions", "remove", "+14155552673", "--provider", "simulator"]
    assert cli(demo, *removal).returncode == 0
    assert cli(demo, *removal).returncode == 1

    internal = cli(demo, "webhooks", "add", "http://127.0.0.1:9/hook")
    assert internal.returncode == 2 and "internal address" in internal.stderr
    hook = cli(
        demo, "webhooks", "add", "https://hooks.example.com/tc", "--type", "message.sent", "--json"
    )
    assert hook.returncode == 0, hook.stderr
    assert json.loads(hook.stdout)["secret"].startswith("whsec_")
    numbers = cli(demo, "stats", "--json")
    assert numbers.returncode == 0 and json.loads(numbers.stdout)["delivered"] >= 1
    assert "delivery rate" in cli(demo, "stats").stdout
    thread = cli(demo, "contacts", "conversation", "+14155552673")
    assert thread.returncode == 0 and "outbound" in thread.stdout
