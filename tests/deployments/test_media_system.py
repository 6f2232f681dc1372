"""Media and system routes: live frames and reconfigure through `LocalCameraControl`, clips, track crops, status."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from domain.privacy import masked_key
import redis as redis_lib
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from deployments.api.control import LocalCameraControl
from deployments.detector import REPLICA_STATS_KEY
from domain.events import event_id
from storage import crud
from storage.models import ClipCreate
from storage.objectstore import LocalObjectStore
from tests.deployments.test_sites_cameras import SQUARE, build_app, new_camera, write_video
from tests.factories import make_event, make_trajectory

API = "/api/v1"


@pytest.fixture(scope="module")
def built(pg_engine: Engine, redis_client: redis_lib.Redis, module_prefix: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, LocalCameraControl]]:  # fmt: skip
    app, control = build_app(pg_engine, redis_client, module_prefix, tmp_path_factory.mktemp("api"))
    yield app, control
    control.close()


@pytest.fixture(scope="module")
def app(built: tuple[FastAPI, LocalCameraControl]) -> FastAPI:
    return built[0]


@pytest.fixture(scope="module")
def control(built: tuple[FastAPI, LocalCameraControl]) -> LocalCameraControl:
    return built[1]


@pytest.fixture(scope="module")
def store(app: FastAPI) -> LocalObjectStore:
    return app.state.store


@pytest.fixture(scope="module")
def video_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "cam.avi", frames=30, size_wh=(160, 120))


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}", pytrace=False)


def stored_video(engine: Engine, uri: str, *, event_clip_key: str | None = None) -> tuple[str, str]:
    """A done bulk video at `uri` with track 3 (frames 2–8, one box per frame) and one event.

    Returns:
        `(video_id, event_id)`; the event has a clip row at `event_clip_key` when given.
    """
    boxes = [[40.0 + i, 20.0, 80.0 + i, 100.0] for i in range(7)]
    trajectory = make_trajectory(3, frames=list(range(2, 9)), xyxy=boxes, interpolated=[False] * 6 + [True])
    event = make_event(camera_id="cam-media", t_start_s=0.2)
    eid = event_id(f"test/{uuid.uuid4().hex}", event)
    clips = []
    if event_clip_key is not None:
        clips = [ClipCreate(event_id=eid, key=event_clip_key, t_start_s=0, t_end_s=1, frame_count=10, fps=10,
                            width=160, height=120)]  # fmt: skip
    with Session(engine, expire_on_commit=False) as session:
        job = crud.create_job(session, params={}, inputs=[uri])
        video_id = crud.list_videos(session, job.id)[0].id
        crud.save_video_results(session, video_id=video_id, trajectories=[trajectory], events=[(eid, event)],
                                clips=clips, frames_analysed=10, people_count=1)  # fmt: skip
    return video_id, eid


# ------------------------------------------------------------------------------------- live
def test_live_camera_start_frame_reconfigure_stop(client: TestClient, pg_engine: Engine, control: LocalCameraControl,
                                                  admin_headers: dict, video_path: Path) -> None:  # fmt: skip
    camera_id = new_camera(pg_engine, source=str(video_path))
    base = f"{API}/cameras/{camera_id}"
    assert client.get(f"{base}/frame.jpg", headers=admin_headers).json() == {"detail": "camera not running"}
    started = client.post(f"{base}/start", headers=admin_headers)
    assert started.status_code == 200, started.text
    assert started.json()["running"] is True
    try:
        wait_for(lambda: client.get(f"{base}/status", headers=admin_headers).json()["state"] == "streaming", 15, "streaming")
        wait_for(lambda: client.get(f"{base}/frame.jpg", headers=admin_headers).status_code == 200, 15, "a frame")
        for overlay in ("false", "true"):
            response = client.get(f"{base}/frame.jpg", params={"overlay": overlay}, headers=admin_headers)
            assert response.headers["content-type"] == "image/jpeg"
            frame = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
            assert frame.shape == (120, 160, 3)

        all_status = client.get(f"{API}/cameras/status", headers=admin_headers).json()
        assert camera_id in {s["camera_id"] for s in all_status}

        put = client.put(f"{base}/zones/live", json={"polygon": SQUARE, "kind": "queue"}, headers=admin_headers)
        assert put.status_code == 200, put.text
        wait_for(lambda: "live" in control.running_config(camera_id).zones, 10, "the running loop to take the new zone")
        assert control.running_config(camera_id).zones["live"].kind.value == "queue"
        assert client.get(f"{base}/status", headers=admin_headers).json()["running"] is True  # no restart
    finally:
        stopped = client.post(f"{base}/stop", headers=admin_headers)
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["state"] == "stopped"
    assert client.get(f"{base}/status", headers=admin_headers).json()["running"] is False
    assert client.get(f"{base}/frame.jpg", headers=admin_headers).json() == {"detail": "camera not running"}


def test_system_status(client: TestClient, pg_engine: Engine, redis_client: redis_lib.Redis, auth_headers: dict,
                       video_path: Path) -> None:  # fmt: skip
    from storage.models import UserRole

    headers = auth_headers[UserRole.VIEWER]
    replica = f"test-replica-{uuid.uuid4().hex[:8]}"
    redis_client.hset(REPLICA_STATS_KEY, replica, json.dumps({"batches": 3, "frames": 12}))
    camera_id = new_camera(pg_engine, source=str(video_path))
    admin = auth_headers[UserRole.ADMIN]
    assert client.post(f"{API}/cameras/{camera_id}/start", headers=admin).status_code == 200
    try:
        stored_video(pg_engine, "/nonexistent.mp4")
        body = client.get(f"{API}/system/status", headers=headers).json()
        assert camera_id in {c["camera_id"] for c in body["cameras"]}
        assert body["cluster"]["resources"]["CPU"] >= 1
        assert body["detector"][replica] == {"batches": 3, "frames": 12}
        assert body["events_total"] >= 1
    finally:
        redis_client.hdel(REPLICA_STATS_KEY, replica)
        client.post(f"{API}/cameras/{camera_id}/stop", headers=admin)


# ------------------------------------------------------------------------------------- clips
def test_event_clip_streams_bytes_and_ranges(client: TestClient, pg_engine: Engine, store: LocalObjectStore,
                                             admin_headers: dict) -> None:  # fmt: skip
    key = f"jobs/{uuid.uuid4().hex}/clips/e.mp4"
    data = bytes(range(256)) * 40
    store.put_bytes(key, b"original", "video/mp4")
    store.put_bytes(masked_key(key), data, "video/mp4")  # what leaves the platform: the face-masked copy
    _, eid = stored_video(pg_engine, "/nonexistent.mp4", event_clip_key=key)
    unmasked = client.get(f"{API}/events/{eid}/clip", params={"unmasked": True}, headers=admin_headers)
    assert unmasked.status_code == 200 and unmasked.content == b"original"  # an admin's audited unmask
    response = client.get(f"{API}/events/{eid}/clip", headers=admin_headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "video/mp4" and response.content == data
    partial = client.get(f"{API}/events/{eid}/clip", headers=admin_headers | {"Range": "bytes=10-19"})
    assert partial.status_code == 206
    assert partial.content == data[10:20] and partial.headers["content-range"] == f"bytes 10-19/{len(data)}"
    # A local store gives no http(s) URL: redirect=true still streams.
    assert client.get(f"{API}/events/{eid}/clip", params={"redirect": True}, headers=admin_headers).content == data


def test_event_clip_404s(client: TestClient, pg_engine: Engine, admin_headers: dict) -> None:
    _, no_clip = stored_video(pg_engine, "/nonexistent.mp4")
    assert client.get(f"{API}/events/{no_clip}/clip", headers=admin_headers).json() == {"detail": "event has no clip"}
    assert client.get(f"{API}/events/nope/clip", headers=admin_headers).json() == {"detail": "event not found"}
    _, missing = stored_video(pg_engine, "/nonexistent.mp4", event_clip_key="gone/e.mp4")
    assert client.get(f"{API}/events/{missing}/clip", headers=admin_headers).json() == {
        "detail": "no face-masked copy of this clip"}
    assert client.get(f"{API}/events/{missing}/clip", params={"unmasked": True},
                      headers=admin_headers).json() == {"detail": "clip file missing"}


# ------------------------------------------------------------------------------------- crops
def test_track_crop_from_stored_video(client: TestClient, pg_engine: Engine, admin_headers: dict, tmp_path: Path) -> None:
    path = write_video(tmp_path / "bulk.avi", frames=12, size_wh=(160, 120))
    video_id, _ = stored_video(pg_engine, str(path))
    response = client.get(f"{API}/tracks/{video_id}/3/crop.jpg", headers=admin_headers)
    assert response.status_code == 200, response.text
    crop = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert crop.shape == (96, 48, 3)  # 40x80 box + 10 % each side
    # Default frame: the middle detected point (frames 2..7 detected -> frame 5), gray level 5*5.
    assert abs(int(crop.mean()) - 25) <= 3
    at_2 = client.get(f"{API}/tracks/{video_id}/3/crop.jpg", params={"frame": 2}, headers=admin_headers)
    assert abs(int(cv2.imdecode(np.frombuffer(at_2.content, np.uint8), cv2.IMREAD_COLOR).mean()) - 10) <= 3


@pytest.mark.parametrize(
    ("path", "params", "detail"),
    [
        ("/tracks/{video}/99/crop.jpg", {}, "track not found"),
        ("/tracks/{video}/3/crop.jpg", {"frame": 50}, "track has no box at this frame"),
        ("/tracks/nope/3/crop.jpg", {}, "video not found"),
        ("/tracks/{missing}/3/crop.jpg", {}, "video file not available"),
        ("/tracks/{s3}/3/crop.jpg", {}, "video file not available"),
    ],
)
def test_track_crop_404s(client: TestClient, pg_engine: Engine, admin_headers: dict, tmp_path: Path, path: str,
                         params: dict, detail: str) -> None:  # fmt: skip
    video, _ = stored_video(pg_engine, str(write_video(tmp_path / "v.avi", frames=12)))
    missing, _ = stored_video(pg_engine, str(tmp_path / "deleted.avi"))
    s3, _ = stored_video(pg_engine, "s3://footage/x.mp4")
    response = client.get(API + path.format(video=video, missing=missing, s3=s3), params=params, headers=admin_headers)
    assert (response.status_code, response.json()) == (404, {"detail": detail})
