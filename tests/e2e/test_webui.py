"""The web UI end to end in a real browser against the real platform.

`witness up` starts the platform on localhost (one file camera on vtest.avi at 3 fps, 640 px
inference, so two CPU cores keep up), the test seeds an alert with its evidence through storage,
cuts a 2 s clip of vtest.avi with PyAV, and runs `webui/e2e/run.mjs` (playwright-core driving
Debian's chromium, headless): log in, live tracks on the camera grid, upload the clip and watch the
job finish, play it back with its tracks drawn, the store's analytics with a report, people on the
floor plan (map page, person panel, focus across the live grid), dismiss the alert with a reason and
see it in the history, draw a zone and see it applied, check the camera's calibration, every page.
Screenshots land in `webui/e2e/screenshots/`; console errors fail the run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import av
import cv2
import httpx
import pytest
from sqlmodel import Session

from storage import crud
from storage.db import make_engine
from storage.models import Alert
from tests.actors.conftest import free_port
from tests.conftest import fresh_pg_schema
from tests.deployments.test_live_platform import wait_for, witness

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
WEBUI = REPO / "webui"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SITE = "e2eshop"
CAMERA = f"{SITE}.door"


def cut_clip(src: Path, dest: Path, *, seconds: float = 2.0) -> Path:
    """The first `seconds` of `src` as an H.264 MP4 (what an operator would upload)."""
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    with av.open(str(dest), "w") as out:
        stream = out.add_stream("libx264", rate=round(fps))
        stream.width, stream.height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        stream.pix_fmt, stream.options = "yuv420p", {"preset": "ultrafast"}
        for _ in range(round(seconds * fps)):
            ok, frame = cap.read()
            if not ok:
                break
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        out.mux(stream.encode())
    cap.release()
    return dest


def seed_alert(database_url: str) -> str:
    """A pending alert as the intent assessment stores it: components, explanation, discrepancy, behaviours."""
    engine = make_engine(database_url)
    try:
        with Session(engine, expire_on_commit=False) as s:
            alert = crud.create_alert(
                s, score=0.72, severity="high", camera_id=CAMERA, track_id=7,
                components={"discrepancy": {"value": 1.0, "weight": 0.4, "contribution": 0.4},
                            "concealment": {"value": 0.8, "weight": 0.3, "contribution": 0.24},
                            "bypass": {"value": 0.0, "weight": 0.2, "contribution": 0.0},
                            "duration": {"value": 0.8, "weight": 0.1, "contribution": 0.08}},
                explanation="2 of 3 items picked up were not billed; a concealment cue followed a pickup.",
                details={"discrepancy": {"picked": {"CHOC001": 2, "ENRG001": 1}, "billed": {"CHOC001": 1},
                                         "missing_from_billing": {"CHOC001": 1, "ENRG001": 1}, "extra_in_billing": {},
                                         "matched": {"CHOC001": 1}, "match_rate": 1 / 3, "transaction_ids": ["t-1"]},
                         "behaviours": [{"class": "pickup", "t_start_s": 3.0, "t_end_s": 4.0, "confidence": 0.9, "zone": "aisle"},
                                        {"class": "concealment", "t_start_s": 6.0, "t_end_s": 8.5, "confidence": 0.7, "zone": None}]},
            )  # fmt: skip
            assert isinstance(alert, Alert)
            return alert.id
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def platform(tmp_path_factory, vtest_path):
    if not (WEBUI / "dist" / "index.html").is_file():
        pytest.fail("webui/dist is not built: run ./scripts/setup.sh (npm ci && npm run build in webui/)", pytrace=False)
    if not (WEBUI / "node_modules" / "playwright-core").is_dir() or not Path(CHROMIUM).exists():
        pytest.fail(f"e2e needs playwright-core in webui/node_modules and {CHROMIUM}: run ./scripts/setup.sh", pytrace=False)
    data = tmp_path_factory.mktemp("e2e")
    site = data / "site.yaml"
    site.write_text(
        f"site: {{name: {SITE}}}\ncameras:\n  door:\n    source: {vtest_path}\n    fps: 3\n"
        "    zones:\n      walk: {kind: generic, polygon: [[0.0, 0.2], [1.0, 0.2], [1.0, 1.0], [0.0, 1.0]]}\n"
        "    rules:\n      walk-enter: {type: zone_enter, zone: walk, clip: false}\n"
        # the plaza floor of vtest.avi, about 15 x 8 m: people get plan positions and global ids (the map page)
        "    calibration: {image_points: [[0, 1], [1, 1], [1, 0.3], [0, 0.3]],"
        " map_points: [[0, 11.5], [15.4, 11.5], [15.4, 3.5], [0, 3.5]]}\n"
    )
    port = free_port()
    with fresh_pg_schema() as pg_url:
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("S3_", "DATABASE_URL", "MODEL__", "API__", "RAY_")) or k == "MODEL__EXPORT_DIR"}
        # 4 logical CPUs (on 2 cores): the live detector holds 1 and the uploaded job's detector replica needs another.
        env = keep | {
            "DATA_DIR": str(data), "DATABASE_URL": pg_url, "REDIS_URL": "redis://127.0.0.1:6379/13",
            "API__PORT": str(port), "API__WEBUI_DIR": str(WEBUI / "dist"), "RAY_NUM_CPUS": "4", "MODEL__IMGSZ": "640",
            "DETECTOR__NUM_CPUS": "1", "CAMERA__NUM_CPUS": "0.1", "API__NUM_CPUS": "0.1", "RAY_AUTH_MODE": "disabled",
            "OMP_NUM_THREADS": "1",
        }  # fmt: skip
        up = witness("up", "--site", str(site), env=env, timeout=420)
        try:
            assert up.returncode == 0, f"witness up failed:\n{up.stdout}\n{up.stderr[-4000:]}"
            password = re.search(r"password (\S+)", up.stdout).group(1)
            base = f"http://127.0.0.1:{port}"
            yield {"base": base, "password": password, "pg_url": pg_url, "data": data, "env": env}
        finally:
            down = witness("down", env=env, timeout=180)
            assert down.returncode == 0, down.stderr[-3000:]


def test_the_ui_is_served_by_the_ingress(platform):
    index = httpx.get(f"{platform['base']}/alerts/123", timeout=30)
    assert index.status_code == 200 and '<div id="root">' in index.text
    # served under the CSP: the browser run below fails on any console error, CSP violations included
    assert "script-src 'self';" in index.headers["content-security-policy"]
    assert httpx.get(f"{platform['base']}/api/v1/nope", timeout=30).headers["content-type"] == "application/json"


def test_operator_flows_in_a_real_browser(platform, vtest_path, tmp_path):
    alert_id = seed_alert(platform["pg_url"])
    clip = cut_clip(vtest_path, tmp_path / "till-2s.mp4")
    token = httpx.post(f"{platform['base']}/api/v1/auth/login", timeout=30,
                       json={"username": "admin", "password": platform["password"]}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    wait_for(lambda: httpx.get(f"{platform['base']}/api/v1/cameras/{CAMERA}/status", headers=headers, timeout=30)
             .json().get("fps_out", 0) > 0, timeout_s=180, what="the camera streaming through the model")  # fmt: skip
    shots = WEBUI / "e2e" / "screenshots"
    shutil.rmtree(shots, ignore_errors=True)
    env = os.environ | {
        "WITNESS_URL": platform["base"], "WITNESS_USER": "admin", "WITNESS_PASSWORD": platform["password"],
        "WITNESS_CAMERA": CAMERA, "WITNESS_ALERT": alert_id, "WITNESS_CLIP": str(clip), "WITNESS_SCREENSHOTS": str(shots),
        "CHROMIUM_PATH": CHROMIUM,
    }  # fmt: skip
    run = subprocess.run(["node", "e2e/run.mjs"], cwd=WEBUI, env=env, capture_output=True, text=True, timeout=420)
    assert run.returncode == 0, f"browser run failed:\n{run.stdout[-6000:]}\n{run.stderr[-6000:]}"
    names = {p.name for p in shots.glob("*.png")}
    for page in ("01-login", "02-dashboard-dark", "03-live-grid", "03b-map", "03c-person-panel", "07-job-done",
                 "07b-playback", "07c-analytics-landing", "07d-analytics", "11-alert-dismissed", "13-zone-applied",
                 "19-settings", "22-live-tablet"):  # fmt: skip
        assert f"{page}.png" in names, f"no screenshot of {page}: {sorted(names)}"
    zones = httpx.get(f"{platform['base']}/api/v1/cameras/{CAMERA}/zones", headers=headers, timeout=30).json()
    assert "e2e-zone" in zones
    history = httpx.get(f"{platform['base']}/api/v1/alerts/{alert_id}", headers=headers, timeout=30).json()["history"]
    assert [(h["action"], h["to_status"]) for h in history] == [("dismiss", "dismissed")]
