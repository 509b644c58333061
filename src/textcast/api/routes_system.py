"""Health and metrics: unauthenticated, for load balancers and Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text

from textcast.api.deps import CtxDep
from textcast.db.models import Message

router = APIRouter(tags=["system"])


@router.get("/healthz")
async def healthz(ctx: CtxDep) -> JSONResponse:
    try:
        async with ctx.sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # report, don't raise: this is the health check
        return JSONResponse(
            {"status": "error", "database": f"unreachable: {type(exc).__name__}"}, 503
        )
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics")
async def metrics(ctx: CtxDep) -> Response:
    """Prometheus exposition: process counters plus messages by status from the DB."""
    async with ctx.sessions() as session:
        rows = await session.execute(select(Message.status, func.count()).group_by(Message.status))
        counts = {status: int(count) for status, count in rows}
    lines = [
        "# HELP textcast_messages Messages currently in each status",
        "# TYPE textcast_messages gauge",
        *(
            f'textcast_messages{{status="{status}"}} {count}'
            for status, count in sorted(counts.items())
        ),
    ]
    body = generate_latest().decode() + "\n".join(lines) + "\n"
    return Response(body, media_type=CONTENT_TYPE_LATEST)
