"""The front door for short links.

A redirect is the one request a recipient's phone makes to Textcast, often
seconds after a campaign lands on thousands of phones, so it is answered in
front of FastAPI like status callbacks are: the path is matched, the request
handed to a group commit that records a batch of clicks in one transaction
(:mod:`textcast.tracking.clicks`), and the 302 sent once its click is
stored. ``HEAD`` gets the same answer without a body (and is recorded as a
bot's). An unknown code gets a small HTML 404 page, an expired one 410.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.types import Receive, Scope, Send

from textcast.context import Context
from textcast.db.models import utcnow
from textcast.tracking import clicks
from textcast.tracking.links import CODE
from textcast.web.group_commit import GroupCommitter

log = logging.getLogger(__name__)
PREFIXED = re.compile(r"/s/([^/]{1,64})")
ROOT = re.compile(r"/([^/]{1,64})")
METHODS = ("GET", "HEAD")

_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>{title}</title><style>body{{font:16px/1.5 system-ui,sans-serif;color:#1d2330;"
    "max-width:30rem;margin:20vh auto;padding:0 1.5rem}}h1{{font-size:1.3rem}}</style>"
    "</head><body><h1>{title}</h1><p>{text}</p></body></html>"
)
NOT_FOUND_PAGE = _PAGE.format(
    title="Link not found", text="This link does not exist. Check that it was copied whole."
).encode()
GONE_PAGE = _PAGE.format(
    title="Link expired", text="This link has expired and no longer leads anywhere."
).encode()


class LinkRedirects:
    """An ASGI handler for short-link requests."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        base = ctx.settings.short_link_base
        self.short_host = urlsplit(base).netloc.lower() if base else None
        # PostgreSQL: a second batch in flight hides the first one's round
        # trips (as for status callbacks); SQLite has one writer anyway.
        concurrency = 1 if ctx.engine.dialect.name == "sqlite" else 2
        self.writer: GroupCommitter[clicks.LinkRequest, clicks.Found] = GroupCommitter(
            self._record, concurrency=concurrency
        )
        # Messages whose first click is in a batch not yet committed (see clicks.record).
        self._first_in_flight: set[int] = set()

    def code(self, scope: Scope) -> str | None:
        """The code this request asks for; None when it is not a short link
        (then it is FastAPI's). A malformed code is returned as it is, to be
        answered 404 without a look-up."""
        if scope["type"] != "http" or scope["method"] not in METHODS:
            return None
        path: str = scope["path"]
        match = PREFIXED.fullmatch(path)
        if match is None and self.short_host is not None and self._on_short_host(scope):
            match = ROOT.fullmatch(path)
        return match.group(1) if match else None

    def _on_short_host(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"host":
                return bool(value.decode("latin-1").lower() == self.short_host)
        return False

    async def __call__(self, code: str, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        found = clicks.NOT_FOUND
        if CODE.fullmatch(code):
            agent = next((v for k, v in scope["headers"] if k == b"user-agent"), None)
            request = clicks.LinkRequest(
                code, method, agent.decode("latin-1") if agent else None, utcnow()
            )
            try:
                found = await self.writer.run(request)
            except Exception:
                log.exception("recording a click failed")
                await _answer(send, method, 503, b"", content_type=None)
                return
        if found.url is not None:
            headers = [(b"location", found.url.encode()), (b"referrer-policy", b"no-referrer")]
            await _answer(send, method, 302, b"", content_type=None, extra=headers)
        else:
            page = GONE_PAGE if found.gone else NOT_FOUND_PAGE
            await _answer(send, method, 410 if found.gone else 404, page)

    async def _record(self, batch: Sequence[clicks.LinkRequest]) -> list[clicks.Found]:
        mine: set[int] = set()
        try:
            async with self.ctx.write_session() as session:
                connection = await session.connection()
                return await clicks.record(connection, batch, self._first_in_flight, mine)
        finally:
            self._first_in_flight -= mine  # committed, or rolled back

    async def close(self) -> None:
        await self.writer.close()


async def _answer(
    send: Send,
    method: str,
    status: int,
    body: bytes,
    *,
    content_type: bytes | None = b"text/html; charset=utf-8",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]
    if content_type is not None:
        headers.append((b"content-type", content_type))
    headers.extend(extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


OPENAPI_PATH = {
    "get": {
        "tags": ["links"],
        "summary": "Follow a tracked short link",
        "operationId": "follow_short_link",
        "description": (
            "Records the click (people and link-preview bots told apart) and redirects to "
            "the link's destination. No API key: this is the URL in the text message."
        ),
        "parameters": [
            {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "responses": {
            "302": {"description": "To the destination (Location header)"},
            "404": {"description": "No such link (an HTML page)"},
            "410": {"description": "The link has expired (an HTML page)"},
        },
    }
}
