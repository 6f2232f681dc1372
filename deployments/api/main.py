"""The app factory: builds the FastAPI app from its collaborators, routers and middleware."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from redis import Redis
from sqlalchemy.engine import Engine

from deployments.api.audit import AuditMiddleware
from deployments.api.clientip import ClientIpMiddleware, TrustedProxies
from deployments.api.config import PLACEHOLDER_JWT_SECRET, ApiConfig
from deployments.api.deps import API_PREFIX, get_current_user, limit_per_ip
from deployments.api.errors import install_error_handlers
from deployments.api.headers import SecurityHeadersMiddleware
from deployments.api.limits import BodyLimit, BodyLimitMiddleware
from deployments.api.metrics import ApiMetrics, MetricsMiddleware
from deployments.api.routes import audit, auth, events, health, jobs, users

__all__ = ["create_app", "check_secret", "body_limits", "unique_id", "MIN_SECRET_LENGTH"]


def unique_id(route: APIRoute) -> str:
    """Operation id `"{tag}-{name}"`, stable names for the generated TypeScript client."""
    if not route.tags:
        return route.name
    tag = route.tags[0]
    return f"{tag.value if isinstance(tag, Enum) else tag}-{route.name}"


MIN_SECRET_LENGTH = 32


def check_secret(config: ApiConfig) -> None:
    """Refuse a JWT secret anyone could know: the old public placeholder, or one under 32 characters.

    There is no "local" exception: `witness up` generates a random secret on first start (see
    `cluster.live.jwt_secret`), so only tests that set `allow_insecure_secret` ever run with one.

    Raises:
        ValueError: if `jwt_secret` is the placeholder or shorter than `MIN_SECRET_LENGTH`.
    """
    if config.allow_insecure_secret:
        warnings.warn("the JWT secret is not checked (allow_insecure_secret): tokens may be forgeable", stacklevel=3)
        return
    if config.jwt_secret == PLACEHOLDER_JWT_SECRET:
        raise ValueError(f'the JWT secret is the public placeholder "{PLACEHOLDER_JWT_SECRET}": anyone can sign '
                         "admin tokens with it; unset API__JWT_SECRET (witness up generates one) or set a random one")
    if len(config.jwt_secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"the JWT secret has {len(config.jwt_secret)} characters; it needs at least "
                         f"{MIN_SECRET_LENGTH} random ones (API__JWT_SECRET)")


def document_validation_errors(app: FastAPI) -> None:
    """Say in the OpenAPI document what a 422 really carries: FastAPI's list of field errors, or (from a
    handler's own check: a site file's line, a POS file's line, an unknown SKU) one sentence."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        error = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError", {})
        detail = error.get("properties", {}).get("detail")
        if detail is not None and "anyOf" not in detail:
            fields = {k: v for k, v in detail.items() if k != "title"}
            error["properties"]["detail"] = {"title": "Detail", "anyOf": [fields, {"type": "string"}],
                                             "description": "The fields that failed validation, or one sentence"}  # fmt: skip
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def body_limits(config: ApiConfig) -> list[BodyLimit]:
    """The routes allowed a body larger than `max_body_kb`: uploads and imports."""
    return [
        BodyLimit("POST", f"{API_PREFIX}/jobs", config.max_upload_mb * 2**20, "upload"),
        BodyLimit("POST", f"{API_PREFIX}/pos/transactions/import", config.max_import_mb * 2**20 + 64 * 1024, "upload"),
        BodyLimit("POST", f"{API_PREFIX}/sites/import", config.max_site_file_kb * 1024, "site file"),
    ]


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
    requiring a Bearer access token. Mutating requests under `/api/v1` are audited. Bodies are
    capped before anything reads them (`body_limits`), the client IP believes `X-Forwarded-For`
    only from `config.trusted_proxies`, and every response carries the security headers.

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
        ValueError: if the JWT secret is the placeholder or too short (see `check_secret`).
    """
    check_secret(config)
    proxies = TrustedProxies.of(config.trusted_proxies)
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
    app.state.password_checks = threading.BoundedSemaphore(config.max_concurrent_password_checks)
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
    document_validation_errors(app)
    dropped = app.state.metrics.counter("witness_audit_dropped_total", "Audit rows not written for anonymous floods")
    app.add_middleware(AuditMiddleware, engine=engine, prefix=API_PREFIX, redis=redis, key_prefix=config.redis_key_prefix,
                       anonymous_per_ip_per_min=config.audit_anonymous_per_ip_per_min, dropped=dropped)  # fmt: skip
    app.add_middleware(BodyLimitMiddleware, default_bytes=config.max_body_kb * 1024, larger=body_limits(config))
    app.add_middleware(ClientIpMiddleware, proxies=proxies)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)  # outermost: times everything
    return app
