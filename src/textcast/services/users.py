"""Dashboard users: a username, an argon2id password hash and a role.

Passwords are hashed with argon2-cffi's defaults (argon2id, 64 MiB, three
passes; about 0.1 s here), off the event loop. The first admin is made by
``textcast users create`` or, when there is no user at all, on first start
with a generated password printed once (like the admin API key).
"""

from __future__ import annotations

import asyncio
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.db.models import DashboardSession, DashboardUser, utcnow
from textcast.errors import Conflict, NotFound, ValidationFailed
from textcast.services.roles import check_role

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{1,99}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 256
FIRST_ADMIN = "admin"

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both answers take as long.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def check_username(raw: str) -> str:
    username = raw.strip().lower()
    if not USERNAME.fullmatch(username):
        raise ValidationFailed(
            "username",
            "2 to 100 characters: letters, digits and . _ @ + - (an email address works)",
        )
    return username


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed("password", f"at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed("password", f"at most {MAX_PASSWORD} characters")
    return password


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, check_password(password))


async def _matches(password_hash: str, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


async def create(session: AsyncSession, username: str, password: str, role: str) -> DashboardUser:
    name = check_username(username)
    check_role(role)
    if await find(session, name) is not None:
        raise Conflict(f"a user named {name!r} already exists")
    user = DashboardUser(username=name, password_hash=await hash_password(password), role=role)
    session.add(user)
    await session.flush()
    return user


async def find(session: AsyncSession, username: str) -> DashboardUser | None:
    return await session.scalar(
        select(DashboardUser).where(DashboardUser.username == username.strip().lower())
    )


async def get(session: AsyncSession, user_id: int) -> DashboardUser:
    user = await session.get(DashboardUser, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


async def by_ref(session: AsyncSession, ref: str) -> DashboardUser:
    """A user by ID (digits) or username."""
    user = await session.get(DashboardUser, int(ref)) if ref.isdigit() else await find(session, ref)
    if user is None:
        raise NotFound(f"no user {ref!r}")
    return user


async def list_users(session: AsyncSession) -> list[DashboardUser]:
    return list(await session.scalars(select(DashboardUser).order_by(DashboardUser.id)))


async def authenticate(session: AsyncSession, username: str, password: str) -> DashboardUser | None:
    """The active user with this username and password; None otherwise (in the
    same time whether or not the user exists). Upgrades an outdated hash."""
    user = await find(session, username) if username.strip() else None
    if user is None or user.disabled_at is not None:
        await _matches(_DUMMY_HASH, password)
        return None
    if not await _matches(user.password_hash, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
    user.last_sign_in_at = utcnow()
    return user


async def _other_active_admins(session: AsyncSession, user: DashboardUser) -> int:
    query = select(func.count(DashboardUser.id)).where(
        DashboardUser.role == "admin",
        DashboardUser.disabled_at.is_(None),
        DashboardUser.id != user.id,
    )
    return int(await session.scalar(query) or 0)


async def _keep_an_admin(session: AsyncSession, user: DashboardUser, change: str) -> None:
    if user.role == "admin" and await _other_active_admins(session, user) == 0:
        raise Conflict(f"cannot {change} the last active admin; make another admin first")


async def set_role(session: AsyncSession, user: DashboardUser, role: str) -> None:
    check_role(role)
    if role != "admin":
        await _keep_an_admin(session, user, "demote")
    user.role = role


async def set_password(session: AsyncSession, user: DashboardUser, password: str) -> None:
    """A new password; every session of the user ends."""
    user.password_hash = await hash_password(password)
    await end_sessions(session, user.id)


async def set_disabled(session: AsyncSession, user: DashboardUser, disabled: bool) -> None:
    if disabled:
        await _keep_an_admin(session, user, "disable")
        user.disabled_at = user.disabled_at or utcnow()
        await end_sessions(session, user.id)
    else:
        user.disabled_at = None


async def remove(session: AsyncSession, user: DashboardUser) -> None:
    await _keep_an_admin(session, user, "remove")
    await end_sessions(session, user.id)
    await session.delete(user)


async def end_sessions(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(DashboardSession).where(DashboardSession.user_id == user_id))


async def ensure_first_admin(session: AsyncSession) -> tuple[str, str] | None:
    """With no user at all, make ``admin`` with a generated password and return
    (username, password) to show once; None when any user exists."""
    if await session.scalar(select(DashboardUser.id).limit(1)) is not None:
        return None
    password = secrets.token_urlsafe(12)
    await create(session, FIRST_ADMIN, password, "admin")
    return FIRST_ADMIN, password
