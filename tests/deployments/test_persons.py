"""Person API and focus over HTTP and WebSocket, on PostgreSQL with people placed by the real registry core."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from actors.identity_registry import IdentityRegistryCore, TrackObservation
from deployments.api import create_app
from deployments.api.routes import floorplan, persons
from storage import crud
from storage import identity as repo
from storage.db import session_scope
from storage.models import CameraCreate, SiteCreate, UserRole
from tests.deployments.conftest import bearer, create_random_user, login, make_config

RED = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
BLUE = np.array([0.0, 1.0, 0.0, 0.0], np.float32)


@pytest.fixture(scope="module")
def world(pg_engine, redis_client, module_prefix, tmp_path_factory) -> Iterator[dict]:
    """Two cameras in two groups; one person walking through the front camera's aisle zone, one on the back camera."""
    from storage.objectstore import LocalObjectStore

    store = LocalObjectStore(tmp_path_factory.mktemp("objects"))
    site_name = f"shop-{uuid.uuid4().hex[:6]}"
    with session_scope(pg_engine) as s:
        site = crud.create_site(s, SiteCreate(name=site_name))
        zone = {"aisle": {"kind": "shelf", "polygon": [[0.0, 0.5], [0.5, 0.5], [0.5, 1.0], [0.0, 1.0]]}}
        cal = {"image_points": [[0, 1], [1, 1], [1, 0.3], [0, 0.3]], "map_points": [[0, 8], [10, 8], [10, 0], [0, 0]]}
        front = crud.create_camera(s, CameraCreate(site_id=site.id, key="front", camera_group="front",
                                                   config={"zones": zone, "calibration": cal})).id
        back = crud.create_camera(s, CameraCreate(site_id=site.id, key="back", camera_group="back")).id
    core = IdentityRegistryCore(site_name)
    now = time.time() - 30
    t = now + np.arange(0, 10, 0.5)
    # walks 1 m/s along x on the plan; the foot point is inside the aisle (left bottom quarter) for the first 5 s
    xs = np.where(t - now < 5, 50.0, 500.0)
    boxes = np.stack([xs - 10, np.full_like(t, 300), xs + 10, np.full_like(t, 400)], axis=1)
    walker = core.observe(TrackObservation(front, f"live/{front}/s/1", 1, t, boxes, np.c_[t - now, np.zeros_like(t)],
                                           RED[None], np.array([0.9], np.float32), b"\xff\xd8front", 0.9,
                                           resolution_wh=(640, 480)))
    other = core.observe(TrackObservation(back, f"live/{back}/s/2", 2, t, boxes, np.c_[t - now, 40 + np.zeros_like(t)],
                                          BLUE[None], np.array([0.9], np.float32), resolution_wh=(640, 480)))
    changes = core.drain_changes()
    for gid, jpeg in changes.crops.items():
        store.put_bytes(core.crop_key(site_name, gid), jpeg, "image/jpeg")
    with session_scope(pg_engine) as s:
        repo.save_changes(s, changes)
    app = create_app(engine=pg_engine, redis=redis_client, config=make_config(module_prefix),
                     extra_routers=[persons.router, persons.ws_router, floorplan.router], state={"store": store, "focus_interval_s": 0.2})
    with TestClient(app) as client:
        admin = create_random_user(pg_engine, UserRole.ADMIN)
        limited = create_random_user(pg_engine, UserRole.OPERATOR, camera_groups=["front"])
        yield {"client": client, "walker": walker.global_id, "other": other.global_id, "site": site_name,
               "admin": bearer(login(client, admin.username)), "limited": bearer(login(client, limited.username))}


def test_list_and_details(world) -> None:
    c = world["client"]
    r = c.get("/api/v1/persons", params={"site": world["site"], "active_s": 600}, headers=world["admin"])
    assert r.status_code == 200
    assert {p["global_id"] for p in r.json()["data"]} == {world["walker"], world["other"]}
    d = c.get(f"/api/v1/persons/{world['walker']}", headers=world["admin"]).json()
    assert d["current_camera"].endswith(".front") and d["tracking_duration"] == pytest.approx(9.5)
    assert len(d["position_history"]) == 20 and d["position_history"][0]["map_coords"] == [0.0, 0.0]
    m = d["movement_metrics"]
    assert m["total_distance"] == pytest.approx(9.5) and m["average_speed"] == pytest.approx(1.0)
    assert m["dwell_s_per_zone"] == {f"{d['current_camera']}/aisle": pytest.approx(5.0)}
    img = c.get(f"/api/v1/persons/{world['walker']}/image", headers=world["admin"])
    assert img.status_code == 200 and img.content == b"\xff\xd8front"
    assert c.get(f"/api/v1/persons/{world['other']}/image", headers=world["admin"]).status_code == 404  # no crop
    j = c.get(f"/api/v1/persons/{world['walker']}/journey", headers=world["admin"]).json()
    assert [v["camera"] for v in j["visits"]] == [d["current_camera"]] and j["visits"][0]["verdict"] == "new"


