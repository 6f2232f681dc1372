"""Exception handlers: storage and infrastructure errors become short, stable HTTP errors."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from sqlalchemy.exc import DataError, OperationalError

from storage.crud import NotFoundError

__all__ = ["install_error_handlers"]

log = logging.getLogger(__name__)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "not found"}, status_code=404)


async def _redis_down(request: Request, exc: Exception) -> JSONResponse:
    log.error("redis error on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": "redis unavailable"}, status_code=503)


async def _bad_value(request: Request, exc: Exception) -> JSONResponse:
    log.info("value refused by the database on %s %s: %s", request.method, request.url.path, getattr(exc, "orig", exc))
    return JSONResponse({"detail": "a value cannot be stored or compared: a NUL character, or a number out of range"},
                        status_code=422)  # fmt: skip


async def _db_down(request: Request, exc: Exception) -> JSONResponse:
    log.error("database error on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": "database unavailable"}, status_code=503)


def install_error_handlers(app: FastAPI) -> None:
    """Map `NotFoundError` → 404, Redis errors → 503, lost database connections → 503, values the
    database refuses (`DataError`: a NUL character in text, an integer out of range) → 422.

    Handlers normally raise their own `HTTPException` with a precise detail ("job not
    found"); these are the safety net for what they do not catch.
    """
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(RedisError, _redis_down)
    app.add_exception_handler(OperationalError, _db_down)
    app.add_exception_handler(DataError, _bad_value)
