"""The app factory: builds the FastAPI app from its collaborators, routers and middleware."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from redis import Redis
from sqlalchemy.engine import Engine

from deployments.api.audit import AuditMiddleware
from deployments.api.config import PLACEHOLDER_JWT_SECRET, ApiConfig
from deployments.api.deps import API_PREFIX, get_current_user, limit_per_ip
from deployments.api.errors import install_error_handlers
from deployments.api.metrics import ApiMetrics, MetricsMiddleware
from deployments.api.routes import audit, auth, events, health, jobs, users

__all__ = ["create_app", "check_secret", "unique_id"]


def unique_id(route: APIRoute) -> str:
    """Operation id `"{tag}-{name}"`, stable names for the generated TypeScript client."""
    if not route.tags:
        return route.name
    tag = route.tags[0]
    return f"{tag.value if isinstance(tag, Enum) else tag}-{route.name}"


def check_secret(config: ApiConfig) -> None:
    """Refuse the placeholder JWT secret outside local development; warn about it locally.

    Raises:
        ValueError: if `jwt_secret` is the placeholder and `environment` is not `"local"`.
    """
    if config.jwt_secret != PLACEHOLDER_JWT_SECRET:
        return
    message = f'the JWT secret is the placeholder "{PLACEHOLDER_JWT_SECRET}"; set API__JWT_SECRET'
    if config.environment != "local":
        raise ValueError(f"{message} (environment is {config.environment!r}, not 'local')")
    warnings.warn(f"{message} before deploying", stacklevel=3)


def create_app(
    *,
    engine: Engine,
    redis: Redis,
    config: ApiConfig,
    extra_routers: Sequence[APIRouter] | None = None,
    public_routers: Sequence[APIRouter] | None = None,
    state: Mapping[str, Any] | None = None,
    metrics: ApiMetrics | None = None,
) -> FastAPI:
    """Build the API.

    Routes: `/health`, `/metrics`, `/docs` at the root; everything else under `/api/v1`, rate
    limited per client IP, and (except `auth/login`, `auth/refresh` and `public_routers`)
    requiring a Bearer access token. Mutating requests under `/api/v1` are audited.

    Args:
        engine: migrated database engine.
        redis: synchronous Redis client (rate limits, revoked access tokens).
        config: API settings, e.g. `ApiConfig(**settings.api.model_dump())`.
        extra_routers: more routers mounted under `/api/v1` behind the access token (cameras,
            media, WebSockets...). Declare permissions with `Depends(deps.require(...))`.
        public_routers: routers mounted under `/api/v1` without the token requirement.
        state: more collaborators to put on `app.state` (object store, Ray handles...), for
            dependencies of the extra routers to read.
        metrics: metrics to use (default: fresh ones on a registry of this app's own).

    Returns:
        The app; `app.state` holds `engine`, `redis`, `config`, `metrics` and `state`'s items.

    Raises:
        ValueError: if the JWT secret is the placeholder outside `environment="local"`.
    """
    check_secret(config)
    app = FastAPI(
        title="Digital Witness API",
        version="1",
        generate_unique_id_function=unique_id,
        description="Video intelligence for retail loss prevention. An alert is a request for human review.",
    )
    app.state.engine = engine
    app.state.redis = redis
    app.state.config = config
    app.state.metrics = metrics or ApiMetrics()
    for name, value in (state or {}).items():
        setattr(app.state, name, value)

    protected = APIRouter(dependencies=[Depends(get_current_user)])
    for router in (auth.router, users.router, events.router, jobs.router, audit.router, *(extra_routers or ())):
        protected.include_router(router)
    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(limit_per_ip)])
    for router in (auth.public_router, *(public_routers or ())):
        api.include_router(router)
    api.include_router(protected)
    app.include_router(health.router)
    app.include_router(api)

    install_error_handlers(app)
    app.add_middleware(AuditMiddleware, engine=engine, prefix=API_PREFIX)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)  # outermost: times everything
    return app
