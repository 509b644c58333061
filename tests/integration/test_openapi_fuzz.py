"""Every documented operation, fuzzed from the server's own /openapi.json with
schemathesis against a running server, once on each database: never a 500,
every answer as documented (status code, content type, body schema), and
input the document calls invalid refused.

Bounded: a few generated requests per operation and mode (valid and invalid
input), so a run stays well under a minute and a half per database. Cases it
found once are kept as plain regression tests in ``test_openapi_regressions``.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from tests.conftest import _truncate
from textcast.app import create_app
from textcast.config import Settings
from textcast.context import Context
from textcast.services import apikeys
from textcast.services.providers import create_provider

# Per operation and generation mode; raise it to search harder by hand.
EXAMPLES = int(os.environ.get("TEXTCAST_FUZZ_EXAMPLES", "6"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,  # input the document calls invalid is refused (4xx)
]
SKIPPED: set[tuple[str, str]] = set()  # (method, path) of operations left out


@dataclass
class ServedApp:
    """Textcast served by uvicorn in a thread of its own (schemathesis calls it
    synchronously, so it cannot share the test's event loop)."""

    settings: Settings
    api_key: str = ""
    ready: threading.Event = field(default_factory=threading.Event)
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(60) or self.error is not None:
            raise RuntimeError(f"the server did not start: {self.error!r}")

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start()
            self.error = exc
            self.ready.set()

    async def _serve(self) -> None:
        ctx = Context.create(self.settings)
        try:
            await _truncate(ctx)
            async with ctx.session() as session:
                self.api_key = (await apikeys.create_key(session, "fuzz")).key
                # Something for the {ref} paths to find; its base URL is never called.
                await create_provider(
                    ctx,
                    session,
                    {
                        "name": "main",
                        "type": "twilio",
                        "account_sid": "AC" + "1" * 32,
                        "auth_token": "an-auth-token",
                        "base_url": "http://127.0.0.1:9",
                        "senders": [
                            {"name": "main", "type": "long_code", "sender_id": "+14155550100"}
                        ],
                    },
                )
            app = create_app(ctx, run_dispatcher=False)
            config = uvicorn.Config(
                app, host="127.0.0.1", port=self.settings.port, log_level="error"
            )
            self.server = uvicorn.Server(config)
            serving = asyncio.create_task(self.server.serve())
            while not self.server.started and not serving.done():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            self.ready.set()
            await serving
        finally:
            await ctx.close()


@pytest.fixture
def served(settings: Settings) -> Iterator[ServedApp]:
    app = ServedApp(settings)
    app.start()
    yield app
    app.stop()


def fuzz(served: ServedApp) -> list[str]:
    """Run every operation; the failures found, one line each (empty when none)."""
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    http = requests.Session()
    headers = {"Authorization": f"Bearer {served.api_key}"}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis_settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(
                    base_url=served.url, session=http, headers=headers, checks=CHECKS
                )

            try:
                check()
            except Unsatisfiable:
                continue
            except (Exception, BaseExceptionGroup) as exc:  # every failure is reported
                label = f"{operation.method.upper()} {operation.path} ({mode.value})"
                failures.append(f"{label}: {str(exc).strip()[:1500]}")
    return failures


def test_every_documented_operation_answers_as_documented(served: ServedApp) -> None:
    failures = fuzz(served)
    assert not failures, "\n\n".join(failures)
