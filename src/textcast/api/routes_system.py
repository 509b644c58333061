"""Health and metrics: unauthenticated, for load balancers and Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from textcast.metrics import exposition
from textcast.web.deps import CtxDep

router = APIRouter(tags=["system"])


@router.get("/livez")
async def livez() -> dict[str, str]:
    """Liveness: the process answers HTTP. Touches nothing else, so a slow or
    unreachable database does not get a healthy process restarted (that is
    what /healthz, the readiness check, reports)."""
    return {"status": "ok"}


@router.get("/healthz")
async def healthz(ctx: CtxDep) -> JSONResponse:
    """Readiness: the process answers and its database does."""
    try:
        async with ctx.sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # report, don't raise: this is the health check
        return JSONResponse(
            {"status": "error", "database": f"unreachable: {type(exc).__name__}"}, 503
        )
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"}},
)
async def metrics(ctx: CtxDep) -> Response:
    """Prometheus exposition: this process's counters plus messages by status
    from the database (the same page `textcast worker` serves on its metrics port)."""
    return Response(await exposition(ctx.sessions), media_type=CONTENT_TYPE_LATEST)
