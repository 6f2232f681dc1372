"""Sites, cameras, zones, lines and rules through the API: import, CRUD, validation, roles, scoping, audit."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import redis as redis_lib
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from actors.pose_replica import FrameDetections
from cluster.settings import TrackerSettings
from deployments.api import create_app
from deployments.api.control import CameraNotRunning, LocalCameraControl
from deployments.api.routes import cameras, media, sites, system
from domain.site import LineConfig, ZoneConfig
from storage import crud
from storage.models import CameraCreate, SiteCreate, UserRole
from storage.objectstore import LocalObjectStore
from tests.deployments.conftest import bearer, create_random_user, login, make_config

API = "/api/v1"
A, S, O, V = UserRole.ADMIN, UserRole.SUPERVISOR, UserRole.OPERATOR, UserRole.VIEWER
EXAMPLE_SITE = Path(__file__).resolve().parents[2] / "examples" / "site.yaml"
SQUARE = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]


# ------------------------------------------------------------------------------------ helpers
def one_box_detector(frames: list[np.ndarray]) -> list[FrameDetections]:
    """Test data: one person in the middle of every frame (cheap on CPU)."""
    out = []
    for frame in frames:
        h, w = frame.shape[:2]
        xyxy = np.array([[0.4 * w, 0.3 * h, 0.6 * w, 0.9 * h]], np.float32)
        keypoints = np.zeros((1, 17, 3), np.float32)
        out.append(FrameDetections(xyxy, np.full(1, 0.9, np.float32), keypoints, np.zeros((1, 0), np.float32)))
    return out


def write_video(path: Path, *, frames: int = 30, size_wh: tuple[int, int] = (160, 120), fps: float = 10.0) -> Path:
    """A small MJPG AVI whose frame i is filled with gray level 5·i (so frames are told apart)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size_wh)
    for i in range(frames):
        writer.write(np.full((size_wh[1], size_wh[0], 3), (5 * i) % 256, np.uint8))
    writer.release()
    return path


def build_app(engine: Engine, redis: redis_lib.Redis, prefix: str, tmp: Path) -> tuple[FastAPI, LocalCameraControl]:
    """The API with this part's routers, a `LocalCameraControl` and a `LocalObjectStore`."""
    control = LocalCameraControl(engine, one_box_detector, tracker_params=TrackerSettings(), detection_fps=5.0,
                                 clips_dir=tmp / "clips", stop_timeout_s=10.0)  # fmt: skip
    app = create_app(
        engine=engine, redis=redis, config=make_config(prefix),
        extra_routers=[sites.router, cameras.router, media.router, system.router],
        state={"control": control, "store": LocalObjectStore(tmp / "objects")},
    )  # fmt: skip
    return app, control


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
def video_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "cam.avi")


def new_site(engine: Engine) -> str:
    with Session(engine, expire_on_commit=False) as session:
        return crud.create_site(session, SiteCreate(name=f"s-{uuid.uuid4().hex[:8]}")).id


def new_camera(engine: Engine, *, group: str | None = None, source: str | None = None, rules: bool = True) -> str:
    """A camera in a fresh site with zone `shelf`, line `door` and (optionally) rules using them."""
    config = {
        "zones": {"shelf": {"polygon": SQUARE}},
        "lines": {"door": {"start": [0.0, 0.5], "end": [1.0, 0.5]}},
        "rules": {"enter": {"type": "zone_enter", "zone": "shelf"}, "cross": {"type": "line_cross", "line": "door"}}
        if rules else {},
    }  # fmt: skip
    data = CameraCreate.model_validate({"site_id": new_site(engine), "key": f"c{uuid.uuid4().hex[:6]}",
                                        "camera_group": group, "source": source, "config": config})  # fmt: skip
    with Session(engine, expire_on_commit=False) as session:
        return crud.create_camera(session, data).id


