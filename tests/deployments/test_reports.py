"""`/reports/alert-review`: alert and dismissal rates by camera, zone and hour, camera-group scoped."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import redis as redis_lib
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from deployments.api import create_app
from deployments.api.routes import reports
from domain.events import Event as DomainEvent, EventType
from storage import crud
from storage.models import Alert, AlertHistory, AlertNote, CameraCreate, LegalHold, SiteCreate, UserRole
from tests.deployments.conftest import bearer, create_random_user, login, make_config

API = "/api/v1/reports/alert-review"


@pytest.fixture(scope="module")
def app(pg_engine: Engine, redis_client: redis_lib.Redis, module_prefix: str) -> FastAPI:
    return create_app(engine=pg_engine, redis=redis_client, config=make_config(module_prefix), extra_routers=[reports.router])


@pytest.fixture(scope="module")
def seeded(pg_engine: Engine) -> dict:
    """Cameras rep.front (group north) and rep.back (group south); five alerts at known hours and zones."""
    with pg_engine.begin() as conn:
        for table in (LegalHold, AlertHistory, AlertNote, Alert):
            conn.execute(sa.delete(table))
    with Session(pg_engine) as s:
        site = crud.create_site(s, SiteCreate(name="rep"))
        for key, group in (("front", "north"), ("back", "south")):
            crud.create_camera(s, CameraCreate(site_id=site.id, key=key, camera_group=group))
        crud.upsert_events(s, [(f"rep-e{i}", DomainEvent(EventType.DWELL, "r", "rep.front", i, zone, 0, 1, 0, 1, 0.9))
                               for i, zone in enumerate(["till", "till", "door"])])
        made = []
        for i, (cam, hour, status, events) in enumerate([
            ("rep.front", 9, "dismiss", ["rep-e0"]), ("rep.front", 9, "dismiss", ["rep-e1"]),
            ("rep.front", 14, "escalate", ["rep-e2"]), ("rep.back", 14, None, []), ("rep.back", 23, "dismiss", [])]):
            a = crud.create_alert(s, score=0.6, severity="medium", camera_id=cam, event_ids=events,
                                  created_at=datetime(2026, 11, 20, hour, 5, tzinfo=timezone.utc))
            if status:
                crud.apply_transition(s, a.id, status, actor="sam", reason="seen on video")
            made.append(a.id)
    return {"north": create_random_user(pg_engine, UserRole.VIEWER, camera_groups=["north"])}


def test_rates_by_camera_zone_and_hour(client: TestClient, auth_headers: dict, seeded: dict) -> None:
    h = auth_headers[UserRole.VIEWER]
    body = client.get(API, params={"by": "camera"}, headers=h).json()
    cams = {g["key"]: g for g in body["groups"]}
    assert body["total"] == 5 and "no demographic attribute" in body["note"]
    assert (cams["rep.front"]["alerts"], cams["rep.front"]["dismissed"], cams["rep.front"]["escalated"]) == (3, 2, 1)
    assert cams["rep.front"]["dismissal_rate"] == pytest.approx(2 / 3, abs=1e-4) and cams["rep.front"]["share"] == 0.6
    assert cams["rep.back"]["dismissal_rate"] == 1.0 and cams["rep.back"]["pending"] == 1
    zones = {g["key"]: g for g in client.get(API, params={"by": "zone"}, headers=h).json()["groups"]}
    assert zones["till"]["dismissal_rate"] == 1.0 and zones["door"]["dismissal_rate"] == 0.0
    assert zones["(no zone)"]["alerts"] == 2
    hours = {g["key"]: g["alerts"] for g in client.get(API, params={"by": "hour"}, headers=h).json()["groups"]}
    assert hours == {"09": 2, "14": 2, "23": 1}
    shifted = {g["key"] for g in client.get(API, params={"by": "hour", "tz": "Asia/Tokyo"}, headers=h).json()["groups"]}
    assert shifted == {"18", "23", "08"}  # UTC+9
    since = client.get(API, params={"since": "2026-11-20T10:00:00Z"}, headers=h).json()
    assert since["total"] == 3


def test_bad_input_and_camera_groups(client: TestClient, seeded: dict) -> None:
    headers = bearer(login(client, seeded["north"].username))
    assert client.get(API, params={"by": "person"}, headers=headers).status_code == 422
    bad_tz = client.get(API, params={"tz": "Mars/Olympus"}, headers=headers)
    assert bad_tz.status_code == 422 and "unknown time zone" in bad_tz.text
    body = client.get(API, params={"by": "camera"}, headers=headers).json()
    assert [g["key"] for g in body["groups"]] == ["rep.front"] and body["total"] == 3  # rep.back is in group south