def test_unknown_and_other_groups_person_are_404(world) -> None:
    c = world["client"]
    for path in ("", "/journey", "/image"):
        assert c.get(f"/api/v1/persons/{uuid.uuid4()}{path}", headers=world["admin"]).status_code == 404
        r = c.get(f"/api/v1/persons/{world['other']}{path}", headers=world["limited"])
        assert r.status_code == 404 and r.json()["detail"] == "person not found"
    assert c.get(f"/api/v1/persons/{world['walker']}", headers=world["limited"]).status_code == 200
    listed = c.get("/api/v1/persons", params={"site": world["site"]}, headers=world["limited"]).json()
    assert [p["global_id"] for p in listed["data"]] == [world["walker"]]
    assert c.post("/api/v1/tracking/focus", json={"global_id": world["other"]}, headers=world["limited"]).status_code == 404
    assert c.get("/api/v1/persons").status_code == 401


def test_focus_over_http_and_websocket(world) -> None:
    c, h = world["client"], world["admin"]
    assert c.post("/api/v1/tracking/focus", json={"global_id": "nope"}, headers=h).status_code == 404
    assert c.get("/api/v1/tracking/focus", headers=h).json()["focused_person_id"] is None
    r = c.post("/api/v1/tracking/focus", json={"global_id": world["walker"]}, headers=h)
    assert r.status_code == 200 and r.json()["person_details"]["global_id"] == world["walker"]
    token = h["Authorization"].split()[1]
    with c.websocket_connect(f"/api/v1/ws/focus?access_token={token}") as ws:
        first = ws.receive_json()
        assert first["type"] == "focus_update" and first["payload"]["focused_person_id"] == world["walker"]
        assert first["payload"]["person_details"]["movement_metrics"]["total_distance"] == pytest.approx(9.5)
        c.post("/api/v1/tracking/focus", json={"global_id": world["other"]}, headers=h)
        assert ws.receive_json()["payload"]["focused_person_id"] == world["other"]
        assert c.delete("/api/v1/tracking/focus", headers=h).status_code == 204
        assert ws.receive_json()["payload"]["focused_person_id"] is None
    assert c.get("/api/v1/tracking/focus", headers=h).json()["focused_person_id"] is None


def test_floor_plan_and_calibration_check(world) -> None:
    c = world["client"]
    plan = c.get("/api/v1/floorplan", params={"site": world["site"]}, headers=world["admin"]).json()
    by_id = {v["camera_id"].split(".")[-1]: v for v in plan["cameras"]}
    assert by_id["front"]["calibrated"] and not by_id["back"]["calibrated"]
    assert by_id["front"]["reprojection_error_m"] < 1e-6 and len(by_id["front"]["field_of_view"]) > 3
    assert plan["extent_m"][2] >= 10 and plan["extent_m"][3] >= 8
    limited = c.get("/api/v1/floorplan", params={"site": world["site"]}, headers=world["limited"]).json()
    assert [v["camera_id"].split(".")[-1] for v in limited["cameras"]] == ["front"]  # the other group's camera is hidden
    assert c.get("/api/v1/floorplan", params={"site": "no-such-site"}, headers=world["admin"]).status_code == 404
    ok = c.post("/api/v1/calibration/check", headers=world["admin"], json={
        "image_points": [[0, 1], [1, 1], [1, 0.3], [0, 0.3], [0.5, 1]],
        "map_points": [[0, 8], [10, 8], [10, 0], [0, 0], [5.3, 8]]})
    assert ok.status_code == 200 and 0 < ok.json()["reprojection_error_m"] < 0.5
    bad = c.post("/api/v1/calibration/check", headers=world["admin"], json={
        "image_points": [[0, 1], [0.5, 1], [1, 1], [0.5, 0.3]], "map_points": [[0, 8], [5, 8], [10, 8], [5, 0]]})
    assert bad.status_code == 422 and "degenerate" in bad.json()["detail"]
