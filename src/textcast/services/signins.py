"""Signing in to the dashboard: checking a password (or an API key), rate
limiting refusals, and the sessions that follow.

A session is a row: the browser's cookie holds a random token, the row its
SHA-256 hash and the session's CSRF token. Rows rather than signed cookies so
that signing out, disabling a user, changing a role or revoking a key takes
effect on the very next request, in every process sharing the database, with
no signing key to distribute.

Refused sign-ins are audit entries; from one address, 5 refusals for one
username (or one API key attempt) within 15 minutes, or 20 in all, make
further attempts wait until the window has passed.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.db.models import ApiKey, DashboardSession, DashboardUser, utcnow
from textcast.errors import TextcastError
from textcast.services import apikeys, audit, users
from textcast.services.roles import Actor

SESSION_LIFETIME = timedelta(hours=12)
WINDOW_MINUTES = 15
MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_ADDRESS = 20
API_KEY_TARGET = "(API key)"


class TooManyAttempts(TextcastError):
    """Sign-ins from this address are paused (HTTP 429)."""


@dataclass(frozen=True)
class SignedIn:
    session_id: int
    csrf_token: str
    actor: Actor


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _throttle(session: AsyncSession, ip: str | None, target: str) -> None:
    since = audit.window_start(WINDOW_MINUTES)
    per_name = await audit.failures_since(session, since, ip=ip, target=target)
    per_address = await audit.failures_since(session, since, ip=ip)
    if per_name >= MAX_FAILURES_PER_NAME or per_address >= MAX_FAILURES_PER_ADDRESS:
        raise TooManyAttempts(
            f"too many failed sign-ins from this address; try again in {WINDOW_MINUTES} minutes"
        )


def _refused(session: AsyncSession, ip: str | None, target: str) -> None:
    anonymous = Actor("anonymous", None, "anonymous", "viewer", ip)
    audit.record(session, anonymous, audit.SIGN_IN_FAILED, target)


async def with_password(
    session: AsyncSession, username: str, password: str, ip: str | None
) -> tuple[str, SignedIn] | None:
    """(cookie token, session) for the right password; None (and an audit entry)
    otherwise. Raises :class:`TooManyAttempts` while paused."""
    target = username.strip().lower()[:100]
    await _throttle(session, ip, target)
    user = await users.authenticate(session, username, password)
    if user is None:
        _refused(session, ip, target)
        return None
    actor = user_actor(user, ip)
    audit.record(session, actor, "auth.signed_in", actor.label)
    return await _start(session, actor, user_id=user.id)


async def with_api_key(
    session: AsyncSession, key: str, ip: str | None
) -> tuple[str, SignedIn] | None:
    """Sign in with an API key: the session has the key's role and ends when
    the key is revoked."""
    await _throttle(session, ip, API_KEY_TARGET)
    found = await apikeys.find_active(session, key.strip()) if key.strip() else None
    if found is None:
        _refused(session, ip, API_KEY_TARGET)
        return None
    actor = key_actor(found, ip)
    audit.record(session, actor, "auth.signed_in", actor.label)
    return await _start(session, actor, api_key_id=found.id)


async def _start(
    session: AsyncSession,
    actor: Actor,
    *,
    user_id: int | None = None,
    api_key_id: int | None = None,
) -> tuple[str, SignedIn]:
    now = utcnow()
    await session.execute(delete(DashboardSession).where(DashboardSession.expires_at < now))
    token = secrets.token_urlsafe(32)
    row = DashboardSession(
        token_hash=_hash(token),
        csrf_token=secrets.token_urlsafe(32),
        user_id=user_id,
        api_key_id=api_key_id,
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    session.add(row)
    await session.flush()
    return token, SignedIn(row.id, row.csrf_token, actor)


async def resolve(session: AsyncSession, token: str, ip: str | None) -> SignedIn | None:
    """The live session for a cookie token, with who is behind it now."""
    if not token:
        return None
    row = await session.scalar(
        select(DashboardSession).where(DashboardSession.token_hash == _hash(token))
    )
    if row is None or row.expires_at <= utcnow():
        return None
    if row.user_id is not None:
        user = await session.get(DashboardUser, row.user_id)
        if user is None or user.disabled_at is not None:
            return None
        return SignedIn(row.id, row.csrf_token, user_actor(user, ip))
    key = await session.get(ApiKey, row.api_key_id) if row.api_key_id is not None else None
    if key is None or key.revoked_at is not None:
        return None
    return SignedIn(row.id, row.csrf_token, key_actor(key, ip))


async def end(session: AsyncSession, token: str) -> None:
    await session.execute(
        delete(DashboardSession).where(DashboardSession.token_hash == _hash(token))
    )


def user_actor(user: DashboardUser, ip: str | None) -> Actor:
    return Actor("user", user.id, user.username, user.role, ip)


def key_actor(key: ApiKey, ip: str | None) -> Actor:
    return Actor("api_key", key.id, key.name, key.role, ip)
