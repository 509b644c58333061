"""Request dependencies: the shared context, a transactional session, the API key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from textcast.context import Context
from textcast.db.models import MAX_ID
from textcast.services import apikeys


async def get_ctx(request: Request) -> Context:
    # async: FastAPI runs a plain def dependency on its thread pool, for every request.
    ctx: Context = request.app.state.ctx
    return ctx


async def get_session(ctx: Annotated[Context, Depends(get_ctx)]) -> AsyncIterator[AsyncSession]:
    """A session whose transaction commits before the response is sent (see SessionDep)."""
    async with ctx.session() as session:
        yield session


async def require_api_key(request: Request, ctx: Annotated[Context, Depends(get_ctx)]) -> None:
    """``Authorization: Bearer <key>``; 401 otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    challenge = {"WWW-Authenticate": "Bearer"}
    if scheme.lower() != "bearer" or not key.strip():
        raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>'", challenge)
    async with ctx.sessions() as session:
        if await apikeys.find_active(session, key.strip()) is None:
            raise HTTPException(401, "invalid or revoked API key", challenge)


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
