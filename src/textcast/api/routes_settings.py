"""/api/v1/settings/defaults: the installation's defaults (region, quiet hours,
what happens inside them, frequency caps), each with where it comes from.

Any key reads; changing them needs the admin role (``settings.write``). A
change applies to this process at once and to the others within seconds
(:mod:`textcast.services.installation_defaults`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from textcast.services import installation_defaults
from textcast.views.settings import DefaultsOut, defaults_view
from textcast.web.deps import ActorDep, CtxDep, SessionDep

router = APIRouter(prefix="/api/v1", tags=["settings"])


@router.get("/settings/defaults", response_model=DefaultsOut)
async def show_defaults(ctx: CtxDep, session: SessionDep) -> dict[str, Any]:
    """Each default's value now, whether it was saved or is the environment's
    (``TEXTCAST_*``), and the environment's value."""
    return defaults_view(ctx.environment, await installation_defaults.load(session))


@router.patch("/settings/defaults", response_model=DefaultsOut)
async def change_defaults(
    data: installation_defaults.DefaultsChange, ctx: CtxDep, actor: ActorDep
) -> dict[str, Any]:
    """Save the defaults given, written as their environment settings are
    (``"21:00-08:00"``, ``"2/24h,5/week"``, ``""`` for none); ``null`` goes
    back to the environment's value. Checked by the environment's own rules:
    a bad value is a 422 naming the field."""
    changes = data.model_dump(exclude_unset=True)
    saved = await installation_defaults.change(ctx, actor, changes)
    return defaults_view(ctx.environment, saved)
