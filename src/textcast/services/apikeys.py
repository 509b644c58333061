"""API keys: random, shown once, stored as SHA-256 hashes, each with a role
(admin, editor or viewer; see :mod:`textcast.services.roles`)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.db.models import ApiKey, utcnow
from textcast.errors import NotFound, ValidationFailed
from textcast.services.roles import check_role

KEY_PREFIX = "tc_"


def hash_key(key: str) -> str:
    # Keys are 256-bit random, so a fast hash is enough; no password stretching needed.
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class NewKey:
    record: ApiKey
    key: str


async def create_key(
    session: AsyncSession, name: str, *, role: str = "admin", key: str | None = None
) -> NewKey:
    if not name.strip() or len(name) > 100:
        raise ValidationFailed("name", "a key needs a name of 1 to 100 characters")
    key = key or KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(
        name=name.strip(), prefix=key[:8], key_hash=hash_key(key), role=check_role(role)
    )
    session.add(record)
    await session.flush()
    return NewKey(record, key)


async def find_active(session: AsyncSession, key: str) -> ApiKey | None:
    found = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    return found if found is not None and found.revoked_at is None else None


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    return list(await session.scalars(select(ApiKey).order_by(ApiKey.id)))


async def revoke(session: AsyncSession, key_id: int) -> ApiKey:
    record = await session.get(ApiKey, key_id)
    if record is None:
        raise NotFound(f"API key {key_id} does not exist")
    record.revoked_at = record.revoked_at or utcnow()
    return record


async def ensure_admin_key(session: AsyncSession, configured: str | None) -> str | None:
    """Make sure an admin key exists; return it in clear only when just generated.

    A key from ``TEXTCAST_ADMIN_API_KEY`` is registered (hashed) if new; with none
    configured and no key stored yet, one is generated and returned once.
    """
    if configured:
        if await find_active(session, configured) is None:
            await create_key(session, "admin (from TEXTCAST_ADMIN_API_KEY)", key=configured)
        return None
    if await session.scalar(select(ApiKey.id).where(ApiKey.revoked_at.is_(None)).limit(1)):
        return None
    return (await create_key(session, "admin")).key