# --------------------------------------------------------------------------------- site import
def test_import_example_site_creates_cameras_with_zones(client: TestClient, admin_headers: dict) -> None:
    text = EXAMPLE_SITE.read_text()
    response = client.post(f"{API}/sites/import", content=text, headers=admin_headers | {"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["site"]["name"] == "demo-store"
    [camera] = body["cameras"]
    assert camera["id"] == "demo-store.vtest"
    assert set(camera["config"]["zones"]) == {"aisle", "till", "doors"}
    assert set(camera["config"]["rules"]) == {"aisle-enter", "aisle-exit", "loiter", "walk-in", "bypass", "crowd"}
    zones = client.get(f"{API}/cameras/demo-store.vtest/zones", headers=admin_headers).json()
    assert zones["aisle"]["kind"] == "shelf"
    assert zones["aisle"]["polygon"][0] == [0.28, 0.33]

    again = client.post(f"{API}/sites/import", json={"yaml": text}, headers=admin_headers)  # JSON form, same file
    assert again.status_code == 200, again.text
    assert again.json()["site"]["id"] == body["site"]["id"]  # ids stay stable
    assert again.json()["cameras"][0]["version"] == camera["version"]  # unchanged: no version bump


@pytest.mark.parametrize(
    ("text", "line", "loc_tail"),
    [
        ("site:\n  name: x\ncameras: [1, 2\n", 4, None),  # YAML syntax error at the end
        ("site: {name: bad-rule}\ncameras:\n  c1:\n    zones: {}\n    rules:\n      r: {type: dwell, zone: nowhere, dwell_s: 3}\n",
         6, "zone"),  # rule references an unknown zone
        ("site: {name: bad-poly}\ncameras:\n  c1:\n    zones:\n      z: {polygon: [[0, 0], [1, 1]]}\n", 5, "polygon"),  # 2 points
    ],
)
def test_import_bad_site_file_is_422_with_line(client: TestClient, admin_headers: dict, text: str, line: int,
                                               loc_tail: str | None) -> None:  # fmt: skip
    response = client.post(f"{API}/sites/import", content=text, headers=admin_headers | {"Content-Type": "text/plain"})
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["line"] == line
    assert problem["msg"].startswith(f"line {line}: ")
    if loc_tail is not None:
        assert loc_tail in problem["loc"]


def test_import_rejects_bad_source_scheme(client: TestClient, admin_headers: dict) -> None:
    text = "site: {name: ftp-site}\ncameras:\n  c1: {source: 'ftp://cam/x'}\n"
    response = client.post(f"{API}/sites/import", content=text, headers=admin_headers | {"Content-Type": "text/plain"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "cameras", "c1", "source"]


# ------------------------------------------------------------------------------------ CRUD
def test_site_and_camera_crud(client: TestClient, admin_headers: dict) -> None:
    name = f"store-{uuid.uuid4().hex[:6]}"
    site = client.post(f"{API}/sites", json={"name": name, "friendly_name": "Store"}, headers=admin_headers)
    assert site.status_code == 201, site.text
    site_id = site.json()["id"]
    assert client.post(f"{API}/sites", json={"name": name}, headers=admin_headers).json() == {"detail": "site already exists"}
    patched = client.patch(f"{API}/sites/{site_id}", json={"timezone": "Europe/London"}, headers=admin_headers)
    assert patched.json()["timezone"] == "Europe/London"

    body = {"site_id": site_id, "key": "entrance", "source": "rtsp://cam.local/stream", "camera_group": "north",
            "config": {"fps": 5, "zones": {"door": {"polygon": SQUARE}}}}  # fmt: skip
    created = client.post(f"{API}/cameras", json=body, headers=admin_headers)
    assert created.status_code == 201, created.text
    camera = created.json()
    assert camera["id"] == f"{name}.entrance"
    assert camera["config"]["source"] == "rtsp://cam.local/stream" and camera["version"] == 1
    assert client.post(f"{API}/cameras", json=body, headers=admin_headers).status_code == 409

    listed = client.get(f"{API}/cameras", params={"site_id": site_id, "enabled": True}, headers=admin_headers).json()
    assert [c["id"] for c in listed["data"]] == [camera["id"]] and listed["count"] == 1
    patched = client.patch(f"{API}/cameras/{camera['id']}", json={"friendly_name": "Entrance", "enabled": False},
                           headers=admin_headers).json()  # fmt: skip
    assert (patched["friendly_name"], patched["enabled"], patched["version"]) == ("Entrance", False, 2)
    assert patched["config"]["friendly_name"] == "Entrance"
    assert client.get(f"{API}/cameras", params={"site_id": site_id, "enabled": True}, headers=admin_headers).json()["count"] == 0

    assert client.delete(f"{API}/sites/{site_id}", headers=admin_headers).json() == {"detail": "site has cameras"}
    assert client.delete(f"{API}/cameras/{camera['id']}", headers=admin_headers).status_code == 204
    assert client.get(f"{API}/cameras/{camera['id']}", headers=admin_headers).json() == {"detail": "camera not found"}
    assert client.delete(f"{API}/sites/{site_id}", headers=admin_headers).status_code == 204
    assert client.get(f"{API}/sites/{site_id}", headers=admin_headers).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        ("POST", "/cameras", {"key": "k", "source": "ftp://x/y"}, ["body", "source"]),  # unknown scheme
        ("POST", "/cameras", {"key": "k", "config": {"source": "gopher://x"}}, ["body", "config", "source"]),
        ("PATCH", "/cameras/{id}", {"source": "ftp://x/y"}, ["body", "source"]),
    ],
)
def test_unknown_source_scheme_is_422_naming_source(client: TestClient, pg_engine: Engine, admin_headers: dict,
                                                    method: str, path: str, body: dict, loc: list) -> None:  # fmt: skip
    camera_id = new_camera(pg_engine)
    with Session(pg_engine) as session:
        site_id = crud.get_camera(session, camera_id).site_id
    if method == "POST":
        body = {**body, "site_id": site_id}
    response = client.request(method, API + path.format(id=camera_id), json=body, headers=admin_headers)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc
    assert "unsupported camera source scheme" in response.json()["detail"][0]["msg"]


# --------------------------------------------------------------------------- zones, lines, rules
@pytest.mark.parametrize(
    "polygon",
    [
        [[0.1, 0.1], [0.5, 0.5]],  # 2 points
        [[0.1, 0.1], [1.5, 0.1], [0.5, 0.5]],  # x out of 0-1
        [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]],  # degenerate (collinear)
    ],
)
def test_zone_put_invalid_polygon_is_422(client: TestClient, pg_engine: Engine, admin_headers: dict, polygon: list) -> None:
    camera_id = new_camera(pg_engine)
    response = client.put(f"{API}/cameras/{camera_id}/zones/z", json={"polygon": polygon}, headers=admin_headers)
    assert response.status_code == 422, response.text
    assert "polygon" in response.json()["detail"][0]["loc"]


