"""Typed dependencies: how handlers reach the database, Redis, the config and the current user.

Collaborators live on `app.state` (set by `create_app`); handlers only ever use these aliases.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, WebSocketException, status
from fastapi.security import OAuth2PasswordBearer
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.requests import HTTPConnection

from deployments.api.audit import audit_context, client_ip
from deployments.api.config import ApiConfig
from deployments.api.metrics import ApiMetrics
from deployments.api.permissions import Permission, has_permission
from deployments.api.ratelimit import fail_open, hit
from deployments.api.security import TokenClaims, TokenType, decode_token
from storage import crud
from storage.models import User, UserRole
from storage.scope import CameraScope

__all__ = [
    "API_PREFIX",
    "get_session",
    "get_redis",
    "get_config",
    "get_metrics",
    "get_access_claims",
    "get_current_user",
    "limit_per_ip",
    "limit_login_per_ip",
    "RoleChecker",
    "PermissionChecker",
    "require_roles",
    "require",
    "user_can_see_camera",
    "camera_scope",
    "get_camera_scope",
    "not_found",
    "ScopeDep",
    "deny_key",
    "SessionDep",
    "RedisDep",
    "ConfigDep",
    "MetricsDep",
    "TokenDep",
    "AccessClaims",
    "CurrentUser",
]

API_PREFIX = "/api/v1"


# ------------------------------------------------------------------------------- collaborators
def get_engine(conn: HTTPConnection) -> Engine:
    """The database engine given to `create_app`."""
    return conn.app.state.engine


def get_session(conn: HTTPConnection) -> Iterator[Session]:
    """A session per request, closed afterwards (crud functions commit their own work)."""
    with Session(get_engine(conn), expire_on_commit=False) as session:
        yield session


def get_redis(conn: HTTPConnection) -> Redis:
    """The Redis client given to `create_app`."""
    return conn.app.state.redis


def get_config(conn: HTTPConnection) -> ApiConfig:
    """The app's `ApiConfig`."""
    return conn.app.state.config


def get_metrics(conn: HTTPConnection) -> ApiMetrics:
    """The app's metrics (add your own with `metrics.counter(...)` etc.)."""
    return conn.app.state.metrics


SessionDep = Annotated[Session, Depends(get_session)]
RedisDep = Annotated[Redis, Depends(get_redis)]
ConfigDep = Annotated[ApiConfig, Depends(get_config)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]


# ------------------------------------------------------------------------------------- refusals
def _refuse(conn: HTTPConnection, code: int, detail: str, headers: dict[str, str] | None = None) -> Exception:
    """An HTTPException, or for a WebSocket a close with policy-violation (1008) / try-again (1013)."""
    if conn.scope["type"] == "websocket":
        return WebSocketException(code=1013 if code == 429 else 1008, reason=detail)
    return HTTPException(status_code=code, detail=detail, headers=headers)


def _limit(conn: HTTPConnection, redis: Redis, key: str, limit: int) -> None:
    result = hit(redis, key, limit=limit, metrics=get_metrics(conn))
    if not result.allowed:
        raise _refuse(conn, 429, "rate limit exceeded", {"Retry-After": str(result.retry_after_s)})


def limit_per_ip(conn: HTTPConnection, redis: RedisDep, config: ConfigDep) -> None:
    """Per-client-IP limit on every HTTP request under /api/v1 (WebSocket upgrades are exempt)."""
    if conn.scope["type"] == "http":
        key = f"{config.redis_key_prefix}rl:ip:{client_ip(conn.scope)}"
        _limit(conn, redis, key, config.rate_limit_per_ip_per_min)


def limit_login_per_ip(conn: HTTPConnection, redis: RedisDep, config: ConfigDep) -> None:
    """Per-client-IP limit on login attempts (successful or not)."""
    key = f"{config.redis_key_prefix}rl:login:{client_ip(conn.scope)}"
    _limit(conn, redis, key, config.login_attempts_per_ip_per_min)


# ------------------------------------------------------------------------------------ identity
class BearerToken(OAuth2PasswordBearer):
    """The access token: `Authorization: Bearer …`, or for a WebSocket also `?access_token=…`.

    Browsers cannot set headers on a WebSocket, hence the query parameter there only.
    """

    async def __call__(self, conn: HTTPConnection) -> str | None:  # type: ignore[override]
        scheme, _, token = conn.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token:
            return token.strip()
        if conn.scope["type"] == "websocket":
            return conn.query_params.get("access_token") or None
        return None


bearer_token = BearerToken(tokenUrl=f"{API_PREFIX}/auth/login", auto_error=False)
TokenDep = Annotated[str | None, Depends(bearer_token)]


def deny_key(config: ApiConfig, jti: str) -> str:
    """Redis key marking an access token revoked (set by logout until the token expires)."""
    return f"{config.redis_key_prefix}deny:{jti}"


