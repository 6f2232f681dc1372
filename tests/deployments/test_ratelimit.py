"""Rate limits on real Redis: per user, per IP and per-IP login attempts (429 + Retry-After)."""

from __future__ import annotations

import redis as redis_lib
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from deployments.api import create_app
from deployments.api.ratelimit import hit
from storage.models import UserRole
from tests.deployments.conftest import PASSWORD, bearer, create_random_user, login, make_config

API = "/api/v1"


def test_hit_counts_in_fixed_windows(redis_client: redis_lib.Redis, key_prefix: str) -> None:
    key = f"{key_prefix}rl:unit"
    results = [hit(redis_client, key, limit=2, now_s=120.5) for _ in range(3)]
    assert [r.allowed for r in results] == [True, True, False]
    assert results[-1].retry_after_s == 60  # 180 - 120.5, rounded up
    assert hit(redis_client, key, limit=2, now_s=180.0).allowed  # next window starts afresh
    assert 0 < redis_client.ttl(f"{key}:2") <= 65


def test_per_user_limit(pg_engine: Engine, redis_client: redis_lib.Redis, key_prefix: str) -> None:
    app = create_app(engine=pg_engine, redis=redis_client, config=make_config(key_prefix, rate_limit_per_user_per_min=3))
    user = create_random_user(pg_engine, UserRole.VIEWER)
    other = create_random_user(pg_engine, UserRole.VIEWER)
    with TestClient(app) as client:
        headers = bearer(login(client, user.username))
        statuses = [client.get(f"{API}/jobs", headers=headers).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = client.get(f"{API}/auth/me", headers=headers)
        assert refused.json() == {"detail": "rate limit exceeded"}
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # The limit is per user: another user from the same IP is still served.
        assert client.get(f"{API}/jobs", headers=bearer(login(client, other.username))).status_code == 200


def test_per_ip_limit(pg_engine: Engine, redis_client: redis_lib.Redis, key_prefix: str) -> None:
    config = make_config(key_prefix, rate_limit_per_ip_per_min=2, trusted_proxies=["10.0.0.0/8"])
    app = create_app(engine=pg_engine, redis=redis_client, config=config)
    with TestClient(app, client=("10.0.0.9", 40000)) as client:  # behind a trusted proxy
        forwarded = {"X-Forwarded-For": "198.51.100.4"}
        statuses = [client.get(f"{API}/jobs", headers=forwarded).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]  # counted before authentication
        assert client.get(f"{API}/jobs", headers={"X-Forwarded-For": "198.51.100.5"}).status_code == 401
        assert client.get("/health").status_code == 200  # the root is not limited


def test_login_attempts_limit(pg_engine: Engine, redis_client: redis_lib.Redis, key_prefix: str) -> None:
    app = create_app(engine=pg_engine, redis=redis_client, config=make_config(key_prefix, login_attempts_per_ip_per_min=3))
    user = create_random_user(pg_engine, UserRole.VIEWER)
    with TestClient(app) as client:
        wrong = [
            client.post(f"{API}/auth/login", json={"username": user.username, "password": "wrong-pass"}).status_code
            for _ in range(3)
        ]
        assert wrong == [401, 401, 401]
        # Even the right password is refused once the attempts are spent.
        refused = client.post(f"{API}/auth/login", json={"username": user.username, "password": PASSWORD})
        assert refused.status_code == 429
        assert "retry-after" in refused.headers
        # Refused attempts are audited too.
        engine = client.app.state.engine
    from sqlmodel import Session

    from storage import crud

    with Session(engine) as session:
        audit, _ = crud.list_audit(session, username=user.username, limit=1)
    assert audit[0].status_code == 429
