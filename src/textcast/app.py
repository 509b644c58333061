"""The ASGI application: API, webhooks, health; the dispatcher, the event
notifier (outgoing webhooks), the contact import runner, the campaign runner
and the watch on the saved installation defaults run in its lifespan."""

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
    routes_campaign_stats,
    routes_campaigns,
    routes_contacts,
    routes_events,
    routes_messages,
    routes_providers,
    routes_segments,
    routes_settings,
    routes_system,
    routes_templates,
)
from textcast.callbacks import generic_routes
from textcast.callbacks import routes as webhook_routes
from textcast.callbacks.intake import OPENAPI_PATH, StatusCallbackIntake
from textcast.callbacks.routes import WebhookState
from textcast.campaigns.runner import CampaignRunner
from textcast.context import Context
from textcast.dashboard.site import install as install_dashboard
from textcast.dispatch.dispatcher import Dispatcher
from textcast.jobs.imports import ImportRunner
from textcast.notify.deliverer import EventNotifier
from textcast.redirects.front_door import OPENAPI_PATH as LINK_OPENAPI_PATH
from textcast.redirects.front_door import LinkRedirects
from textcast.services import installation_defaults, roles
from textcast.web.audit import ApiAuditLog
from textcast.web.deps import api_access
from textcast.web.errors import install_error_handlers
from textcast.web.openapi_bodies import install_bodies
from textcast.web.openapi_errors import document_errors
from textcast.web.text_guard import UnstorableTextGuard

DESCRIPTION = (
    "Self-hosted SMS engagement engine. Every `/api/` call needs "
    "`Authorization: Bearer <key>`; webhooks are verified by provider signatures."
)


class TextcastApp(FastAPI):
    """FastAPI, with the two hottest requests taken before its middleware and
    routing: Twilio's status callbacks (:mod:`textcast.callbacks.intake`) and
    short links (:mod:`textcast.redirects.front_door`)."""

    status_intake: StatusCallbackIntake
    redirects: LinkRedirects

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        provider_id = self.status_intake.provider_id(scope)
        if provider_id is not None:
            await self.status_intake(provider_id, scope, receive, send)
            return
        code = self.redirects.code(scope)
        if code is not None:
            await self.redirects(code, scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            paths = super().openapi()["paths"]
            paths["/webhooks/twilio/{provider_id}/status"] = OPENAPI_PATH
            paths["/s/{code}"] = LINK_OPENAPI_PATH
            document_errors(install_bodies(self.openapi_schema or {}))
        assert self.openapi_schema is not None
        return self.openapi_schema


def create_app(ctx: Context, *, run_dispatcher: bool | None = None) -> TextcastApp:
    """Build the app over ``ctx``. The dispatcher runs inside it unless disabled."""
    with_dispatcher = ctx.settings.dispatcher if run_dispatcher is None else run_dispatcher

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        # Imports uploaded to this process are run by it (their file is here).
        tasks = [asyncio.create_task(app.state.import_runner.run(stop))]
        # Campaigns fan out wherever messages are made (a worker runs one too).
        tasks.append(asyncio.create_task(app.state.campaign_runner.run(stop)))
        # Defaults saved by another process reach this one within seconds.
        tasks.append(asyncio.create_task(installation_defaults.watch(ctx, stop)))
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
            await redirects.close()

    app = TextcastApp(
        title="Textcast", version=__version__, description=DESCRIPTION, lifespan=lifespan
    )
    app.state.ctx = ctx
    app.state.import_runner = ImportRunner(ctx)
    app.state.campaign_runner = CampaignRunner(ctx)
    app.state.webhooks = webhooks = WebhookState.create(ctx)
    app.status_intake = StatusCallbackIntake(webhooks.auth, webhooks.status)
    app.redirects = redirects = LinkRedirects(ctx)
    install_error_handlers(app)
    # Every key reads; changes need the role's permission (textcast.services.roles).
    for router, write in (
        (routes_providers.router, roles.PROVIDERS_WRITE),
        (routes_messages.router, roles.SEND),
        (routes_events.router, roles.WEBHOOKS_WRITE),  # its only changes are webhooks
        (routes_contacts.router, roles.AUDIENCE_WRITE),
        (routes_segments.router, roles.AUDIENCE_WRITE),
        (routes_audience.router, roles.AUDIENCE_WRITE),
        (routes_templates.router, roles.CONTENT_WRITE),
        (routes_campaigns.router, roles.SEND),  # a launch sends messages
        (routes_campaign_stats.router, roles.SEND),  # it only reads
        (routes_settings.router, roles.SETTINGS_WRITE),
    ):
        app.include_router(router, dependencies=[Depends(api_access(write))])
    # Batches check their rows one by one (a bad row must not stop the others).
    app.add_middleware(UnstorableTextGuard, row_wise={"/api/v1/messages/batch"})
    app.add_middleware(ApiAuditLog, ctx=ctx)
    app.include_router(webhook_routes.router)
    app.include_router(generic_routes.router)
    app.include_router(routes_system.router)
    install_dashboard(app)
    return app
