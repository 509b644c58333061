"""Settings: your password; the installation's defaults (read by everyone,
changed by admins); API keys (create with a role, revoke), dashboard users and
the audit log, for admins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from textcast.dashboard.auth import (
    CanChangeSettings,
    CanManageKeys,
    CanManageUsers,
    CanRead,
    CanReadAudit,
    Visitor,
)
from textcast.dashboard.render import field_errors, page
from textcast.errors import Conflict, ValidationFailed
from textcast.services import apikeys, audit, installation_defaults, users
from textcast.services.installation_defaults import FIELDS
from textcast.services.roles import ROLES
from textcast.views.settings import defaults_view
from textcast.web.deps import IdPath, IdQuery

router = APIRouter(prefix="/dashboard/settings", include_in_schema=False)
Field = Annotated[str, Form(max_length=300)]
# What each role may do (textcast.services.roles), under the role pickers.
ROLE_HINT = (
    "admin: everything · editor: send and reply, contacts, segments, suppressions, keyword "
    "rules, templates, campaigns; no providers, webhooks, keys, users, defaults or audit log, "
    "and no credentials · viewer: reads only"
)


async def _settings_page(
    request: Request, me: Visitor, *, status_code: int = 200, **values: Any
) -> HTMLResponse:
    async with me.ctx.sessions() as session:
        saved = await installation_defaults.load(session)
    shown = defaults_view(me.ctx.environment, saved)
    values.setdefault("v", {name: shown[name]["value"] for name in FIELDS})
    return page(
        request,
        "settings/index.html",
        "Settings",
        defaults=shown,
        status_code=status_code,
        **values,
    )


@router.get("")
async def settings(request: Request, me: CanRead) -> HTMLResponse:
    return await _settings_page(request, me)


@router.post("/defaults")
async def change_defaults(
    request: Request,
    me: CanChangeSettings,
    default_region: Field = "",
    quiet_hours: Field = "",
    quiet_hours_inside: Field = "",
    frequency_caps: Field = "",
) -> Response:
    """Save the defaults the form changed: one left as shown keeps following
    the environment, if that is where it comes from."""
    form = {
        "default_region": default_region,
        "quiet_hours": quiet_hours,
        "quiet_hours_inside": quiet_hours_inside,
        "frequency_caps": frequency_caps,
    }
    async with me.ctx.sessions() as session:
        shown = defaults_view(me.ctx.environment, await installation_defaults.load(session))
    changes: dict[str, str | None] = {
        name: value for name, value in form.items() if value.strip() != shown[name]["value"]
    }
    try:
        await installation_defaults.change(me.ctx, me.actor, changes)
    except ValidationFailed as exc:
        return await _settings_page(request, me, errors=field_errors(exc), v=form, status_code=422)
    return await _settings_page(request, me, notice="Defaults saved.")


@router.post("/defaults/reset")
async def reset_default(request: Request, me: CanChangeSettings, reset: Field = "") -> Response:
    """Go back to the environment's value of one default."""
    try:
        await installation_defaults.change(me.ctx, me.actor, {reset: None})
    except ValidationFailed as exc:
        return await _settings_page(request, me, errors=field_errors(exc), status_code=422)
    return await _settings_page(request, me, notice="Back to the environment's value.")


@router.post("/password")
async def change_password(
    request: Request, me: CanRead, current: Field = "", new: Field = "", again: Field = ""
) -> Response:
    """Your own password (users signed in with a password only)."""
    errors: dict[str, str] = {}
    if me.actor.kind != "user":
        errors["current"] = "you signed in with an API key: it has no password"
    elif new != again:
        errors["again"] = "the two new passwords differ"
    else:
        try:
            async with me.ctx.session() as session:
                user = await users.authenticate(session, me.actor.name, current)
                if user is None:
                    errors["current"] = "that is not your current password"
                else:
                    await users.set_password(session, user, new)
                    audit.record(session, me.actor, "user.password_changed", user.username)
        except ValidationFailed as exc:
            errors = {"new": exc.message}
    if errors:
        return await _settings_page(request, me, errors=errors, status_code=422)
    # Changing the password ended every session, this one too.
    return RedirectResponse("/dashboard/login", status_code=303)


# --- API keys -----------------------------------------------------------------------


