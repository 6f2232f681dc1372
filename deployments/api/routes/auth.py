"""`/auth`: login (form or JSON), token refresh with rotation, logout, the current user."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlmodel import Session

from deployments.api.audit import audit_context
from deployments.api.config import ApiConfig
from deployments.api.deps import (
    AccessClaims,
    ConfigDep,
    CurrentUser,
    RedisDep,
    SessionDep,
    deny_key,
    limit_login_per_ip,
)
from deployments.api.ratelimit import clear_login_failures, login_lock_remaining_s, record_login_failure
from deployments.api.schemas import LoginRequest, LogoutRequest, RefreshRequest, TokenPair
from deployments.api.security import TokenType, create_token, decode_token, dummy_hash, verify_password
from deployments.api.tags import Tags
from storage import crud
from storage.models import User, UserPublic

__all__ = ["public_router", "router"]

public_router = APIRouter(prefix="/auth", tags=[Tags.AUTH])
router = APIRouter(prefix="/auth", tags=[Tags.AUTH])

_BAD_CREDENTIALS = "incorrect username or password"
_BAD_REFRESH = "invalid refresh token"
_LOGIN_SCHEMA = LoginRequest.model_json_schema()


async def login_credentials(request: Request) -> LoginRequest:
    """Credentials from a JSON body or an OAuth2 password form (`username`, `password`)."""
    raw: Any = {}
    try:
        if request.headers.get("content-type", "").split(";")[0].strip() == "application/json":
            raw = json.loads((await request.body()).decode("utf-8") or "null")
        else:
            form = await request.form(max_files=0, max_fields=8)
            raw = {k: form[k] for k in ("username", "password") if isinstance(form.get(k), str)}
        creds = LoginRequest.model_validate(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "the body is not UTF-8 JSON", "input": {}}]
        ) from None

    except ValidationError as exc:
        errors = [
            {**e, "loc": ("body", *e["loc"])}  # no "input": never echo a password back
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise RequestValidationError(errors) from None
    audit_context(request).username = creds.username
    return creds


def _issue(session: Session, user: User, config: ApiConfig) -> TokenPair:
    access = create_token(
        user_id=user.id, role=user.role.value, token_type=TokenType.ACCESS,
        secret=config.jwt_secret, ttl_s=config.access_token_ttl_s, version=user.token_version,
    )  # fmt: skip
    refresh = create_token(
        user_id=user.id, role=user.role.value, token_type=TokenType.REFRESH,
        secret=config.jwt_secret, ttl_s=config.refresh_token_ttl_s, version=user.token_version,
    )  # fmt: skip
    crud.store_refresh_token(session, jti=refresh.jti, user_id=user.id, expires_at=refresh.expires_at)
    return TokenPair(access_token=access.token, refresh_token=refresh.token, expires_in=config.access_token_ttl_s)


@public_router.post(
    "/login",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": _LOGIN_SCHEMA},
                "application/json": {"schema": _LOGIN_SCHEMA},
            },
        }
    },
)
def login(
    request: Request,
    creds: Annotated[LoginRequest, Depends(login_credentials)],
    _: Annotated[None, Depends(limit_login_per_ip)],  # after the body, so a refusal names the username
    session: SessionDep,
    config: ConfigDep,
    redis: RedisDep,
) -> TokenPair:
    """Exchange a username and password (form or JSON) for an access and a refresh token.

    After `login_lockout_after` failures a username is locked (429 with `Retry-After`) for a time
    that doubles with each further failure; the password is not even checked while it is locked.
    """
    ctx = audit_context(request)
    prefix = config.redis_key_prefix
    metrics = getattr(request.app.state, "metrics", None)  # Redis down: the lock-out fails open, counted there
    locked_s = login_lock_remaining_s(redis, prefix, creds.username, metrics=metrics)
    if locked_s:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, f"too many failed logins; try again in {locked_s} s",
                            {"Retry-After": str(locked_s)})  # fmt: skip
    checks = request.app.state.password_checks
    if not checks.acquire(timeout=config.password_check_wait_s):  # argon2 costs ~64 MiB and tens of ms each: bound them
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "too many logins at once; try again",
                            {"Retry-After": "1"})  # fmt: skip
    try:
        user = crud.authenticate(
            session, username=creds.username, password=creds.password, verify=verify_password, dummy_hash=dummy_hash()
        )
    finally:
        checks.release()
    if user is None:
        record_login_failure(redis, prefix, creds.username, after=config.login_lockout_after,
                             base_s=config.login_lockout_s, max_s=config.login_lockout_max_s, metrics=metrics)  # fmt: skip
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, _BAD_CREDENTIALS, {"WWW-Authenticate": "Bearer"})
    clear_login_failures(redis, prefix, creds.username, metrics=metrics)
    ctx.user_id = user.id
    if not user.is_active:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "inactive user")
    return _issue(session, user, config)


@public_router.post("/refresh")
def refresh(request: Request, body: RefreshRequest, session: SessionDep, config: ConfigDep) -> TokenPair:
    """Rotate a refresh token: it is revoked and a new token pair is issued."""
    try:
        claims = decode_token(body.refresh_token, secret=config.jwt_secret, token_type=TokenType.REFRESH)
    except jwt.InvalidTokenError:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, _BAD_REFRESH) from None
    ctx = audit_context(request)
    ctx.user_id = claims.sub
    user = crud.get_user(session, claims.sub)
    stored = crud.get_refresh_token(session, claims.jti)
    if user is None or stored is None or stored.user_id != user.id or claims.ver != user.token_version:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, _BAD_REFRESH)
    ctx.username = user.username
    if not crud.revoke_refresh_token(session, claims.jti):
        # A revoked token presented again: it may have been stolen, so end every session of the user.
        crud.revoke_user_refresh_tokens(session, user.id)
        ctx.detail["reuse_detected"] = True
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, _BAD_REFRESH)
    if not user.is_active:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "inactive user")
    return _issue(session, user, config)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(
    user: CurrentUser, claims: AccessClaims, session: SessionDep, redis: RedisDep, config: ConfigDep,
    body: LogoutRequest | None = None,
) -> None:  # fmt: skip
    """Revoke the given refresh token and the access token used for this request."""
    remaining_s = int((claims.exp - datetime.now(timezone.utc)).total_seconds()) + 1
    redis.set(deny_key(config, claims.jti), "1", ex=max(1, remaining_s))
    if body is not None and body.refresh_token:
        try:
            refresh_claims = decode_token(body.refresh_token, secret=config.jwt_secret, token_type=TokenType.REFRESH)
        except jwt.InvalidTokenError:
            return
        if refresh_claims.sub == user.id:
            crud.revoke_refresh_token(session, refresh_claims.jti)


@router.get("/me")
def me(user: CurrentUser) -> UserPublic:
    """The signed-in user."""
    return UserPublic.model_validate(user)
