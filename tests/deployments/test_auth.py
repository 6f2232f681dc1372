"""Auth: login (form and JSON), refresh rotation, logout, /me, token requirement, secret checks."""

from __future__ import annotations

import pytest
import redis as redis_lib
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from deployments.api import PLACEHOLDER_JWT_SECRET, ApiConfig, create_app
from deployments.api.security import TokenType, create_token, decode_token
from storage.models import UserRole, UserUpdate
from tests.deployments.conftest import PASSWORD, bearer, login, make_config

API = "/api/v1"


def test_login_with_json_returns_token_pair(client: TestClient, new_user) -> None:
    user = new_user(UserRole.OPERATOR)
    tokens = login(client, user.username)
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900
    secret = client.app.state.config.jwt_secret
    access = decode_token(tokens["access_token"], secret=secret, token_type=TokenType.ACCESS)
    refresh = decode_token(tokens["refresh_token"], secret=secret, token_type=TokenType.REFRESH)
    assert (access.sub, access.role, refresh.sub) == (user.id, "operator", user.id)
    assert access.jti != refresh.jti


def test_login_with_oauth2_form(client: TestClient, new_user) -> None:
    user = new_user()
    response = client.post(f"{API}/auth/login", data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    me = client.get(f"{API}/auth/me", headers=bearer(response.json()))
    assert me.status_code == 200
    assert me.json()["username"] == user.username
    assert "password_hash" not in me.json()


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("known", "wrong-password"),  # wrong password
        ("nobody-here", PASSWORD),  # unknown user: the same answer
    ],
)
def test_login_refused_with_one_message(client: TestClient, new_user, username: str, password: str) -> None:
    user = new_user()
    response = client.post(
        f"{API}/auth/login", json={"username": user.username if username == "known" else username, "password": password}
    )
    assert response.status_code == 401
    assert response.json() == {"detail": "incorrect username or password"}


def test_login_inactive_user_is_forbidden(client: TestClient, new_user) -> None:
    user = new_user(is_active=False)
    response = client.post(f"{API}/auth/login", json={"username": user.username, "password": PASSWORD})
    assert response.status_code == 403
    assert response.json() == {"detail": "inactive user"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"json": {"username": "a"}}, "password"),  # JSON without a password
        ({"data": {"password": "x"}}, "username"),  # form without a username
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, None),  # broken JSON
    ],
)
def test_login_bad_body_is_422(client: TestClient, kwargs: dict, field: str | None) -> None:
    response = client.post(f"{API}/auth/login", **kwargs)
    assert response.status_code == 422
    if field is not None:
        assert response.json()["detail"][0]["loc"] == ["body", field]