def get_access_claims(conn: HTTPConnection, token: TokenDep, redis: RedisDep, config: ConfigDep) -> TokenClaims:
    """The verified claims of the request's access token.

    Raises:
        HTTPException: 401 if the token is missing, invalid, expired or revoked.
    """
    challenge = {"WWW-Authenticate": "Bearer"}
    if token is None:
        raise _refuse(conn, status.HTTP_401_UNAUTHORIZED, "not authenticated", challenge)
    try:
        claims = decode_token(token, secret=config.jwt_secret, token_type=TokenType.ACCESS)
    except jwt.InvalidTokenError:
        raise _refuse(conn, status.HTTP_401_UNAUTHORIZED, "invalid token", challenge) from None
    audit_context(conn).user_id = claims.sub
    if _revoked(conn, redis, deny_key(config, claims.jti)):
        raise _refuse(conn, status.HTTP_401_UNAUTHORIZED, "token revoked", challenge)
    return claims


def _revoked(conn: HTTPConnection, redis: Redis, key: str) -> bool:
    """Whether the access token was revoked; with Redis unreachable, not (failing open: logged and
    counted), so a Redis outage does not log everyone out. Access tokens are short-lived."""
    try:
        return bool(redis.exists(key))
    except (RedisError, OSError) as exc:
        fail_open("token_revocation", exc, get_metrics(conn))
        return False


AccessClaims = Annotated[TokenClaims, Depends(get_access_claims)]


def get_current_user(conn: HTTPConnection, claims: AccessClaims, session: SessionDep, redis: RedisDep,
                     config: ConfigDep) -> User:  # fmt: skip
    """The active user the access token belongs to, counted against the per-user rate limit.

    The role comes from the database on every request, so a role change applies at once; a token
    whose `ver` claim is older than the user's `token_version` (password, role, group or status
    changed since it was issued) is refused.

    Raises:
        HTTPException: 401 (user gone, token revoked), 403 (inactive) or 429 (per-user limit).
    """
    user = crud.get_user(session, claims.sub)
    if user is None:
        raise _refuse(conn, status.HTTP_401_UNAUTHORIZED, "invalid token", {"WWW-Authenticate": "Bearer"})
    audit_context(conn).username = user.username
    if not user.is_active:
        raise _refuse(conn, status.HTTP_403_FORBIDDEN, "inactive user")
    if claims.ver != user.token_version:  # issued before a password, role, group or status change
        raise _refuse(conn, status.HTTP_401_UNAUTHORIZED, "token revoked", {"WWW-Authenticate": "Bearer"})
    if conn.scope["type"] == "http":
        _limit(conn, redis, f"{config.redis_key_prefix}rl:user:{user.id}", config.rate_limit_per_user_per_min)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


# --------------------------------------------------------------------------------- authorization
class RoleChecker:
    """Dependency admitting only users whose role is one of `roles` (403 otherwise); returns the user."""

    def __init__(self, roles: Iterable[UserRole]) -> None:
        self.roles = frozenset(UserRole(r) for r in roles)

    def __call__(self, conn: HTTPConnection, user: CurrentUser) -> User:
        if user.role not in self.roles:
            raise _refuse(conn, status.HTTP_403_FORBIDDEN, "insufficient permissions")
        return user


class PermissionChecker:
    """Dependency admitting only users whose role grants `permission` (403 otherwise); returns the user."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(self, conn: HTTPConnection, user: CurrentUser) -> User:
        if not has_permission(user.role, self.permission):
            raise _refuse(conn, status.HTTP_403_FORBIDDEN, "insufficient permissions")
        return user


def require_roles(*roles: UserRole) -> RoleChecker:
    """`Depends(require_roles(UserRole.ADMIN))`: only these roles."""
    return RoleChecker(roles)


def require(permission: Permission) -> PermissionChecker:
    """`Depends(require(Permission.JOB_CANCEL))`: only roles granting `permission`."""
    return PermissionChecker(permission)


# ------------------------------------------------------------------------------ camera scoping
# THE scoping helper of the API. Every route that reads or writes something that concerns a
# camera (events, alerts, jobs, clips, crops, POS, summaries, analytics...) takes `ScopeDep`
# and passes it to the repository (`crud.list_events(..., scope=scope)`) or checks one row
# with `scope.sees_row(session, camera_id=..., job_id=...)` and answers `not_found(...)` (404,
# never 403, so ids do not leak). What belongs to which group: `storage.scope`.
def camera_scope(user: User) -> CameraScope:
    """The cameras `user` may see: every camera for admins and users with `all_cameras`,
    otherwise those of `user.camera_groups` (an empty list sees none)."""
    return CameraScope.of(all_cameras=user.role is UserRole.ADMIN or user.all_cameras, groups=user.camera_groups)


def get_camera_scope(user: CurrentUser) -> CameraScope:
    """The current user's `CameraScope` (use it as `ScopeDep`)."""
    return camera_scope(user)


ScopeDep = Annotated[CameraScope, Depends(get_camera_scope)]


def not_found(what: str) -> HTTPException:
    """`HTTPException(404, "<what> not found")`: for missing rows and rows outside the user's scope alike."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found")


def user_can_see_camera(user: User, camera_group: str | None) -> bool:
    """Whether `user` may see a camera in `camera_group` (`camera_scope(user).sees_group(camera_group)`).

    Admins and users with `all_cameras` see every camera; anyone else sees only cameras whose
    group is one of theirs (a camera in no group is then hidden; no group at all sees nothing).
    """
    return camera_scope(user).sees_group(camera_group)