async def _keys_page(request: Request, me: Visitor, **values: Any) -> HTMLResponse:
    async with me.ctx.session() as session:
        keys = await apikeys.list_keys(session)
    return page(
        request,
        "settings/api_keys.html",
        "API keys",
        keys=keys,
        roles=ROLES,
        role_hint=ROLE_HINT,
        **values,
    )


@router.get("/api-keys")
async def key_list(request: Request, me: CanManageKeys) -> HTMLResponse:
    return await _keys_page(request, me)


@router.post("/api-keys")
async def create_key(
    request: Request, me: CanManageKeys, name: Field = "", role: Field = "viewer"
) -> Response:
    try:
        async with me.ctx.session() as session:
            new = await apikeys.create_key(session, name, role=role)
            target = f"{new.record.name} #{new.record.id}"
            audit.record(session, me.actor, "api_key.created", target, {"role": role})
    except ValidationFailed as exc:
        return await _keys_page(
            request, me, errors=field_errors(exc), v={"name": name, "role": role}
        )
    return await _keys_page(request, me, new_key=new.key, new_name=new.record.name)


@router.post("/api-keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: IdPath, me: CanManageKeys) -> Response:
    async with me.ctx.session() as session:
        record = await apikeys.revoke(session, key_id)
        audit.record(session, me.actor, "api_key.revoked", f"{record.name} #{record.id}")
    return RedirectResponse("/dashboard/settings/api-keys", status_code=303)


# --- users ----------------------------------------------------------------------------


async def _users_page(request: Request, me: Visitor, **values: Any) -> HTMLResponse:
    async with me.ctx.session() as session:
        found = await users.list_users(session)
    return page(
        request,
        "settings/users.html",
        "Users",
        users=found,
        roles=ROLES,
        role_hint=ROLE_HINT,
        **values,
    )


@router.get("/users")
async def user_list(request: Request, me: CanManageUsers) -> HTMLResponse:
    return await _users_page(request, me)


@router.post("/users")
async def create_user(
    request: Request,
    me: CanManageUsers,
    username: Field = "",
    password: Field = "",
    role: Field = "viewer",
) -> Response:
    try:
        async with me.ctx.session() as session:
            user = await users.create(session, username, password, role)
            audit.record(session, me.actor, "user.created", user.username, {"role": role})
    except ValidationFailed as exc:
        values = {"username": username, "role": role}
        return await _users_page(request, me, errors=field_errors(exc), v=values)
    except Conflict as exc:
        values = {"username": username, "role": role}
        return await _users_page(request, me, errors={"username": str(exc)}, v=values)
    return await _users_page(request, me, notice=f"User {user.username} added.")


@router.post("/users/{user_id}")
async def change_user(
    request: Request,
    user_id: IdPath,
    me: CanManageUsers,
    action: Field = "",
    role: Field = "",
    password: Field = "",
) -> Response:
    """One change to a user: its role, a new password, disable, enable or remove."""
    try:
        async with me.ctx.session() as session:
            user = await users.get(session, user_id)
            name = user.username
            if action == "role":
                await users.set_role(session, user, role)
            elif action == "password":
                await users.set_password(session, user, password)
            elif action in ("disable", "enable"):
                await users.set_disabled(session, user, action == "disable")
            elif action == "remove":
                await users.remove(session, user)
            else:
                raise ValidationFailed("action", "unknown change")
            audit.record(
                session, me.actor, f"user.{action}", name, {"role": role} if role else None
            )
    except (ValidationFailed, Conflict) as exc:
        message = exc.message if isinstance(exc, ValidationFailed) else str(exc)
        return await _users_page(request, me, errors={f"user-{user_id}": message})
    return await _users_page(request, me, notice=f"{name}: done.")


# --- audit log ------------------------------------------------------------------------


@router.get("/audit")
async def audit_log(request: Request, me: CanReadAudit, before_id: IdQuery = None) -> HTMLResponse:
    async with me.ctx.session() as session:
        entries = [audit.entry_view(e) for e in await audit.latest(session, before_id=before_id)]
    next_url = (
        str(request.url.include_query_params(before_id=entries[-1]["id"]))
        if len(entries) == 100
        else None
    )
    return page(request, "settings/audit.html", "Audit log", entries=entries, next_url=next_url)
