"""`/health` (no token, for load balancers) and `/metrics` (the static `metrics_token` Prometheus is
given as `authorization: {credentials: …}`, or any user's access token with read access) at the root."""

from __future__ import annotations

import sqlalchemy as sa
import secrets

from fastapi import APIRouter, Depends, HTTPException, Response, status
from starlette.requests import HTTPConnection
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from deployments.api.deps import (
    ConfigDep,
    MetricsDep,
    RedisDep,
    SessionDep,
    TokenDep,
    get_access_claims,
    get_current_user,
)
from deployments.api.permissions import Permission, has_permission
from deployments.api.metrics import CONTENT_TYPE_LATEST
from deployments.api.schemas import Health
from deployments.api.tags import Tags

__all__ = ["router"]

router = APIRouter(tags=[Tags.HEALTH])


@router.get("/health", responses={503: {"model": Health}})
def health(session: SessionDep, redis: RedisDep, response: Response) -> Health:
    """Liveness of the API and its database and Redis (503 when either is down)."""
    try:
        session.exec(sa.select(1)).one()  # type: ignore[call-overload]
        db = "ok"
    except SQLAlchemyError:
        db = "error"
    try:
        redis.ping()
        cache = "ok"
    except RedisError:
        cache = "error"
    ok = db == "ok" and cache == "ok"
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="ok" if ok else "degraded", db=db, redis=cache)


def metrics_access(conn: HTTPConnection, token: TokenDep, session: SessionDep, redis: RedisDep, config: ConfigDep) -> None:
    """Allow the static scrape token (`metrics_token`) or any user's access token with read access.

    Raises:
        HTTPException: 401 without a valid token, 403 without read access.
    """
    if config.metrics_token and token and secrets.compare_digest(token, config.metrics_token):
        return
    user = get_current_user(conn, get_access_claims(conn, token, redis, config), session, redis, config)
    if not has_permission(user.role, Permission.READ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not allowed")


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    dependencies=[Depends(metrics_access)],
)
def metrics(metrics: MetricsDep) -> Response:
    """Prometheus metrics of this API replica."""
    return Response(content=metrics.render(), media_type=CONTENT_TYPE_LATEST)
