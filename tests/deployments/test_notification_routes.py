"""Notifications through the API: own preferences, dead letters (list, retry, roles) and the alerts WebSocket.

Real services throughout: PostgreSQL, Redis pub/sub, and a real HTTP webhook receiver that
verifies signatures (`tests.actors.test_notifier.WebhookReceiver`).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis as redis_lib
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from actors.notifier import Notifier, NotifyConfig
from deployments.api import create_app
from deployments.api.hub import Hub
from deployments.api.routes import notifications, ws
from storage import crud
from storage.models import Alert, AuditLog, DeliveryStatus, UserRole
from tests.actors.test_notifier import SECRET, WebhookReceiver
from tests.deployments.conftest import DEFAULT_REDIS_URL, create_random_user, login, make_config

API = "/api/v1/notifications"
REDIS_URL = DEFAULT_REDIS_URL
RUN = uuid.uuid4().hex[:6]
NORTH, SOUTH = f"north-{RUN}", f"south-{RUN}"
GROUPS = {NORTH: "north", SOUTH: "south"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[WebhookReceiver, threading.Event]]:
    """A webhook receiver answering 503 until its event is set."""
    healthy = threading.Event()
    with WebhookReceiver(lambda n: 200 if healthy.is_set() else 503) as server:
        yield server, healthy


@pytest.fixture(scope="module")
def app(pg_engine: Engine, redis_client: redis_lib.Redis, module_prefix: str,
        receiver: tuple[WebhookReceiver, threading.Event]) -> Iterator[FastAPI]:  # fmt: skip
    config = NotifyConfig(webhook_urls=[receiver[0].url], webhook_secret=SECRET, max_attempts=2, backoff_base_s=0.01,
                          redis_key_prefix=module_prefix)  # fmt: skip
    notifier = Notifier(pg_engine, redis_client, config)
    app = create_app(
        engine=pg_engine, redis=redis_client, config=make_config(module_prefix),
        extra_routers=[notifications.router, ws.router],
        state={"notifier": notifier, "hub": Hub(REDIS_URL), "stream_options": ws.StreamOptions(heartbeat_s=0.5),
               "camera_group_of": GROUPS.get},
    )  # fmt: skip
    app.include_router(ws.router)
    yield app
    notifier.close(timeout_s=5)


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c
        c.portal.call(app.state.hub.stop)


def new_alert(engine: Engine, camera_id: str) -> Alert:
    with Session(engine, expire_on_commit=False) as session:
        return crud.create_alert(session, score=0.9, severity="critical", camera_id=camera_id, track_id=None,
                                 explanation="Test alert.")  # fmt: skip


# ---------------------------------------------------------------------------------- preferences
def test_preferences_default_then_replaced(client: TestClient, new_user: Callable) -> None:
    user = new_user(UserRole.VIEWER)
    headers = {"Authorization": f"Bearer {login(client, user.username)['access_token']}"}
    got = client.get(f"{API}/preferences", headers=headers)
    assert got.status_code == 200, got.text
    assert got.json() == {"user_id": user.id, "channels": ["in_app"], "min_severity": "medium", "email": None,
                          "updated_at": None}  # fmt: skip

    body = {"channels": ["email", "in_app", "email"], "min_severity": "high", "email": "me@example.com"}
    put = client.put(f"{API}/preferences", headers=headers, json=body)
    assert put.status_code == 200, put.text
    assert put.json()["channels"] == ["in_app", "email"] and put.json()["updated_at"] is not None
    assert client.get(f"{API}/preferences", headers=headers).json() == put.json()

    other = new_user(UserRole.ADMIN)  # everyone sees only their own
    other_headers = {"Authorization": f"Bearer {login(client, other.username)['access_token']}"}
    assert client.get(f"{API}/preferences", headers=other_headers).json()["user_id"] == other.id
    assert client.get(f"{API}/preferences", headers=other_headers).json()["updated_at"] is None


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"channels": ["email"], "min_severity": "low"}, "the email channel needs an address"),  # username not an address
        ({"channels": ["sms"]}, "Input should be 'in_app', 'email' or 'webhook'"),
        ({"channels": [], "min_severity": "urgent"}, "Input should be 'none', 'low', 'medium', 'high' or 'critical'"),
        ({"channels": ["email"], "email": "not-an-address"}, "String should match pattern"),
    ],
)
def test_preferences_bad_input_422(client: TestClient, new_user: Callable, body: dict, detail: str) -> None:
    user = new_user(UserRole.OPERATOR)
    headers = {"Authorization": f"Bearer {login(client, user.username)['access_token']}"}
    response = client.put(f"{API}/preferences", headers=headers, json=body)
    assert response.status_code == 422 and detail in response.text
    assert client.get(f"{API}/preferences", headers=headers).json()["updated_at"] is None  # nothing half-written


def test_preferences_need_a_token(client: TestClient) -> None:
    assert client.get(f"{API}/preferences").status_code == 401


# ---------------------------------------------------------------------------------- dead letters
def test_dead_letter_listed_and_retried_once_receiver_recovers(
    client: TestClient, app: FastAPI, pg_engine: Engine, auth_headers: dict,
    receiver: tuple[WebhookReceiver, threading.Event],
) -> None:  # fmt: skip
    server, healthy = receiver
    alert = new_alert(pg_engine, f"shop.{uuid.uuid4().hex[:8]}")
    result = app.state.notifier.notify(alert).webhooks[0].result(timeout=10)
    assert (result.status, result.attempts) == (DeliveryStatus.DEAD, 2)

    supervisor, operator = auth_headers[UserRole.SUPERVISOR], auth_headers[UserRole.OPERATOR]
    assert client.get(f"{API}/dead-letters", headers=operator).status_code == 403
    listed = client.get(f"{API}/dead-letters", headers=supervisor, params={"alert_id": alert.id})
    assert listed.status_code == 200, listed.text
    assert listed.json()["count"] == 1
    letter = listed.json()["data"][0]
    assert (letter["id"], letter["status"], letter["attempts"], letter["url"]) == (result.delivery_id, "dead", 2, server.url)
    assert letter["last_error"] == "HTTP 503: failure 2" and letter["payload"]["alert"]["id"] == alert.id
    page = client.get(f"{API}/dead-letters", headers=supervisor, params={"limit": 1})
    assert len(page.json()["data"]) == 1 and page.json()["count"] >= 1

    retry = f"{API}/dead-letters/{result.delivery_id}/retry"
    assert client.post(retry, headers=operator).status_code == 403
    still = client.post(retry, headers=supervisor)  # the receiver is still down
    assert still.status_code == 200, still.text
    assert (still.json()["status"], still.json()["attempts"]) == ("dead", 3)
    assert still.json()["last_error"].startswith("HTTP 503: failure")
    healthy.set()
    try:
        done = client.post(retry, headers=supervisor)
        assert done.status_code == 200, done.text
        assert (done.json()["status"], done.json()["attempts"], done.json()["last_error"]) == ("delivered", 4, None)
        assert server.requests[-1][2] is True  # the re-sent request was signed
        assert client.get(f"{API}/dead-letters", headers=supervisor, params={"alert_id": alert.id}).json()["count"] == 0
        conflict = client.post(retry, headers=supervisor)
        assert (conflict.status_code, conflict.json()["detail"]) == (409, "delivery is not dead: it was delivered")
    finally:
        healthy.clear()
    missing = client.post(f"{API}/dead-letters/nope/retry", headers=supervisor)
    assert (missing.status_code, missing.json()["detail"]) == (404, "dead letter not found")
    with Session(pg_engine) as session:
        actions = session.exec(select(AuditLog.action).where(AuditLog.resource_id == result.delivery_id)).all()
    assert list(actions).count("notifications.retry") >= 3  # refused (403), dead, delivered, conflict


def test_retry_without_notifier_is_503(pg_engine: Engine, redis_client: redis_lib.Redis, module_prefix: str) -> None:
    bare = create_app(engine=pg_engine, redis=redis_client, config=make_config(module_prefix),
                      extra_routers=[notifications.router])  # fmt: skip
    admin = create_random_user(pg_engine, UserRole.ADMIN)
    with TestClient(bare) as c:
        headers = {"Authorization": f"Bearer {login(c, admin.username)['access_token']}"}
        response = c.post(f"{API}/dead-letters/x/retry", headers=headers)
    assert (response.status_code, response.json()["detail"]) == (503, "notifications are not configured")


# ---------------------------------------------------------------------------------- WebSocket
def _receive_alert(session, publish: Callable[[], str], timeout_s: float = 10) -> tuple[list[dict], str]:
    """Notify (again each round: the hub's subscription may not be live yet) and read until that alert arrives."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alert_id = publish()
        seen.append(session.receive_json())
        if seen[-1].get("kind") == "alert" and seen[-1]["alert"]["id"] == alert_id:
            return seen, alert_id
    raise AssertionError(f"no alert within {timeout_s} s; got {seen[-5:]}")


@pytest.mark.parametrize("prefix", ["/api/v1", ""])  # both mounts
def test_alert_reaches_websocket_client(client: TestClient, pg_engine: Engine, redis_client: redis_lib.Redis,
                                        prefix: str) -> None:  # fmt: skip
    north_user = create_random_user(pg_engine, UserRole.VIEWER, camera_groups=["north"])
    token = login(client, north_user.username)["access_token"]
    with Notifier(pg_engine, redis_client, {"dedup_window_s": 0}) as publisher:

        def publish() -> str:
            publisher.notify(new_alert(pg_engine, SOUTH))  # hidden from this user, published first
            return publisher.notify(new_alert(pg_engine, NORTH)).alert_id

        with client.websocket_connect(f"{prefix}/ws/alerts?access_token={token}") as session:
            seen, alert_id = _receive_alert(session, publish)
    alerts = [m for m in seen if m.get("kind") == "alert"]
    assert {m["camera_id"] for m in alerts} == {NORTH}  # the south camera's alerts were filtered out
    last = alerts[-1]["alert"]
    assert (last["id"], last["severity"], last["score"], last["status"]) == (alert_id, "critical", 0.9, "pending")
