"""`/health` and `/metrics` at the root: no token, for load balancers and Prometheus."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Response, status
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from deployments.api.deps import MetricsDep, RedisDep, SessionDep
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


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(metrics: MetricsDep) -> Response:
    """Prometheus metrics of this API replica."""
    return Response(content=metrics.render(), media_type=CONTENT_TYPE_LATEST)
