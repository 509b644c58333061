"""Request dependencies: the shared context, a transactional session, the API
key and what its role allows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.context import Context
from textcast.db.models import MAX_ID
from textcast.services import apikeys
from textcast.services.roles import Actor
from textcast.services.signins import key_actor


async def get_ctx(request: Request) -> Context:
    # async: FastAPI runs a plain def dependency on its thread pool, for every request.
    ctx: Context = request.app.state.ctx
    return ctx


async def get_session(ctx: Annotated[Context, Depends(get_ctx)]) -> AsyncIterator[AsyncSession]:
    """A session whose transaction commits before the response is sent (see SessionDep)."""
    async with ctx.session() as session:
        yield session


async def require_api_key(request: Request, ctx: Annotated[Context, Depends(get_ctx)]) -> Actor:
    """``Authorization: Bearer <key>``; 401 otherwise. The key's :class:`Actor`
    is kept on ``request.state.actor`` (the audit log reads it there)."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    challenge = {"WWW-Authenticate": "Bearer"}
    if scheme.lower() != "bearer" or not key.strip():
        raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>'", challenge)
    async with ctx.sessions() as session:
        found = await apikeys.find_active(session, key.strip())
    if found is None:
        raise HTTPException(401, "invalid or revoked API key", challenge)
    actor = key_actor(found, request.client.host if request.client else None)
    request.state.actor = actor
    return actor


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# POSTs that change nothing: any role may make them.
READ_ONLY_POSTS = frozenset({"/api/v1/segments", "/api/v1/segments/count"})


def api_access(write: str) -> Callable[..., Awaitable[Actor]]:
    """A router's guard: any valid key may read; changing anything needs the
    ``write`` permission (see :mod:`textcast.services.roles`), else 403."""

    async def guard(request: Request, actor: Annotated[Actor, Depends(require_api_key)]) -> Actor:
        reads = request.method in READ_METHODS or request.url.path in READ_ONLY_POSTS
        if not reads and not actor.may(write):
            raise HTTPException(
                403, f"this API key's role ({actor.role}) may not make this change ({write})"
            )
        return actor

    return guard


async def current_actor(request: Request) -> Actor:
    """The :class:`Actor` :func:`require_api_key` found for this request."""
    actor: Actor = request.state.actor
    return actor


# IDs in paths and paging parameters: a number no row can have is a 422 naming
# the parameter, not a driver error on binding it.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
CursorQuery = Annotated[int | None, Query(ge=0, le=MAX_ID, description="page on from this ID")]

CtxDep = Annotated[Context, Depends(get_ctx)]
# scope="function": commit before the response leaves. FastAPI's default ends a
# yield dependency after the response is sent, which would acknowledge (202)
# work that is not yet committed, and might then fail to commit.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ActorDep = Annotated[Actor, Depends(current_actor)]
