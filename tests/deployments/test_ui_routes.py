"""The web UI's own routes: `/ui/summary` and the multiplexed `/ws/stream`, against real PostgreSQL and Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import redis as redis_lib
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from actors.event_sink import EVENTS_CHANNEL
from actors.notifier import ALERTS_CHANNEL
from deployments.api import create_app
from deployments.api.hub import Hub, job_channel, tracking_channel
from deployments.api.routes import ui, ws
from domain.events import Event, EventType
from storage import crud
from storage.models import UserRole
from tests.deployments.conftest import bearer, create_random_user, login, make_config
from tests.deployments.test_ws import REDIS_URL

RUN = uuid.uuid4().hex[:6]
NORTH, SOUTH = f"north-{RUN}", f"south-{RUN}"
GROUPS = {NORTH: "north", SOUTH: "south"}


@pytest.fixture(scope="module")
def app(pg_engine: Engine, redis_client: redis_lib.Redis, module_prefix: str) -> FastAPI:
    app = create_app(
        engine=pg_engine, redis=redis_client, config=make_config(module_prefix), extra_routers=[ui.router, ui.ws_router],
        state={"hub": Hub(REDIS_URL), "stream_options": ws.StreamOptions(heartbeat_s=0.3), "camera_group_of": GROUPS.get},
    )  # fmt: skip
    app.include_router(ui.ws_router)
    return app


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c
        c.portal.call(app.state.hub.stop)


@pytest.fixture(scope="module")
def tokens(client: TestClient, pg_engine: Engine) -> dict[str, str]:
    viewer = create_random_user(pg_engine, UserRole.VIEWER)
    north = create_random_user(pg_engine, UserRole.VIEWER, camera_groups=["north"])
    return {"all": login(client, viewer.username)["access_token"], "north": login(client, north.username)["access_token"]}


def read_until(session, publish, found, timeout_s: float = 10) -> list[dict]:
    """Publish (again each round: the hub may not be subscribed yet) and read until `found`."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        publish()
        seen.append(session.receive_json())
        if found(seen[-1]):
            return seen
    raise AssertionError(f"no matching message in {timeout_s} s; got {seen[-5:]}")


def tracking(camera: str) -> str:
    return f'{{"kind": "tracking_update", "camera_id": "{camera}", "tracks": [], "person_count": 0}}'


def test_stream_needs_a_token(client):
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as exc:
        with client.websocket_connect("/ws/stream") as session:
            session.receive_json()
    assert exc.value.code == 1008


def test_stream_always_carries_events_and_alerts(client, tokens, redis_client):
    with client.websocket_connect(f"/ws/stream?access_token={tokens['all']}") as session:
        read_until(session, lambda: redis_client.publish(EVENTS_CHANNEL, f'{{"kind": "event", "camera_id": "{NORTH}"}}'),
                   lambda m: m.get("kind") == "event")
        read_until(session, lambda: redis_client.publish(ALERTS_CHANNEL, f'{{"kind": "alert", "camera_id": "{NORTH}", "alert": {{}}}}'),
                   lambda m: m.get("kind") == "alert")


def test_stream_carries_tracking_and_jobs_only_once_subscribed(client, tokens, redis_client):
    job = f"job-{RUN}"
    with client.websocket_connect(f"/ws/stream?access_token={tokens['all']}") as session:
        # before subscribing: tracking of NORTH is not forwarded (heartbeats only)
        for _ in range(3):
            redis_client.publish(tracking_channel(NORTH), tracking(NORTH))
            assert session.receive_json()["kind"] == "heartbeat"
        session.send_json({"op": "subscribe", "tracking": [NORTH], "jobs": [job]})
        seen = read_until(session, lambda: redis_client.publish(tracking_channel(NORTH), tracking(NORTH)),
                          lambda m: m.get("kind") == "tracking_update")
        assert seen[-1]["camera_id"] == NORTH
        read_until(session, lambda: redis_client.publish(job_channel(job), f'{{"kind": "job_progress", "job_id": "{job}"}}'),
                   lambda m: m.get("kind") == "job_progress")
        # a camera not subscribed stays out, "*" lets every camera in
        session.send_json({"op": "subscribe", "tracking": "*"})
        seen = read_until(session, lambda: redis_client.publish(tracking_channel(SOUTH), tracking(SOUTH)),
                          lambda m: m.get("camera_id") == SOUTH)
        assert seen[-1]["kind"] == "tracking_update"


def test_stream_hides_cameras_outside_the_users_groups(client, tokens, redis_client):
    with client.websocket_connect(f"/ws/stream?access_token={tokens['north']}") as session:
        session.send_json({"op": "subscribe", "tracking": "*"})

        def publish() -> None:
            redis_client.publish(tracking_channel(SOUTH), tracking(SOUTH))
            redis_client.publish(tracking_channel(NORTH), tracking(NORTH))

        seen = read_until(session, publish, lambda m: m.get("camera_id") == NORTH)
        assert all(m.get("camera_id") != SOUTH for m in seen)


def test_stream_interest_ignores_malformed_requests():
    interest = ui.StreamInterest()
    interest.update({"op": "subscribe", "tracking": ["a"], "jobs": "nope"})
    assert interest.wants(tracking_channel("a")) and not interest.wants(tracking_channel("b"))
    assert not interest.wants(job_channel("x"))
    interest.update({"op": "other"})
    interest.update(None)
    assert interest.wants(tracking_channel("a")) and interest.wants(EVENTS_CHANNEL)


def test_summary_counts_since_a_time(client, pg_engine, tokens):
    camera = f"summary-{RUN}"
    with Session(pg_engine, expire_on_commit=False) as s:
        events = [(f"{camera}-{i}", Event(type=EventType.ZONE_ENTER if i else EventType.DWELL, camera_id=camera, rule="r",
                                          track_id=i, zone="z", t_start_s=float(i), t_end_s=float(i) + 1, frame_start=i,
                                          frame_end=i + 1, confidence=0.9)) for i in range(3)]  # fmt: skip
        crud.save_live_events(s, events=events, clips=[])
        alert = crud.create_alert(s, score=0.9, severity="critical", camera_id=camera, explanation="seen")
    since = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()
    r = client.get("/api/v1/ui/summary", params={"since": since, "recent": 50}, headers={"Authorization": f"Bearer {tokens['all']}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["events_by_type"].get("zone_enter", 0) >= 2 and body["events_by_type"].get("dwell", 0) >= 1
    assert body["alerts_by_severity"].get("critical", 0) >= 1
    assert alert.id in {a["id"] for a in body["recent_alerts"]}
    assert {e["id"] for e in body["recent_events"]} >= {e[0] for e in events}
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    later = client.get("/api/v1/ui/summary", params={"since": future}, headers={"Authorization": f"Bearer {tokens['all']}"}).json()
    assert later["events"] == 0 and later["alerts"] == 0


def test_summary_needs_a_token_and_valid_input(client, tokens):
    assert client.get("/api/v1/ui/summary").status_code == 401
    r = client.get("/api/v1/ui/summary", params={"recent": 1000}, headers={"Authorization": f"Bearer {tokens['all']}"})
    assert r.status_code == 422 and "recent" in r.text