def test_zone_line_rule_lifecycle(client: TestClient, pg_engine: Engine, admin_headers: dict) -> None:
    camera_id = new_camera(pg_engine, rules=False)
    base = f"{API}/cameras/{camera_id}"
    put = client.put(f"{base}/zones/till", json={"polygon": SQUARE, "kind": "checkout"}, headers=admin_headers)
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 2 and "till" in put.json()["config"]["zones"]

    bad = client.put(f"{base}/rules/r1", json={"type": "dwell", "zone": "nowhere", "dwell_s": 3}, headers=admin_headers)
    assert bad.status_code == 422
    [error] = bad.json()["detail"]
    assert error["loc"] == ["body", "zone"]
    assert "unknown zone 'nowhere'" in error["msg"]
    bad_line = client.put(f"{base}/rules/r2", json={"type": "line_cross", "line": "gone"}, headers=admin_headers)
    assert bad_line.json()["detail"][0]["loc"] == ["body", "line"]
    bad_type = client.put(f"{base}/rules/r3", json={"type": "teleport", "zone": "till"}, headers=admin_headers)
    assert bad_type.status_code == 422

    ok = client.put(f"{base}/rules/r1", json={"type": "dwell", "zone": "till", "dwell_s": 3}, headers=admin_headers)
    assert ok.status_code == 200, ok.text
    assert client.get(f"{base}/rules", headers=admin_headers).json()["r1"]["dwell_s"] == 3
    blocked = client.delete(f"{base}/zones/till", headers=admin_headers)
    assert (blocked.status_code, blocked.json()) == (409, {"detail": "zone in use by rule 'r1'"})
    line_blocked = client.put(f"{base}/rules/c", json={"type": "line_cross", "line": "door"}, headers=admin_headers)
    assert line_blocked.status_code == 200
    assert client.delete(f"{base}/lines/door", headers=admin_headers).json() == {"detail": "line in use by rule 'c'"}

    assert client.delete(f"{base}/rules/r1", headers=admin_headers).status_code == 204
    assert client.delete(f"{base}/zones/till", headers=admin_headers).status_code == 204
    assert client.delete(f"{base}/zones/till", headers=admin_headers).json() == {"detail": "zone not found"}
    assert client.put(f"{base}/lines/l2", json={"start": [0, 0], "end": [0, 0]}, headers=admin_headers).status_code == 422
    camera = client.get(base, headers=admin_headers).json()
    assert "till" not in camera["config"]["zones"] and "r1" not in camera["config"]["rules"]


