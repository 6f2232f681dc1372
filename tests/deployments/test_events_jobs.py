"""Events and jobs read routes, and job cancellation, against stored rows."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from domain.events import EventType, event_id
from storage import crud
from storage.models import UserRole
from tests.factories import make_event

API = "/api/v1"


@pytest.fixture(scope="module")
def stored(pg_engine: Engine) -> dict:
    """Two jobs: job A with 6 events on two cameras and zones, job B with 1 event."""
    with Session(pg_engine) as session:
        job_a = crud.create_job(session, params={"fps": 10}, inputs=["a.mp4", "b.mp4"])
        job_b = crud.create_job(session, params={}, inputs=["c.mp4"])
        video_a, video_a2 = crud.list_videos(session, job_a.id)
        (video_b,) = crud.list_videos(session, job_b.id)
        cam = f"cam-{uuid.uuid4().hex[:6]}"  # unique to this module
        events_a = [
            make_event(EventType.ZONE_ENTER, camera_id=cam, zone="shelf-a", t_start_s=1.0, track_id=1),
            make_event(EventType.ZONE_EXIT, camera_id=cam, zone="shelf-a", t_start_s=2.0, track_id=1),
            make_event(EventType.DWELL, camera_id=cam, zone="shelf-a", t_start_s=3.0, t_end_s=9.0, track_id=2, rule="loiter"),
            make_event(EventType.ZONE_ENTER, camera_id=cam, zone="exit", t_start_s=4.0, track_id=2),
            make_event(EventType.ZONE_ENTER, camera_id=cam + "-b", zone="exit", t_start_s=5.0, track_id=3),
        ]
        pairs = [(event_id(f"{job_a.id}/{video_a.id}", e), e) for e in events_a]
        crud.upsert_events(session, pairs, job_id=job_a.id, video_id=video_a.id)
        other = make_event(EventType.ZONE_ENTER, camera_id=cam, zone="shelf-a", t_start_s=6.0, track_id=9)
        crud.upsert_events(session, [(event_id(f"{job_a.id}/{video_a2.id}", other), other)], job_id=job_a.id, video_id=video_a2.id)
        crud.fail_video(session, video_a2.id, "truncated file")
        extra = make_event(EventType.ZONE_ENTER, camera_id=cam, zone="shelf-a", t_start_s=1.5)
        crud.upsert_events(session, [(event_id(f"{job_b.id}/{video_b.id}", extra), extra)], job_id=job_b.id, video_id=video_b.id)
        return {"job_a": job_a.id, "job_b": job_b.id, "video_a": video_a.id, "cam": cam, "ids": [p[0] for p in pairs]}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, [0, 1, 2, 3, 4]),  # the whole job, by start time
        ({"type": "zone_enter"}, [0, 3, 4]),  # one type
        ({"zone": "exit"}, [3, 4]),  # one zone
        ({"camera": True}, [0, 1, 2, 3]),  # one camera
        ({"t_from": 2.0, "t_to": 4.0}, [1, 2]),  # [t_from, t_to)
        ({"video": True, "type": "dwell"}, [2]),  # video and type
        ({"type": "fall"}, []),  # nothing matches
    ],
)
def test_event_filters(client: TestClient, auth_headers: dict, stored: dict, filters: dict, expected: list[int]) -> None:
    params = {"job_id": stored["job_a"]} | {k: v for k, v in filters.items() if k not in ("camera", "video")}
    if filters.get("camera"):
        params["camera_id"] = stored["cam"]
    if filters.get("video"):
        params["video_id"] = stored["video_a"]
    response = client.get(f"{API}/events", headers=auth_headers[UserRole.VIEWER], params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [e["id"] for e in body["data"]] == [stored["ids"][i] for i in expected]
    assert body["count"] == len(expected)


def test_event_pagination(client: TestClient, auth_headers: dict, stored: dict) -> None:
    params = {"job_id": stored["job_a"], "limit": 2}
    pages = [
        client.get(f"{API}/events", headers=auth_headers[UserRole.OPERATOR], params=params | {"offset": o}).json()
        for o in (0, 2, 4, 6)
    ]
    assert [len(p["data"]) for p in pages] == [2, 2, 1, 0]
    assert {p["count"] for p in pages} == {5}
    assert [e["id"] for p in pages for e in p["data"]] == stored["ids"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),  # below 1
        ({"limit": 5000}, "limit"),  # above 1000
        ({"offset": -1}, "offset"),  # negative
        ({"t_from": "soon"}, "t_from"),  # not a number
    ],
)
def test_bad_event_query_is_422(client: TestClient, auth_headers: dict, params: dict, field: str) -> None:
    response = client.get(f"{API}/events", headers=auth_headers[UserRole.VIEWER], params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


def test_get_event(client: TestClient, auth_headers: dict, stored: dict) -> None:
    one = client.get(f"{API}/events/{stored['ids'][2]}", headers=auth_headers[UserRole.VIEWER]).json()
    assert (one["type"], one["rule"], one["t_end_s"], one["job_id"]) == ("dwell", "loiter", 9.0, stored["job_a"])
    missing = client.get(f"{API}/events/nope", headers=auth_headers[UserRole.VIEWER])
    assert (missing.status_code, missing.json()) == (404, {"detail": "event not found"})


def test_jobs_list_and_detail(client: TestClient, auth_headers: dict, stored: dict) -> None:
    headers = auth_headers[UserRole.OPERATOR]
    listed = client.get(f"{API}/jobs", headers=headers, params={"limit": 1000}).json()
    assert {stored["job_a"], stored["job_b"]} <= {j["id"] for j in listed["data"]}
    assert listed["count"] >= 2
    assert len(client.get(f"{API}/jobs", headers=headers, params={"limit": 1}).json()["data"]) == 1
    detail = client.get(f"{API}/jobs/{stored['job_a']}", headers=headers).json()
    assert detail["params"]["inputs"] == ["a.mp4", "b.mp4"]
    assert [(v["name"], v["status"], v["error"]) for v in detail["videos"]] == [
        ("a.mp4", "pending", None),
        ("b.mp4", "failed", "truncated file"),
    ]
    missing = client.get(f"{API}/jobs/nope", headers=headers)
    assert (missing.status_code, missing.json()) == (404, {"detail": "job not found"})


def test_job_events(client: TestClient, auth_headers: dict, stored: dict) -> None:
    headers = auth_headers[UserRole.VIEWER]
    body = client.get(f"{API}/jobs/{stored['job_a']}/events", headers=headers, params={"limit": 3}).json()
    assert body["count"] == 5
    assert [e["id"] for e in body["data"]] == stored["ids"][:3]
    assert client.get(f"{API}/jobs/{stored['job_b']}/events", headers=headers).json()["count"] == 1
    assert client.get(f"{API}/jobs/nope/events", headers=headers).status_code == 404


def test_cancel_job(client: TestClient, pg_engine: Engine, auth_headers: dict) -> None:
    with Session(pg_engine) as session:
        job_id = crud.create_job(session, params={}, inputs=["x.mp4"]).id
    headers = auth_headers[UserRole.SUPERVISOR]
    cancelled = client.post(f"{API}/jobs/{job_id}/cancel", headers=headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["finished_at"]
    again = client.post(f"{API}/jobs/{job_id}/cancel", headers=headers)
    assert (again.status_code, again.json()) == (409, {"detail": "job already finished"})


def test_cancel_finished_job_is_409(client: TestClient, pg_engine: Engine, auth_headers: dict) -> None:
    with Session(pg_engine) as session:
        job_id = crud.create_job(session, params={}, inputs=["x.mp4"]).id
        crud.finish_job(session, job_id)  # its only video never ran: the job failed
    response = client.post(f"{API}/jobs/{job_id}/cancel", headers=auth_headers[UserRole.ADMIN])
    assert (response.status_code, response.json()) == (409, {"detail": "job already finished"})
    missing = client.post(f"{API}/jobs/nope/cancel", headers=auth_headers[UserRole.ADMIN])
    assert (missing.status_code, missing.json()) == (404, {"detail": "job not found"})
