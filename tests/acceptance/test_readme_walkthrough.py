"""The README runs as written: every marked section's ``sh`` blocks, in order,
in one bash session against a freshly started ``textcast serve`` (demo mode,
SQLite in a temporary data folder, free ports), each step's answer checked
against the ``# →`` line under it. See :mod:`tests.acceptance.readme_sections`
for the marking rules; mark a new section and it runs here too.

The commands run as a user types them, with three substitutions for what a
user reads off their own screen: the admin key ``make run`` printed
(``tc_...``), and the API's and the simulator's ports (8000 and 8010 in the
README). ``tc`` is the README's alias for ``.venv/bin/textcast``: the session
runs in a folder whose ``.venv/bin/textcast`` starts this test's Textcast.
``curl`` fails on an HTTP error status (``--fail-with-body``) and reports the
status for ``# → 201 ...`` checks.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.acceptance.readme_sections import Section, Step, check, sections
from tests.conftest import free_port

README = Path(__file__).resolve().parents[2] / "README.md"
# Sections that must stay marked: unmarking one would silently stop testing it.
REQUIRED_SECTIONS = (
    "walkthrough",
    "simulator",
    "audience",
    "templates",
    "campaign",
    "generic-providers",
)
KEY_LINE = re.compile(r"Admin API key \(shown once, store it now\): (\S+)")
HTTP_STATUS = re.compile(r"^readme-test-http-status (\d{3})$", re.MULTILINE)
PRELUDE = """\
set -eo pipefail
shopt -s expand_aliases
curl() {
  command curl --fail-with-body \\
    --write-out '%{stderr}readme-test-http-status %{http_code}\\n' "$@"
}
"""
STEP_TIMEOUT_BUDGET = 60.0  # seconds per step, on a slow shared machine


@dataclass
class Demo:
    url: str
    port: int
    simulator_port: int
    key: str
    env: dict[str, str]
    log: Path


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """``textcast serve`` as ``make run`` starts it, on a fresh data folder."""
    port, simulator_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTCAST_")}
    env.update(
        TEXTCAST_DATA_DIR=str(tmp_path / "data"),
        TEXTCAST_PORT=str(port),
        TEXTCAST_SIMULATOR_PORT=str(simulator_port),
        TEXTCAST_DEMO="true",
        COLUMNS="250",  # Rich tables: no wrapping inside the text the README checks
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "textcast", "serve"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        key = _wait_for_key(process, log)
        url = f"http://127.0.0.1:{port}"
        _wait_until_ready(url, process, log)
        yield Demo(url, port, simulator_port, key, env, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - only on a hung server
            process.kill()
            process.wait()


def _wait_for_key(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = KEY_LINE.search(log.read_text(errors="replace"))
        if found:
            return found.group(1)
        assert process.poll() is None, f"serve exited:\n{log.read_text(errors='replace')}"
        time.sleep(0.1)
    raise AssertionError(f"no admin key printed:\n{log.read_text(errors='replace')}")


def _wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"serve exited:\n{log.read_text(errors='replace')}"
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"serve never got ready:\n{log.read_text(errors='replace')}")


def as_run_here(text: str, demo: Demo) -> str:
    """The README's text with the values a user reads off their own screen."""
    return (
        text.replace("tc_...", demo.key)
        .replace("127.0.0.1:8000", f"127.0.0.1:{demo.port}")
        .replace("127.0.0.1:8010", f"127.0.0.1:{demo.simulator_port}")
    )


def session_script(steps: list[Step], demo: Demo, results: Path) -> str:
    """One bash script running every step in order, each step's output kept
    apart; ``current`` names the step under way (the failing one, on exit)."""
    parts = [PRELUDE]
    for number, step in enumerate(steps):
        parts.append(
            f'echo {number} > "{results}/current"\n'
            f"{{\n{as_run_here(step.script, demo)}\n}}"
            f' > "{results}/{number}.out" 2> "{results}/{number}.err"\n'
        )
    parts.append(f'echo done > "{results}/current"\n')
    return "".join(parts)


def workspace(tmp_path: Path) -> Path:
    """A folder like the project's root, as far as the README needs one:
    ``.venv/bin/textcast`` runs this Textcast."""
    home = tmp_path / "project"
    shim = home / ".venv" / "bin" / "textcast"
    shim.parent.mkdir(parents=True)
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m textcast "$@"\n')
    shim.chmod(0o755)
    return home


def test_the_readme_sections_are_marked() -> None:
    marked = [s.name for s in sections(README.read_text())]
    assert set(REQUIRED_SECTIONS) <= set(marked), marked
    assert all(s.steps for s in sections(README.read_text()))


def test_the_readme_runs_as_written(demo: Demo, tmp_path: Path) -> None:
    marked: list[Section] = sections(README.read_text())
    steps = [(section, step) for section in marked for step in section.steps]
    results = tmp_path / "results"
    results.mkdir()
    script = tmp_path / "readme.sh"
    script.write_text(session_script([step for _, step in steps], demo, results))
    finished = subprocess.run(
        ["bash", str(script)],
        cwd=workspace(tmp_path),
        env=demo.env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_BUDGET * len(steps),
    )
    reached = (results / "current").read_text().strip()
    for number, (section, step) in enumerate(steps):
        out = (results / f"{number}.out").read_text(errors="replace")
        err = (results / f"{number}.err").read_text(errors="replace")
        where = f"README section {section.heading!r}, step {number}:\n{step.script}\n"
        shown = f"--- stdout:\n{out}\n--- stderr:\n{err}"
        if reached == str(number):
            raise AssertionError(
                f"{where}failed (bash exit {finished.returncode})\n{shown}\n"
                f"--- serve log (tail):\n{demo.log.read_text(errors='replace')[-3000:]}"
            )
        statuses = HTTP_STATUS.findall(err)
        status = int(statuses[-1]) if statuses else None
        for expectation in step.expectations:
            problems = check(expectation, out, status)
            assert not problems, f"{where}answered otherwise than documented: {problems}\n{shown}"
    assert reached == "done" and finished.returncode == 0, finished.stderr
