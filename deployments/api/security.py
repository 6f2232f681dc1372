"""Password hashing (argon2id) and JSON Web Tokens (HS256, pyjwt)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from enum import Enum
from functools import lru_cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ValidationError

__all__ = [
    "ALGORITHM",
    "TokenType",
    "TokenClaims",
    "IssuedToken",
    "hash_password",
    "verify_password",
    "dummy_hash",
    "create_token",
    "decode_token",
]

ALGORITHM = "HS256"
_hasher = PasswordHasher()


class TokenType(str, Enum):
    """What a JWT may be used for."""

    ACCESS = "access"
    REFRESH = "refresh"


class TokenClaims(BaseModel):
    """The claims every token carries; `sub` is the user id."""

    sub: str
    role: str
    jti: str
    type: TokenType
    exp: datetime
    iat: datetime
    ver: int = 0  # the user's `token_version` when issued


class IssuedToken(BaseModel):
    """A freshly signed token with its id and expiry."""

    token: str
    jti: str
    expires_at: datetime


def hash_password(password: str) -> str:
    """Argon2id PHC string of `password`."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """`True` if `password` matches `password_hash`; `False` on mismatch or a malformed hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """Hash of a random password, verified against for unknown usernames (equal timing)."""
    return _hasher.hash(uuid.uuid4().hex)


def create_token(
    *, user_id: str, role: str, token_type: TokenType, secret: str, ttl_s: int, now: datetime | None = None,
    version: int = 0,
) -> IssuedToken:
    """Sign a token with `sub`, `role`, `jti`, `type`, `iat`, `exp` and `ver`.

    Args:
        user_id: the subject.
        role: the user's role when issued (informative: the API re-reads the role per request).
        token_type: access or refresh.
        secret: HS256 key.
        ttl_s: lifetime in seconds.
        now: issue time (default: now, UTC).
        version: the user's `token_version` (a later change of it revokes the token).
    """
    now = now or datetime.now(timezone.utc)
    expires_at = now + timedelta(seconds=ttl_s)
    jti = uuid.uuid4().hex
    claims = {"sub": user_id, "role": role, "jti": jti, "type": token_type.value, "iat": now, "exp": expires_at,
              "ver": version}
    return IssuedToken(token=jwt.encode(claims, secret, algorithm=ALGORITHM), jti=jti, expires_at=expires_at)


def decode_token(token: str, *, secret: str, token_type: TokenType, verify_exp: bool = True) -> TokenClaims:
    """Verify a token's signature, expiry and type and return its claims.

    Raises:
        jwt.InvalidTokenError: if the token is malformed, forged, expired, lacks a claim or
            is of another type.
    """
    try:
        raw = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "jti", "exp", "iat", "type"], "verify_exp": verify_exp},
        )
        claims = TokenClaims.model_validate(raw)
    except ValidationError:
        raise jwt.InvalidTokenError("token claims are malformed") from None
    if claims.type is not token_type:
        raise jwt.InvalidTokenError(f"expected a {token_type.value} token, but got a {claims.type.value} token")
    return claims
