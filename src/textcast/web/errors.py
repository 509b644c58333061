"""Every error leaves the API as JSON that says what is wrong — never a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from textcast.errors import Conflict, NotFound, ProviderError, TextcastError, ValidationFailed
from textcast.netguard import TargetRefused

log = logging.getLogger(__name__)


def error_body(error: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": error, "message": message, **extra}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ValidationFailed)
    async def _validation(_: Request, exc: ValidationFailed) -> JSONResponse:
        return JSONResponse(error_body("validation_failed", exc.message, field=exc.field), 422)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
        field = ".".join(loc) or "body"
        return JSONResponse(
            error_body(
                "validation_failed",
                str(first.get("msg")),
                field=field,
                errors=[
                    {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg")}
                    for e in exc.errors()[:20]
                ],
            ),
            422,
        )

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(error_body("not_found", str(exc)), 404)

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse(error_body("conflict", str(exc)), 409)

    @app.exception_handler(TargetRefused)
    async def _target(_: Request, exc: TargetRefused) -> JSONResponse:
        return JSONResponse(error_body("validation_failed", str(exc), field="url"), 422)

    @app.exception_handler(ProviderError)
    async def _provider(_: Request, exc: ProviderError) -> JSONResponse:
        return JSONResponse(
            error_body("provider_error", exc.message, code=exc.code, permanent=exc.permanent), 502
        )

    @app.exception_handler(TextcastError)
    async def _textcast(_: Request, exc: TextcastError) -> JSONResponse:
        log.error("request failed: %s", exc)
        return JSONResponse(error_body("error", str(exc)), 500)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            error_body("http_error", str(exc.detail)), exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            error_body("internal_error", "unexpected server error; see the server log"), 500
        )
