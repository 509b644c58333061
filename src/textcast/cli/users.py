"""`textcast users ...`: dashboard users (the first admin, a lost password)."""

from __future__ import annotations

from typing import Any

import typer

from textcast.cli.common import JsonOption, emit, fail, make_table, run
from textcast.context import Context
from textcast.db.models import DashboardUser
from textcast.services import audit, users
from textcast.services.roles import CLI, ROLES

users_app = typer.Typer(help="Dashboard users and their roles.", no_args_is_help=True)
RoleOption = typer.Option("viewer", help=f"One of {', '.join(ROLES)}.")


def _password(given: str | None) -> str:
    if given:
        return given
    entered: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return entered


def _row(user: DashboardUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "disabled": user.disabled_at is not None,
        "last_sign_in_at": user.last_sign_in_at,
    }


@users_app.command("create")
def create_user(
    username: str = typer.Option(..., help="Sign-in name (an email address works)."),
    role: str = RoleOption,
    password: str | None = typer.Option(
        None, help="At least 10 characters; asked for when left out.", envvar="TEXTCAST_PASSWORD"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Add a dashboard user (`--role admin` for the first admin)."""
    if role not in ROLES:
        fail(f"--role must be one of {', '.join(ROLES)}", 2)
    secret = _password(password)

    async def action(ctx: Context) -> dict[str, Any]:
        async with ctx.session() as session:
            user = await users.create(session, username, secret, role)
            audit.record(session, CLI, "user.created", user.username, {"role": role})
            return _row(user)

    emit(run(action), as_json, table=lambda u: make_table("New user", list(u), [list(u.values())]))


@users_app.command("list")
def list_users(as_json: bool = JsonOption) -> None:
    async def action(ctx: Context) -> list[dict[str, Any]]:
        async with ctx.session() as session:
            return [_row(u) for u in await users.list_users(session)]

    emit(
        run(action),
        as_json,
        table=lambda rows: make_table(
            "Dashboard users",
            ["id", "username", "role", "disabled", "last sign-in"],
            [list(r.values()) for r in rows],
        ),
    )


@users_app.command("set-password")
def set_password(
    username: str = typer.Argument(..., help="Username or ID."),
    password: str | None = typer.Option(None, envvar="TEXTCAST_PASSWORD"),
) -> None:
    """Give a user a new password (their sessions end)."""
    secret = _password(password)

    async def action(ctx: Context) -> None:
        async with ctx.session() as session:
            user = await users.by_ref(session, username)
            await users.set_password(session, user, secret)
            audit.record(session, CLI, "user.password_set", user.username)

    run(action)
    typer.echo("password changed")


@users_app.command("set-role")
def set_role(
    username: str = typer.Argument(..., help="Username or ID."),
    role: str = typer.Argument(..., help=f"One of {', '.join(ROLES)}."),
) -> None:
    async def action(ctx: Context) -> None:
        async with ctx.session() as session:
            user = await users.by_ref(session, username)
            await users.set_role(session, user, role)
            audit.record(session, CLI, "user.role_changed", user.username, {"role": role})

    run(action)
    typer.echo(f"{username} is now {role}")


@users_app.command("remove")
def remove_user(username: str = typer.Argument(..., help="Username or ID.")) -> None:
    async def action(ctx: Context) -> None:
        async with ctx.session() as session:
            user = await users.by_ref(session, username)
            await users.remove(session, user)
            audit.record(session, CLI, "user.removed", user.username)

    run(action)
    typer.echo(f"removed {username}")
