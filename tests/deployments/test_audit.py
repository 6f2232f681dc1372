"""Audit trail: one row per mutating request under /api/v1, refused ones included."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from deployments.api.audit import describe
from storage import crud
from storage.models import AuditLog, UserRole
from tests.deployments.conftest import PASSWORD

API = "/api/v1"


def _last_audit(engine: Engine, **filters: str) -> AuditLog:
    with Session(engine) as session:
        rows, count = crud.list_audit(session, limit=1, **filters)
    assert count >= 1, f"no audit row for {filters}"
    return rows[0]


def test_allowed_request_is_audited(client: TestClient, pg_engine: Engine, users: dict, auth_headers: dict) -> None:
    with Session(pg_engine) as session:
        job_id = crud.create_job(session, params={}, inputs=["a.mp4"]).id
    headers = auth_headers[UserRole.SUPERVISOR] | {"X-Forwarded-For": "203.0.113.7, 10.0.0.1", "User-Agent": "ui/1.0"}
    assert client.post(f"{API}/jobs/{job_id}/cancel", headers=headers).status_code == 200
    row = _last_audit(pg_engine, resource_id=job_id)
    supervisor = users[UserRole.SUPERVISOR]
    assert (row.user_id, row.username) == (supervisor.id, supervisor.username)
    assert (row.method, row.path, row.action) == ("POST", f"{API}/jobs/{job_id}/cancel", "job.cancel")
    assert (row.resource_type, row.status_code) == ("job", 200)
    assert (row.client_ip, row.user_agent) == ("testclient", "ui/1.0")  # no trusted proxy: the header is not believed
    assert row.detail["path_params"] == {"job_id": job_id}
    assert row.at.tzinfo is not None


def test_forbidden_request_is_audited(client: TestClient, pg_engine: Engine, users: dict, auth_headers: dict) -> None:
    with Session(pg_engine) as session:
        job_id = crud.create_job(session, params={}, inputs=["a.mp4"]).id
    assert client.post(f"{API}/jobs/{job_id}/cancel", headers=auth_headers[UserRole.VIEWER]).status_code == 403
    row = _last_audit(pg_engine, resource_id=job_id)
    assert (row.user_id, row.username) == (users[UserRole.VIEWER].id, users[UserRole.VIEWER].username)
    assert (row.action, row.status_code, row.client_ip) == ("job.cancel", 403, "testclient")
    assert row.detail["error"] == "insufficient permissions"


def test_unauthenticated_request_is_audited(client: TestClient, pg_engine: Engine) -> None:
    user_id = uuid.uuid4().hex
    assert client.delete(f"{API}/users/{user_id}").status_code == 401
    row = _last_audit(pg_engine, resource_id=user_id)
    assert (row.user_id, row.username, row.action, row.resource_type) == (None, None, "user.delete", "user")
    assert (row.status_code, row.detail["error"]) == (401, "not authenticated")


def test_failed_login_records_the_attempted_username(client: TestClient, pg_engine: Engine) -> None:
    name = f"intruder-{uuid.uuid4().hex[:6]}"
    assert client.post(f"{API}/auth/login", json={"username": name, "password": "guess-1234"}).status_code == 401
    row = _last_audit(pg_engine, username=name)
    assert (row.user_id, row.action, row.resource_type, row.status_code) == (None, "auth.login", "auth", 401)
    assert "guess" not in str(row.detail)


def test_successful_login_records_the_user(client: TestClient, pg_engine: Engine, new_user) -> None:
    user = new_user()
    assert client.post(f"{API}/auth/login", data={"username": user.username, "password": PASSWORD}).status_code == 200
    row = _last_audit(pg_engine, username=user.username)
    assert (row.user_id, row.action, row.status_code) == (user.id, "auth.login", 200)


def test_validation_error_is_audited_with_fields(client: TestClient, pg_engine: Engine, admin_headers: dict) -> None:
    name = f"bad-{uuid.uuid4().hex[:6]}"
    response = client.post(f"{API}/users", headers=admin_headers, json={"username": name, "password": "pw", "role": "boss"})
    assert response.status_code == 422
    row = _last_audit(pg_engine, action="user.create")
    assert row.status_code == 422
    assert set(row.detail["fields"]) == {"body.password", "body.role"}


def test_reads_are_not_audited(client: TestClient, pg_engine: Engine, admin_headers: dict) -> None:
    with Session(pg_engine) as session:
        _, before = crud.list_audit(session)
    assert client.get(f"{API}/jobs", headers=admin_headers).status_code == 200
    assert client.get("/health").status_code == 200
    with Session(pg_engine) as session:
        _, after = crud.list_audit(session)
    assert after == before


def test_audit_route_filters_and_pages(client: TestClient, pg_engine: Engine, users: dict, auth_headers: dict) -> None:
    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    operator = users[UserRole.OPERATOR]
    for _ in range(3):  # three refused cancels by the operator
        client.post(f"{API}/jobs/{uuid.uuid4().hex}/cancel", headers=auth_headers[UserRole.OPERATOR])
    params = {"user_id": operator.id, "resource_type": "job", "since": since.isoformat(), "limit": 2}
    page = client.get(f"{API}/audit", headers=auth_headers[UserRole.SUPERVISOR], params=params)
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["count"] == 3
    assert len(body["data"]) == 2
    assert all(r["user_id"] == operator.id and r["status_code"] == 403 for r in body["data"])
    rest = client.get(f"{API}/audit", headers=auth_headers[UserRole.ADMIN], params=params | {"offset": 2}).json()
    assert len(rest["data"]) == 1
    one = body["data"][0]["resource_id"]
    only = client.get(f"{API}/audit", headers=auth_headers[UserRole.ADMIN], params={"resource_id": one}).json()
    assert only["count"] == 1


@pytest.mark.parametrize(
    ("template", "params", "method", "expected"),
    [
        ("/users", {}, "POST", ("user", None, "user.create")),  # collection
        ("/users/{user_id}", {"user_id": "u1"}, "DELETE", ("user", "u1", "user.delete")),  # item
        ("/jobs/{job_id}/cancel", {"job_id": "j"}, "POST", ("job", "j", "job.cancel")),  # verb
        ("/auth/login", {}, "POST", ("auth", None, "auth.login")),  # singular first segment
        ("/cameras/{camera_id}/zones/{name}", {"camera_id": "c", "name": "z"}, "PUT", ("zone", "z", "zone.update")),
        ("", {}, "POST", ("unknown", None, "unknown.create")),  # empty
    ],
)
def test_describe(template: str, params: dict, method: str, expected: tuple) -> None:
    assert describe(template, params, method) == expected