# ---------------------------------------------------------------------------------- roles
def _camera(engine: Engine) -> str:
    return new_camera(engine)


def _site(engine: Engine) -> str:
    return new_site(engine)


# (name, method, path with {id}, body (callable: built from the engine), builds the id, status when allowed, roles allowed)
MANAGE = {A, S}
CONTROL = {A, S, O}
CASES = [
    ("create site", "POST", "/sites", lambda e: {"name": f"r-{uuid.uuid4().hex[:8]}"}, None, 201, MANAGE),
    ("import site", "POST", "/sites/import", lambda e: {"yaml": f"site: {{name: i-{uuid.uuid4().hex[:8]}}}"}, None, 200, MANAGE),
    ("update site", "PATCH", "/sites/{id}", lambda e: {"friendly_name": "x"}, _site, 200, MANAGE),
    ("delete site", "DELETE", "/sites/{id}", None, _site, 204, MANAGE),
    ("create camera", "POST", "/cameras", lambda e: {"site_id": new_site(e), "key": "k"}, None, 201, MANAGE),
    ("update camera", "PATCH", "/cameras/{id}", lambda e: {"friendly_name": "x"}, _camera, 200, MANAGE),
    ("delete camera", "DELETE", "/cameras/{id}", None, _camera, 204, MANAGE),
    ("put zone", "PUT", "/cameras/{id}/zones/z2", lambda e: {"polygon": SQUARE}, _camera, 200, MANAGE),
    ("delete zone", "DELETE", "/cameras/{id}/zones/z2", None,
     lambda e: _with(e, "put_zone", "z2", {"polygon": SQUARE}), 204, MANAGE),
    ("put line", "PUT", "/cameras/{id}/lines/l2", lambda e: {"start": [0, 0], "end": [1, 1]}, _camera, 200, MANAGE),
    ("delete line", "DELETE", "/cameras/{id}/lines/l2", None,
     lambda e: _with(e, "put_line", "l2", {"start": [0, 0], "end": [1, 1]}), 204, MANAGE),
    ("put rule", "PUT", "/cameras/{id}/rules/r2", lambda e: {"type": "zone_exit", "zone": "shelf"}, _camera, 200, MANAGE),
    ("delete rule", "DELETE", "/cameras/{id}/rules/enter", None, _camera, 204, MANAGE),
    ("read cameras", "GET", "/cameras", None, None, 200, {A, S, O, V}),
    ("read sites", "GET", "/sites", None, None, 200, {A, S, O, V}),
]


def _with(engine: Engine, put: str, name: str, body: dict) -> str:
    camera_id = new_camera(engine)
    value = ZoneConfig.model_validate(body) if put == "put_zone" else LineConfig.model_validate(body)
    with Session(engine) as session:
        getattr(crud, put)(session, camera_id, name, value)
    return camera_id


@pytest.mark.parametrize("role", [A, S, O, V], ids=lambda r: r.value)
@pytest.mark.parametrize(("name", "method", "path", "body", "make_id", "ok", "allowed"), CASES, ids=[c[0] for c in CASES])
def test_role_matrix(client: TestClient, pg_engine: Engine, auth_headers: dict, role: UserRole, name: str, method: str,
                     path: str, body: Callable | None, make_id: Callable | None, ok: int, allowed: set) -> None:  # fmt: skip
    if make_id is not None:
        path = path.format(id=make_id(pg_engine))
    response = client.request(method, API + path, headers=auth_headers[role],
                              json=body(pg_engine) if body is not None else None)  # fmt: skip
    expected = ok if role in allowed else 403
    assert response.status_code == expected, response.text
    if expected == 403:
        assert response.json() == {"detail": "insufficient permissions"}


