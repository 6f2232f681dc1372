"""Live global ids end to end: `witness up` with two file cameras showing two overlapping views of vtest.avi.

The views are cut from one video and calibrated to one plan (`tests/pipelines/two_views.py`), so
the people in the overlap are the same people by construction; the test waits until one
`global_id` appears on both cameras' `tracking_update`s, then checks the person API, the focus
WebSocket and the cameras' identity health. File cameras start playing a moment apart, so the
two views are not frame-synchronous: the clock slack is widened to cover that offset.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.actors.conftest import free_port
from tests.deployments.test_live_platform import wait_for, witness
from tests.pipelines.two_views import cut_two_views, site_yaml

pytestmark = pytest.mark.slow
SITE = "liveid"


@pytest.fixture(scope="module")
def platform(tmp_path_factory, vtest_path: Path):
    data = tmp_path_factory.mktemp("live-identity")
    # File cameras must sit under a media folder (CAMERA__MEDIA_ROOT; by default DATA_DIR/media).
    views = cut_two_views(vtest_path, data / "media" / "views", seconds=20.0, layout="overlap")
    text = site_yaml(views, layout="overlap", name=SITE)
    for cam in "ab":
        text = text.replace(f"  {cam}:\n", f"  {cam}:\n    source: {views[cam]['path']}\n    fps: 2\n", 1)
    site = data / "site.yaml"
    site.write_text(text)
    port = free_port()
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "DATABASE_URL", "MODEL__", "API__", "RAY_",
                                                                     "IDENTITY__", "EMBEDDER__"))}
    env = keep | {
        "DATA_DIR": str(data), "REDIS_URL": "redis://127.0.0.1:6379/13", "API__PORT": str(port), "RAY_NUM_CPUS": "2",
        "MODEL__IMGSZ": "960", "DETECTOR__NUM_CPUS": "1", "CAMERA__NUM_CPUS": "0.1", "API__NUM_CPUS": "0.1",
        "EMBEDDER__NUM_CPUS": "0.1", "IDENTITY__NUM_CPUS": "0.1", "RAY_AUTH_MODE": "disabled", "OMP_NUM_THREADS": "1",
        "IDENTITY__TIME_SLACK_S": "3", "IDENTITY__TWO_PLACES_M": "5", "IDENTITY__MIN_TRACK_FRAMES": "2",
    }
    up = witness("up", "--site", str(site), env=env, timeout=420)
    try:
        assert up.returncode == 0, f"witness up failed:\n{up.stdout}\n{up.stderr[-4000:]}"
        password = re.search(r"password (\S+)", up.stdout).group(1)
        base = f"http://127.0.0.1:{port}"
        token = httpx.post(f"{base}/api/v1/auth/login", json={"username": "admin", "password": password},
                           timeout=30).json()["access_token"]
        yield {"base": base, "ws": f"ws://127.0.0.1:{port}", "token": token,
               "headers": {"Authorization": f"Bearer {token}"}}
    finally:
        down = witness("down", env=env, timeout=180)
        assert down.returncode == 0, down.stderr[-3000:]


def test_both_cameras_share_a_global_id(platform) -> None:
    seen: dict[str, set[str]] = {f"{SITE}.a": set(), f"{SITE}.b": set()}
    with_map = 0
    url = f"{platform['ws']}/ws/tracking?access_token={platform['token']}"
    with connect(url, open_timeout=30) as ws:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not (seen[f"{SITE}.a"] & seen[f"{SITE}.b"]):
            msg = json.loads(ws.recv(timeout=120))
            # Redis pub/sub is machine-wide: keep only this platform's cameras
            if msg.get("kind") != "tracking_update" or msg.get("camera_id") not in seen:
                continue
            for track in msg.get("tracks", []):
                with_map += track.get("map_coords") is not None
                if track.get("global_id"):
                    seen[msg["camera_id"]].add(track["global_id"])
                    assert track["tracking_duration"] >= 0 and track["detection_time"].endswith("Z")
    shared = seen[f"{SITE}.a"] & seen[f"{SITE}.b"]
    assert shared, f"no global id on both cameras in 240 s: {seen}"
    assert with_map > 0
    gid = sorted(shared)[0]
    h = platform["headers"]
    # the registry checkpoints to the database every IDENTITY__CHECKPOINT_INTERVAL_S (2 s)
    person = wait_for(lambda: (r := httpx.get(f"{platform['base']}/api/v1/persons/{gid}", headers=h, timeout=30))
                      .status_code == 200 and set(r.json()["cameras"]) == {f"{SITE}.a", f"{SITE}.b"} and r.json(),
                      timeout_s=30, what="the person seen by both cameras in the API")
    assert any(p["map_coords"] for p in person["position_history"])
    r = httpx.post(f"{platform['base']}/api/v1/tracking/focus", json={"global_id": gid}, headers=h, timeout=30)
    assert r.status_code == 200
    with connect(f"{platform['ws']}/ws/focus?access_token={platform['token']}", open_timeout=30) as ws:
        msg = json.loads(ws.recv(timeout=30))
        assert msg["type"] == "focus_update" and msg["payload"]["focused_person_id"] == gid
    st = httpx.get(f"{platform['base']}/api/v1/cameras/{SITE}.a/status", headers=h, timeout=30).json()
    assert st["identity"]["enabled"] and st["identity"]["calibrated"] and st["identity"]["identified"] >= 1
