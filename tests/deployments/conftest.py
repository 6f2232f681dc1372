"""API fixtures: one app built through the factory on migrated PostgreSQL and real Redis.

Redis: `TEST_REDIS_URL` (default `redis://127.0.0.1:6379/15`); every key this run writes is
under a unique prefix, deleted before and after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis as redis_lib
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from deployments.api import ApiConfig, create_app
from deployments.api.security import hash_password
from storage import crud
from storage.models import User, UserCreate, UserRole

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
PASSWORD = "correct-horse-battery"
ROLES = [UserRole.ADMIN, UserRole.SUPERVISOR, UserRole.OPERATOR, UserRole.VIEWER]


def _delete_prefix(client: redis_lib.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis_lib.Redis]:
    """A Redis client on the test database."""
    client = redis_lib.Redis.from_url(os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS_URL))
    try:
        client.ping()
    except redis_lib.RedisError as exc:
        pytest.fail(f"Redis is unreachable ({exc}); start redis-server or set TEST_REDIS_URL", pytrace=False)
    yield client
    client.close()


@pytest.fixture
def key_prefix(redis_client: redis_lib.Redis) -> Iterator[str]:
    """A Redis key prefix of this test alone (its keys deleted afterwards)."""
    prefix = f"witness-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    _delete_prefix(redis_client, prefix)


def make_config(prefix: str, **overrides: object) -> ApiConfig:
    """An `ApiConfig` for tests: a real secret, generous limits unless overridden."""
    values: dict[str, object] = {
        "jwt_secret": "test-secret-" + "x" * 32,
        "environment": "test",
        "redis_key_prefix": prefix,
        "rate_limit_per_user_per_min": 10_000,
        "rate_limit_per_ip_per_min": 10_000,
        "login_attempts_per_ip_per_min": 10_000,
    }
    return ApiConfig(**(values | overrides))


@pytest.fixture(scope="module")
def module_prefix(redis_client: redis_lib.Redis) -> Iterator[str]:
    prefix = f"witness-test:{uuid.uuid4().hex[:12]}:"
    _delete_prefix(redis_client, prefix)
    yield prefix
    _delete_prefix(redis_client, prefix)


@pytest.fixture(scope="module")
def app(pg_engine: Engine, redis_client: redis_lib.Redis, module_prefix: str) -> FastAPI:
    """The API built through `create_app` on this run's PostgreSQL schema."""
    return create_app(engine=pg_engine, redis=redis_client, config=make_config(module_prefix))


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    """A `TestClient` on the module's app."""
    with TestClient(app) as c:
        yield c


def create_random_user(engine: Engine, role: UserRole, *, password: str = PASSWORD, **fields: object) -> User:
    """Store a user with a unique username and the given role (seeing every camera unless `camera_groups`
    or `all_cameras` is given)."""
    fields.setdefault("all_cameras", not fields.get("camera_groups"))
    data = UserCreate(username=f"{role.value}-{uuid.uuid4().hex[:8]}", password=password, role=role, **fields)
    with Session(engine, expire_on_commit=False) as session:
        return crud.create_user(session, data=data, password_hash=hash_password(password))


def login(client: TestClient, username: str, password: str = PASSWORD) -> dict:
    """Log in with a JSON body and return the token pair."""
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def bearer(tokens: dict) -> dict[str, str]:
    """Authorization header of a token pair's access token."""
    return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture(scope="module")
def users(pg_engine: Engine) -> dict[UserRole, User]:
    """One user per role."""
    return {role: create_random_user(pg_engine, role) for role in ROLES}


@pytest.fixture(scope="module")
def auth_headers(client: TestClient, users: dict[UserRole, User]) -> dict[UserRole, dict[str, str]]:
    """Authorization headers per role."""
    return {role: bearer(login(client, user.username)) for role, user in users.items()}


@pytest.fixture(scope="module")
def admin_headers(auth_headers: dict[UserRole, dict[str, str]]) -> dict[str, str]:
    return auth_headers[UserRole.ADMIN]


@pytest.fixture
def new_user(pg_engine: Engine) -> Callable[..., User]:
    """Factory storing a fresh user: `new_user(UserRole.OPERATOR)`."""
    return lambda role=UserRole.VIEWER, **kw: create_random_user(pg_engine, role, **kw)