@pytest.mark.parametrize("role", [A, S, O, V], ids=lambda r: r.value)
def test_role_matrix_start_stop(client: TestClient, pg_engine: Engine, control: LocalCameraControl,
                                auth_headers: dict, video_path: Path, role: UserRole) -> None:  # fmt: skip
    started = new_camera(pg_engine, source=str(video_path))
    response = client.post(f"{API}/cameras/{started}/start", headers=auth_headers[role])
    assert response.status_code == (200 if role in CONTROL else 403), response.text
    running = new_camera(pg_engine, source=str(video_path))
    asyncio.run(control.start(running))
    response = client.post(f"{API}/cameras/{running}/stop", headers=auth_headers[role])
    assert response.status_code == (200 if role in CONTROL else 403), response.text
    for camera_id in (started, running):
        with contextlib.suppress(CameraNotRunning):
            asyncio.run(control.stop(camera_id))


def test_start_refusals(client: TestClient, pg_engine: Engine, admin_headers: dict) -> None:
    no_source = new_camera(pg_engine)
    assert client.post(f"{API}/cameras/{no_source}/start", headers=admin_headers).json() == {"detail": "camera has no source"}
    assert client.post(f"{API}/cameras/{no_source}/stop", headers=admin_headers).json() == {"detail": "camera not running"}
    status = client.get(f"{API}/cameras/{no_source}/status", headers=admin_headers).json()
    assert (status["state"], status["running"]) == ("stopped", False)


# ---------------------------------------------------------------------------- group scoping
def test_camera_group_scoping(client: TestClient, pg_engine: Engine) -> None:
    in_a, in_b = new_camera(pg_engine, group="a"), new_camera(pg_engine, group="b")
    operator = create_random_user(pg_engine, O, camera_groups=["a"])
    headers = bearer(login(client, operator.username))
    seen = {c["id"] for c in client.get(f"{API}/cameras", headers=headers).json()["data"]}
    assert in_a in seen and in_b not in seen
    assert client.get(f"{API}/cameras/{in_a}", headers=headers).status_code == 200
    for method, path in [("GET", ""), ("GET", "/zones"), ("GET", "/status"), ("POST", "/start"), ("GET", "/frame.jpg")]:
        response = client.request(method, f"{API}/cameras/{in_b}{path}", headers=headers)
        assert response.json() == {"detail": "camera not found"}, (method, path)


# ------------------------------------------------------------------------------------ audit
def test_mutations_are_audited(client: TestClient, pg_engine: Engine, admin_headers: dict) -> None:
    camera_id = new_camera(pg_engine)
    client.put(f"{API}/cameras/{camera_id}/zones/aud", json={"polygon": SQUARE}, headers=admin_headers)
    client.patch(f"{API}/cameras/{camera_id}", json={"camera_group": "g"}, headers=admin_headers)
    client.delete(f"{API}/cameras/{camera_id}/zones/shelf", headers=admin_headers)  # refused: 409
    with Session(pg_engine) as session:
        rows, _ = crud.list_audit(session, resource_type="zone", resource_id="aud")
        assert [(r.action, r.status_code) for r in rows] == [("zone.update", 200)]
        rows, _ = crud.list_audit(session, action="camera.update", resource_id=camera_id)
        assert [r.status_code for r in rows] == [200]
        rows, _ = crud.list_audit(session, action="zone.delete", resource_id="shelf")
        assert any(r.status_code == 409 and r.detail["path_params"]["camera_id"] == camera_id for r in rows)


def test_openapi_names_the_new_operations(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert paths[f"{API}/sites/import"]["post"]["operationId"] == "sites-import_site"
    assert paths[f"{API}/cameras/{{camera_id}}/zones/{{name}}"]["put"]["operationId"] == "cameras-put_zone"
    assert paths[f"{API}/events/{{event_id}}/clip"]["get"]["operationId"] == "media-event_clip"
    assert paths[f"{API}/system/status"]["get"]["operationId"] == "system-system_status"