def test_refresh_rotates_and_reuse_is_refused(client: TestClient, new_user) -> None:
    user = new_user()
    first = login(client, user.username)
    response = client.post(f"{API}/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get(f"{API}/auth/me", headers=bearer(second)).status_code == 200
    # The old refresh token is spent: reusing it fails, and ends the new session too.
    reuse = client.post(f"{API}/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    assert reuse.json() == {"detail": "invalid refresh token"}
    assert client.post(f"{API}/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",  # garbage
        "access",  # an access token is not a refresh token
        "forged",  # signed with another key
    ],
)
def test_refresh_with_bad_token_is_401(client: TestClient, new_user, token: str) -> None:
    user = new_user()
    tokens = login(client, user.username)
    if token == "access":
        token = tokens["access_token"]
    elif token == "forged":
        token = create_token(
            user_id=user.id, role="admin", token_type=TokenType.REFRESH, secret="another-secret-" + "y" * 20, ttl_s=600
        ).token
    assert client.post(f"{API}/auth/refresh", json={"refresh_token": token}).status_code == 401


def test_logout_revokes_access_and_refresh_tokens(client: TestClient, new_user) -> None:
    user = new_user(UserRole.SUPERVISOR)
    tokens = login(client, user.username)
    response = client.post(f"{API}/auth/logout", headers=bearer(tokens), json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 204
    refused = client.get(f"{API}/auth/me", headers=bearer(tokens))
    assert refused.status_code == 401
    assert refused.json() == {"detail": "token revoked"}
    assert client.post(f"{API}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    # Another session of the same user is unaffected.
    assert client.get(f"{API}/auth/me", headers=bearer(login(client, user.username))).status_code == 200


def test_deactivated_user_is_refused_at_once(client: TestClient, new_user, pg_engine: Engine) -> None:
    from sqlmodel import Session

    from storage import crud

    user = new_user()
    tokens = login(client, user.username)
    with Session(pg_engine) as session:
        crud.update_user(session, user.id, data=UserUpdate(is_active=False))
    assert client.get(f"{API}/auth/me", headers=bearer(tokens)).status_code == 403
    assert client.post(f"{API}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401


def test_expired_access_token_is_401(client: TestClient, new_user) -> None:
    from datetime import datetime, timedelta, timezone

    user = new_user()
    old = datetime.now(timezone.utc) - timedelta(hours=1)
    token = create_token(
        user_id=user.id, role="viewer", token_type=TokenType.ACCESS,
        secret=client.app.state.config.jwt_secret, ttl_s=60, now=old,
    ).token  # fmt: skip
    response = client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid token"}


PROTECTED = [
    ("GET", "/auth/me"),
    ("POST", "/auth/logout"),
    ("GET", "/users"),
    ("POST", "/users"),
    ("GET", "/users/u1"),
    ("PATCH", "/users/u1"),
    ("DELETE", "/users/u1"),
    ("GET", "/events"),
    ("GET", "/events/e1"),
    ("POST", "/events/e1/review"),
    ("GET", "/jobs"),
    ("GET", "/jobs/j1"),
    ("GET", "/jobs/j1/events"),
    ("POST", "/jobs/j1/cancel"),
    ("GET", "/audit"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Basic dXNlcjpwYXNz"])
def test_every_endpoint_needs_a_token(client: TestClient, method: str, path: str, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = client.request(method, API + path, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_every_api_route_is_covered_by_the_token_list(client: TestClient) -> None:
    public = {("POST", "/auth/login"), ("POST", "/auth/refresh")}
    routes = {
        (method.upper(), path.removeprefix(API))
        for path, operations in client.app.openapi()["paths"].items()
        if path.startswith(API)
        for method in operations
    }
    templated = {
        (m, p.replace("u1", "{user_id}").replace("e1", "{event_id}").replace("j1", "{job_id}")) for m, p in PROTECTED
    }
    assert routes == templated | public


def test_health_and_docs_need_no_token_but_metrics_does(client: TestClient, auth_headers) -> None:
    assert client.get("/health").json() == {"status": "ok", "db": "ok", "redis": "ok"}
    client.get(f"{API}/jobs")  # one counted request
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer not-the-scrape-token"}).status_code == 401
    metrics = client.get("/metrics", headers=auth_headers[UserRole.VIEWER])
    assert metrics.status_code == 200
    assert 'witness_api_requests_total{method="GET",route="/api/v1/jobs",status="401"}' in metrics.text
    assert "witness_api_request_seconds_bucket" in metrics.text
    assert client.get("/docs").status_code == 200
    operation_ids = {op["operationId"] for ops in client.get("/openapi.json").json()["paths"].values() for op in ops.values()}
    assert {"auth-login", "jobs-cancel_job", "users-create_user", "events-list_events"} <= operation_ids


def test_health_reports_redis_down(pg_engine: Engine, key_prefix: str) -> None:
    dead = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    app = create_app(engine=pg_engine, redis=dead, config=make_config(key_prefix))
    with TestClient(app) as c:
        response = c.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "db": "ok", "redis": "error"}


@pytest.mark.parametrize(
    ("secret", "match"),
    [
        (PLACEHOLDER_JWT_SECRET, "placeholder"),  # the old public default, even "locally"
        ("", "0 characters"),  # nothing
        ("short-but-not-empty-1234", "24 characters"),  # under 32
    ],
)
@pytest.mark.parametrize("environment", ["local", "production"])
def test_weak_secret_is_refused_everywhere(pg_engine: Engine, redis_client, secret: str, match: str,
                                           environment: str) -> None:  # fmt: skip
    with pytest.raises(ValueError, match=match):
        create_app(engine=pg_engine, redis=redis_client, config=ApiConfig(jwt_secret=secret, environment=environment))


def test_weak_secret_only_when_a_test_asks_for_it(pg_engine: Engine, redis_client) -> None:
    config = ApiConfig(jwt_secret=PLACEHOLDER_JWT_SECRET, allow_insecure_secret=True)
    with pytest.warns(UserWarning, match="not checked"):
        create_app(engine=pg_engine, redis=redis_client, config=config)


def test_config_mirrors_cluster_settings() -> None:
    from cluster.settings import ApiSettings

    config = ApiConfig(**ApiSettings(jwt_secret="s" * 32).model_dump())
    assert config.jwt_secret == "s" * 32
    assert set(ApiSettings.model_fields) <= set(ApiConfig.model_fields)
