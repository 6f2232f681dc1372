"""`/retention` and `/alerts/{id}/holds` through the app factory, against PostgreSQL and Redis."""

from __future__ import annotations

import pytest
import redis as redis_lib
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from deployments.api import create_app
from deployments.api.routes import alerts, retention
from storage import crud
from storage.models import UserRole
from storage.objectstore import LocalObjectStore
from tests.deployments.conftest import make_config

API = "/api/v1"
A, S, O, V = UserRole.ADMIN, UserRole.SUPERVISOR, UserRole.OPERATOR, UserRole.VIEWER


@pytest.fixture(scope="module")
def app(pg_engine: Engine, redis_client: redis_lib.Redis, module_prefix: str, tmp_path_factory) -> FastAPI:
    store = LocalObjectStore(tmp_path_factory.mktemp("objects"))
    return create_app(engine=pg_engine, redis=redis_client, config=make_config(module_prefix),
                      extra_routers=[alerts.router, retention.router, retention.holds_router],
                      state={"store": store, "retention": {"audit_days": 3650}})  # fmt: skip


def test_policies(client: TestClient, auth_headers: dict) -> None:
    body = {"events_days": 30, "clips_days": 14}
    assert client.put(f"{API}/retention/policies/shop-7", json=body, headers=auth_headers[S]).status_code == 403
    r = client.put(f"{API}/retention/policies/shop-7", json=body, headers=auth_headers[A])
    assert r.status_code == 200 and r.json()["clips_days"] == 14 and r.json()["uploads_days"] is None
    assert client.get(f"{API}/retention/policies", headers=auth_headers[V]).json()["shop-7"]["events_days"] == 30
    assert client.put(f"{API}/retention/policies/*", json={"audit_days": 365}, headers=auth_headers[A]).status_code == 200
    bad = client.put(f"{API}/retention/policies/shop-7", json={"clips_days": 0}, headers=auth_headers[A])
    assert bad.status_code == 422 and "clips_days" in bad.text
    assert client.put(f"{API}/retention/policies/sh.op", json={}, headers=auth_headers[A]).status_code == 422
    assert client.put(f"{API}/retention/policies/shop-7", json={"keep": 1}, headers=auth_headers[A]).status_code == 422


def test_escalation_holds_until_released(client: TestClient, pg_engine: Engine, auth_headers: dict) -> None:
    with Session(pg_engine) as s:
        alert_id = crud.create_alert(s, score=0.8, severity="high", explanation="x").id
    assert client.get(f"{API}/alerts/{alert_id}/holds", headers=auth_headers[V]).json() == []
    assert client.post(f"{API}/alerts/{alert_id}/escalate", json={"reason": "police"}, headers=auth_headers[O]).status_code == 200
    holds = client.get(f"{API}/alerts/{alert_id}/holds", headers=auth_headers[V]).json()
    assert [h["reason"] for h in holds] == ["escalated: police"] and holds[0]["released_at"] is None
    release = {"reason": "case closed"}
    assert client.post(f"{API}/alerts/{alert_id}/holds/release", json=release, headers=auth_headers[O]).status_code == 403
    r = client.post(f"{API}/alerts/{alert_id}/holds/release", json=release, headers=auth_headers[S])
    assert r.status_code == 200 and r.json()[0]["release_reason"] == "case closed"
    assert client.post(f"{API}/alerts/{alert_id}/holds/release", json=release, headers=auth_headers[S]).status_code == 404
    assert client.post(f"{API}/alerts/{alert_id}/holds", json={"reason": " "}, headers=auth_headers[S]).status_code == 422
    r = client.post(f"{API}/alerts/{alert_id}/holds", json={"reason": "subpoena 42"}, headers=auth_headers[S])
    assert r.status_code == 201 and r.json()["released_at"] is None
    assert client.post(f"{API}/alerts/nope/holds", json={"reason": "x"}, headers=auth_headers[S]).status_code == 404


def test_purge_is_admin_only_and_dry_by_default(client: TestClient, auth_headers: dict) -> None:
    assert client.post(f"{API}/retention/purge", headers=auth_headers[S]).status_code == 403
    r = client.post(f"{API}/retention/purge", headers=auth_headers[A])
    assert r.status_code == 200, r.text
    assert r.json()["dry_run"] is True and set(r.json()["rows"]) >= {"events", "clips", "audit"}
