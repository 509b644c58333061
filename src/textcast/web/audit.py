"""The API's changes in the audit log: who (the API key), what (method and
path), when, and the answer's status.

An ASGI middleware rather than a line in every route, so no route can forget
it. It writes after the answer, in its own transaction, for requests that
changed something and succeeded (below 400). Queued messages are not entries:
the outbox records each of them already (and the batch API takes 27,000 a
second). Requests that change nothing, such as the segment preview, neither.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from textcast.context import Context
from textcast.services import audit
from textcast.services.roles import Actor
from textcast.web.deps import READ_METHODS, READ_ONLY_POSTS

log = logging.getLogger(__name__)
NOT_AUDITED = READ_ONLY_POSTS | {"/api/v1/messages", "/api/v1/messages/batch"}


class ApiAuditLog:
    def __init__(self, app: ASGIApp, ctx: Context) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in READ_METHODS
            or not scope["path"].startswith("/api/")
            or scope["path"] in NOT_AUDITED
        ):
            await self.app(scope, receive, send)
            return
        answered = 0

        async def watch(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = int(message["status"])
            await send(message)

        await self.app(scope, receive, watch)
        actor = scope.get("state", {}).get("actor")
        if isinstance(actor, Actor) and 0 < answered < 400:
            try:
                async with self.ctx.session() as session:
                    action = f"api.{scope['method'].lower()}"
                    audit.record(session, actor, action, scope["path"], {"status": answered})
            except Exception:  # the change is made and answered; say so loudly
                log.exception("could not write the audit entry for %s", scope["path"])
