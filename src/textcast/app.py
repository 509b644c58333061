"""The ASGI application: API, webhooks, health; the dispatcher and the event
notifier (outgoing webhooks) run in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI
from starlette.types import Receive, Scope, Send

from textcast import __version__
from textcast.api import (
    routes_audience,
    routes_events,
    routes_messages,
    routes_providers,
    routes_system,
    routes_templates,
)
from textcast.callbacks import generic_routes
from textcast.callbacks import routes as webhook_routes
from textcast.callbacks.intake import OPENAPI_PATH, StatusCallbackIntake
from textcast.callbacks.routes import WebhookState
from textcast.context import Context
from textcast.dashboard.site import install as install_dashboard
from textcast.dispatch.dispatcher import Dispatcher
from textcast.notify.deliverer import EventNotifier
from textcast.web.deps import require_api_key
from textcast.web.errors import install_error_handlers

DESCRIPTION = (
    "Self-hosted SMS engagement engine. Every `/api/` call needs "
    "`Authorization: Bearer <key>`; webhooks are verified by provider signatures."
)


class TextcastApp(FastAPI):
    """FastAPI, with Twilio's status callbacks taken before its middleware and
    routing (see :mod:`textcast.callbacks.intake`)."""

    status_intake: StatusCallbackIntake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        provider_id = self.status_intake.provider_id(scope)
        if provider_id is not None:
            await self.status_intake(provider_id, scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            super().openapi()["paths"]["/webhooks/twilio/{provider_id}/status"] = OPENAPI_PATH
        assert self.openapi_schema is not None
        return self.openapi_schema


def create_app(ctx: Context, *, run_dispatcher: bool | None = None) -> TextcastApp:
    """Build the app over ``ctx``. The dispatcher runs inside it unless disabled."""
    with_dispatcher = ctx.settings.dispatcher if run_dispatcher is None else run_dispatcher

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = []
        if with_dispatcher:
            app.state.dispatcher = Dispatcher(ctx)
            app.state.notifier = EventNotifier(ctx)
            tasks.append(asyncio.create_task(app.state.dispatcher.run(stop)))
            tasks.append(asyncio.create_task(app.state.notifier.run(stop)))
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            await webhooks.close()

    app = TextcastApp(
        title="Textcast", version=__version__, description=DESCRIPTION, lifespan=lifespan
    )
    app.state.ctx = ctx
    app.state.webhooks = webhooks = WebhookState.create(ctx)
    app.status_intake = StatusCallbackIntake(webhooks.auth, webhooks.status)
    install_error_handlers(app)
    secured = [Depends(require_api_key)]
    app.include_router(routes_providers.router, dependencies=secured)
    app.include_router(routes_messages.router, dependencies=secured)
    app.include_router(routes_events.router, dependencies=secured)
    app.include_router(routes_audience.router, dependencies=secured)
    app.include_router(routes_templates.router, dependencies=secured)
    app.include_router(webhook_routes.router)
    app.include_router(generic_routes.router)
    app.include_router(routes_system.router)
    install_dashboard(app)
    return app
