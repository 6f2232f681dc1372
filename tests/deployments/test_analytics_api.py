"""The analytics, environments, export, report-schedule and playback API on PostgreSQL and SQLite.

One app per backend (module fixtures), built through `create_app` with the live analytics routers,
a real Redis (`Hub`) and export jobs run on worker threads by the same `run_export` the Ray tasks
run. Data: the hand-made `shop` store (`tests.analytics_factories`) with a real H.264 source video.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import redis as redis_lib
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlmodel import Session

from actors.ring_buffer import encode_mp4
from deployments.api import create_app
from deployments.api.hub import Hub, tracking_channel
from deployments.api.routes import playback
from deployments.live import analytics_routers
from domain.notifications import verify
from domain.events import EventType
from pipelines.exports import ExportRunnerConfig, ThreadExportRunner
from storage import crud
from storage.db import make_engine, migrate
from storage.models import UserRole
from storage.objectstore import LocalObjectStore
from tests.analytics_factories import FPS, VIDEO_START, store_shop_job, store_shop_site, write_shop_video
from tests.conftest import fresh_pg_schema
from tests.deployments.conftest import DEFAULT_REDIS_URL, _delete_prefix, bearer, create_random_user, login, make_config
from tests.factories import make_event

T0 = VIDEO_START
RANGE = {"from": (T0 - timedelta(minutes=30)).isoformat(), "to": (T0 + timedelta(minutes=90)).isoformat()}
SECRET = "report-webhook-secret-0123456789"


class WebhookSink:
    """A real HTTP server keeping every POST (headers and body)."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                sink.posts.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/reports"


class SmtpSink:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mail() -> Iterator[tuple[int, SmtpSink]]:
    port, sink = _free_port(), SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, sink
    controller.stop()


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mail) -> Iterator[dict[str, Any]]:  # noqa: ANN001
    """App, client, users and the shop data on one backend."""
    tmp = tmp_path_factory.mktemp(f"analytics-{request.param}")
    with contextlib_backend(request.param, tmp) as url:
        engine = make_engine(url)
        migrate(engine)
        video_path = tmp / "shop-cam.mp4"
        write_shop_video(video_path)
        with Session(engine, expire_on_commit=False) as s:
            camera_id = store_shop_site(s, camera_group="front")
            job_id, video_id = store_shop_job(s, uri=str(video_path))
        store = LocalObjectStore(tmp / "objects")
        redis_url = DEFAULT_REDIS_URL
        runner = ThreadExportRunner(ExportRunnerConfig(
            database_url=url, redis_url=redis_url, store={"local_dir": str(tmp / "objects")}, cache_dir=tmp / "cache",
            notify={"webhook_secret": SECRET, "smtp_host": "127.0.0.1", "smtp_port": mail[0], "max_attempts": 2,
                    "backoff_base_s": 0.05, "timeout_s": 5},
        ), max_workers=2)  # fmt: skip
        client_redis = redis_lib.Redis.from_url(redis_url)
        prefix = f"witness-test:analytics-{request.param}:"
        app = create_app(engine=engine, redis=client_redis, config=make_config(prefix), extra_routers=analytics_routers(),
                         public_routers=[playback.media_router],
                         state={"store": store, "export_runner": runner, "hub": Hub(redis_url)})  # fmt: skip
        users = {
            "admin": create_random_user(engine, UserRole.ADMIN),
            "supervisor": create_random_user(engine, UserRole.SUPERVISOR),
            "front": create_random_user(engine, UserRole.VIEWER, camera_groups=["front"]),
            "other": create_random_user(engine, UserRole.VIEWER, camera_groups=["back-office"]),
        }
        with TestClient(app) as client:
            headers = {k: bearer(login(client, u.username)) for k, u in users.items()}
            yield {"client": client, "h": headers, "engine": engine, "camera": camera_id, "job": job_id,
                   "video": video_id, "runner": runner, "store": store, "redis": client_redis, "tmp": tmp,
                   "mail": mail[1], "backend": request.param}  # fmt: skip
        runner.close()
        _delete_prefix(client_redis, prefix)
        client_redis.close()
        engine.dispose()


class contextlib_backend:  # noqa: N801  (a context manager used like a function)
    """The database URL of a backend: a fresh PostgreSQL schema, or a SQLite file."""

    def __init__(self, backend: str, tmp: Path) -> None:
        self.backend, self.tmp = backend, tmp
        self._pg = fresh_pg_schema() if backend == "postgresql" else None

    def __enter__(self) -> str:
        return self._pg.__enter__() if self._pg else f"sqlite:///{self.tmp / 'witness.db'}"

    def __exit__(self, *exc: Any) -> None:
        if self._pg:
            self._pg.__exit__(*exc)


def get(env: dict, path: str, who: str = "admin", **params: Any) -> Any:
    return env["client"].get(f"/api/v1{path}", params={**RANGE, **params}, headers=env["h"][who])


def wait_export(env: dict, export_id: str, who: str = "admin") -> dict:
    env["runner"].wait(export_id, timeout_s=120)
    r = env["client"].get(f"/api/v1/export/jobs/{export_id}/status", headers=env["h"][who])
    assert r.status_code == 200, r.text
    return r.json()


# ---------------------------------------------------------------------------------------- queries
def test_environments_list_the_store_with_its_cameras_zones_and_dates(env) -> None:
    r = env["client"].get("/api/v1/environments", headers=env["h"]["admin"])
    assert r.status_code == 200, r.text
    shop = next(e for e in r.json()["data"] if e["environment_id"] == "shop")
    assert shop["name"] == "Corner shop" and shop["timezone"] == "UTC"
    cam = shop["cameras"][0]
    assert cam["id"] == env["camera"] and {z["name"] for z in cam["zones"]} == {"aisle", "till"} and cam["lines"] == ["door"]
    assert shop["available_dates"] == ["2026-03-02"]
    assert shop["data_range"]["from"].startswith("2026-03-02T10:00:00")


def test_occupancy_over_time_with_peak_and_mean(env) -> None:
    r = get(env, "/analytics/zones/aisle/occupancy", site_id="shop", bucket_s=5,
            **{"from": T0.isoformat(), "to": (T0 + timedelta(seconds=20)).isoformat()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["peak"] for p in body["series"]] == [2, 2, 1, 0]  # two people in the aisle at first
    assert body["peak"] == 2 and body["peak_at"].startswith("2026-03-02T10:00:00")
    assert body["cameras"] == [env["camera"]] and body["bucket_s"] == 5
    minute = get(env, "/analytics/zones/aisle/occupancy", bucket_s=60).json()  # without site_id: found by zone
    assert minute["site"] == "shop" and minute["peak"] == 2 and len(minute["series"]) == 120


def test_a_range_without_data_is_an_empty_series_with_the_range_echoed(env) -> None:
    later = {"from": "2026-04-01T00:00:00Z", "to": "2026-04-02T00:00:00Z"}
    r = get(env, "/analytics/zones/aisle/occupancy", site_id="shop", **later)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["series"] == [] and body["peak"] == 0 and body["peak_at"] is None
    assert body["range"] == {"from": "2026-04-01T00:00:00Z", "to": "2026-04-02T00:00:00Z"}
    summary = get(env, "/analytics/historical/shop/summary", **later).json()
    assert summary["unique_people"] == 0 and summary["range"]["from"] == "2026-04-01T00:00:00Z"


@pytest.mark.parametrize(
    ("path", "params", "status", "names"),
    [
        ("/analytics/zones/aisle/occupancy", {"from": None}, 422, "from"),  # unbounded
        ("/analytics/zones/aisle/occupancy", {"to": None}, 422, "to"),
        ("/analytics/zones/aisle/occupancy", {"from": "2026-03-03T00:00:00Z", "to": "2026-03-02T00:00:00Z"}, 422,
         "inverted"),
        ("/analytics/zones/aisle/occupancy", {"from": "2025-01-01T00:00:00Z", "to": "2026-03-02T00:00:00Z"}, 422,
         "at most 93 days"),
        ("/analytics/zones/aisle/occupancy", {"bucket_s": 1, "from": "2026-03-02T00:00:00Z",
                                              "to": "2026-03-03T00:00:00Z"}, 422, "bucket_s"),
        ("/analytics/zones/nowhere/occupancy", {"site_id": "shop"}, 404, "zone 'nowhere' not found"),
        ("/analytics/zones/aisle/occupancy", {"site_id": "mall"}, 404, "site 'mall' not found"),
        ("/analytics/heatmap/mall", {}, 404, "site 'mall' not found"),
        ("/analytics/heatmap/shop", {"camera_id": "shop.nope"}, 404, "camera 'shop.nope' not found"),
        ("/analytics/dwell/shop", {"zone": "nowhere"}, 404, "zone 'nowhere' not found"),
        ("/analytics/historical/shop/summary", {"from": "yesterday"}, 422, "from"),
    ],
)
def test_bad_input_names_the_input(env, path, params, status, names) -> None:
    query = {**RANGE, **params}
    query = {k: v for k, v in query.items() if v is not None}
    r = env["client"].get(f"/api/v1{path}", params=query, headers=env["h"]["admin"])
    assert r.status_code == status, r.text
    assert names in r.text


def test_dwell_histogram_median_p90_visits_and_bounces(env) -> None:
    r = get(env, "/analytics/dwell/shop", zone="aisle")
    assert r.status_code == 200, r.text
    (aisle,) = r.json()["data"]
    assert aisle["visits"] == 2 and aisle["median_s"] == pytest.approx(9.5)  # 13 s and 6 s
    assert aisle["p90_s"] == pytest.approx(12.3) and aisle["bounces"] == 0
    assert sum(b["visits"] for b in aisle["histogram"]) == 2 and aisle["histogram"][-1]["to_s"] is None
    every = get(env, "/analytics/dwell/shop").json()["data"]
    assert {d["zone"] for d in every} == {"aisle", "till"}


def test_counts_lines_zones_people_and_hours(env) -> None:
    body = get(env, "/analytics/counts/shop").json()
    assert body["lines"] == [{"camera_id": env["camera"], "line": "door", "in": 1, "out": 0}]
    zones = {(z["zone"]): (z["entries"], z["exits"]) for z in body["zones"]}
    assert zones == {"": (3, 3), "aisle": (2, 2), "till": (2, 2)}
    assert body["unique_people"] == 3 and body["people_identity"] == "track"
    assert body["hour_of_day"][10] == 3 and sum(body["hour_of_day"]) == 3


def test_heatmap_as_a_grid_and_as_a_png_overlay(env) -> None:
    body = get(env, "/analytics/heatmap/shop").json()
    assert body["floor_plan"] is False
    (grid,) = body["data"]
    assert grid["space"] == "image" and grid["unit"] == "px" and grid["resolution_wh"] == [100, 100]
    assert grid["cell_w"] == pytest.approx(100 / grid["grid_w"]) and grid["total_person_s"] == pytest.approx(26.3, abs=0.01)
    r = get(env, "/analytics/heatmap/shop", format="png", camera_id=env["camera"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    image = cv2.imdecode(np.frombuffer(r.content, "uint8"), cv2.IMREAD_COLOR)
    assert image.shape == (100, 100, 3)  # drawn over a frame of the camera's video


def test_paths_summary_and_detection_metrics(env) -> None:
    paths = get(env, "/analytics/paths/shop").json()
    assert paths["transitions"] == [{"from": "aisle", "to": "till", "count": 1}]
    s = get(env, "/analytics/historical/shop/summary").json()
    assert (s["unique_people"], s["visits"], s["line_crossings"], s["busiest_hour"]) == (3, 3, 1, 10)
    assert s["busiest_zone"] in ("aisle", "till") and s["title"] == "Corner shop"
    (m,) = get(env, "/analytics/detection/shop").json()["data"]
    assert m["tracks"] == 3 and m["analysed_fps"] == pytest.approx(FPS) and 0 <= m["fragmentation"] <= 1


def test_users_see_only_their_camera_groups(env) -> None:
    assert get(env, "/analytics/historical/shop/summary", who="front").status_code == 200
    for path in ("/analytics/historical/shop/summary", "/analytics/heatmap/shop", "/environments/shop"):
        r = get(env, path, who="other")
        assert r.status_code == 404 and "site 'shop' not found" in r.text, path
    listed = env["client"].get("/api/v1/environments", headers=env["h"]["other"]).json()
    assert "shop" not in [e["environment_id"] for e in listed["data"]]
    body = {"site_id": "shop", **RANGE, "format": "json"}
    assert env["client"].post("/api/v1/analytics/reports/generate", json=body, headers=env["h"]["other"]).status_code == 404


# ---------------------------------------------------------------------------------- reports
def test_report_pdf_renders_to_png(env) -> None:
    r = env["client"].post("/api/v1/analytics/reports/generate", json={"site_id": "shop", **RANGE, "format": "pdf"},
                           headers=env["h"]["front"])  # fmt: skip
    assert r.status_code == 202, r.text
    job = wait_export(env, r.json()["id"], who="front")
    assert job["status"] == "done", job["error"]
    pdf = env["client"].get(job["download_url"], headers=env["h"]["front"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    out = env["tmp"] / f"report-{job['id']}"
    (out.with_suffix(".pdf")).write_bytes(pdf.content)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(out.with_suffix(".pdf")), str(out)], check=True, timeout=60)
    pages = sorted(out.parent.glob(f"{out.name}-*.png"))
    assert len(pages) >= 2
    page = cv2.imread(str(pages[0]))
    assert page is not None and page.shape[0] > page.shape[1] and (page < 200).mean() > 0.01  # a printed A4 page
    text = subprocess.run(["pdftotext", str(out.with_suffix(".pdf")), "-"], capture_output=True, text=True).stdout
    assert "Corner shop (shop)" in text and "2026-03-02 09:30" in text and "Unique people" in text


def test_report_excel_has_one_sheet_per_table_with_typed_cells(env) -> None:
    from openpyxl import load_workbook

    r = env["client"].post("/api/v1/export/analytics-report", json={"site_id": "shop", **RANGE, "format": "xlsx"},
                           headers=env["h"]["admin"])  # fmt: skip
    job = wait_export(env, r.json()["id"])
    assert job["status"] == "done" and job["filename"].endswith(".xlsx")
    data = env["client"].get(job["download_url"], headers=env["h"]["admin"]).content
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["about", "summary", "zones", "occupancy", "lines", "hours", "paths", "detection"]
    assert wb["about"]["B1"].value == "Corner shop" and isinstance(wb["about"]["B3"].value, datetime)
    zones = list(wb["zones"].iter_rows(values_only=True))
    aisle = next(row for row in zones if row[1] == "aisle")
    assert aisle[2] == 2 and isinstance(aisle[2], int) and aisle[7] == pytest.approx(9.5)  # visits, median dwell
    occupancy = list(wb["occupancy"].iter_rows(min_row=2, values_only=True))
    assert occupancy and isinstance(occupancy[0][0], datetime) and isinstance(occupancy[0][4], int)
    assert list(wb["lines"].iter_rows(min_row=2, values_only=True)) == [(env["camera"], "door", 1, 0)]


def test_report_csv_and_json(env) -> None:
    ids = [env["client"].post("/api/v1/analytics/reports/generate", json={"site_id": "shop", **RANGE, "format": f},
                              headers=env["h"]["admin"]).json()["id"] for f in ("csv", "json")]  # fmt: skip
    csv_job, json_job = (wait_export(env, i) for i in ids)
    z = zipfile.ZipFile(io.BytesIO(env["client"].get(csv_job["download_url"], headers=env["h"]["admin"]).content))
    assert {"summary.csv", "zones.csv", "paths.csv", "report.txt"} <= set(z.namelist())
    assert "aisle,till,1" in z.read("paths.csv").decode()
    doc = env["client"].get(json_job["download_url"], headers=env["h"]["admin"]).json()
    assert doc["site"] == "shop" and doc["tables"]["paths"]["rows"] == [{"from": "aisle", "to": "till", "count": 1}]


def test_a_report_over_a_long_range_is_a_job_not_a_timeout(env) -> None:
    body = {"site_id": "shop", "from": "2025-06-01T00:00:00Z", "to": "2026-06-01T00:00:00Z", "format": "json"}
    r = env["client"].post("/api/v1/analytics/reports/generate", json=body, headers=env["h"]["admin"])
    assert r.status_code == 202 and r.json()["status"] in ("pending", "running", "done")
    job = wait_export(env, r.json()["id"])
    assert job["status"] == "done" and job["progress"] == 1.0
    bad = env["client"].post("/api/v1/analytics/reports/generate", headers=env["h"]["admin"],
                             json={**body, "from": "2020-01-01T00:00:00Z"})  # fmt: skip
    assert bad.status_code == 422 and "400 days" in bad.text
    unbounded = env["client"].post("/api/v1/analytics/reports/generate", headers=env["h"]["admin"],
                                   json={"site_id": "shop", "format": "pdf"})  # fmt: skip
    assert unbounded.status_code == 422 and unbounded.json()["detail"][0]["loc"] == ["body", "from"]
    unknown = env["client"].post("/api/v1/analytics/reports/generate", headers=env["h"]["admin"],
                                 json={**body, "site_id": "mall"})  # fmt: skip
    assert unknown.status_code == 404 and "site 'mall' not found" in unknown.text


# ---------------------------------------------------------------------------------- exports
def test_video_with_overlays_decodes_at_the_right_length_and_size(env) -> None:
    r = env["client"].post("/api/v1/export/video-with-overlays", json={"job_id": env["job"], "video": "shop-cam.mp4"},
                           headers=env["h"]["admin"])  # fmt: skip
    assert r.status_code == 202, r.text
    job = wait_export(env, r.json()["id"])
    assert job["status"] == "done", job["error"]
    path = env["tmp"] / "overlay.mp4"
    path.write_bytes(env["client"].get(job["download_url"], headers=env["h"]["admin"]).content)
    cap = cv2.VideoCapture(str(path))
    frames = 0
    while cap.read()[0]:
        frames += 1
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode()
    cap.release()
    assert frames == 400 and size == (100, 100) and fourcc in ("avc1", "h264")


def test_tracking_data_export_is_a_zip_of_the_tracks(env) -> None:
    r = env["client"].post("/api/v1/export/tracking-data", json={"job_id": env["job"], "format": "mot"},
                           headers=env["h"]["admin"])  # fmt: skip
    job = wait_export(env, r.json()["id"])
    z = zipfile.ZipFile(io.BytesIO(env["client"].get(job["download_url"], headers=env["h"]["admin"]).content))
    (name,) = z.namelist()
    lines = z.read(name).decode().splitlines()
    assert {int(line.split(",")[1]) for line in lines} == {1, 2, 3}


def test_a_failed_export_says_why_and_leaves_nothing_to_download(env) -> None:
    with Session(env["engine"], expire_on_commit=False) as s:
        job_id, _ = store_shop_job(s, uri=str(env["tmp"] / "gone.mp4"), name="gone.mp4")
    r = env["client"].post("/api/v1/export/video-with-overlays", json={"job_id": job_id, "video": "gone.mp4"},
                           headers=env["h"]["admin"])  # fmt: skip
    job = wait_export(env, r.json()["id"])
    assert job["status"] == "failed" and "gone.mp4" in job["error"] and "no longer there" in job["error"]
    assert job["download_url"] is None
    d = env["client"].get(f"/api/v1/export/jobs/{job['id']}/download", headers=env["h"]["admin"])
    assert d.status_code == 409 and "failed" in d.text
    assert env["store"].list_keys(f"exports/{job['id']}/") == []


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ({"job_id": "nope", "video": "x"}, 404, "job 'nope' not found"),
        ({"job_id": "JOB", "video": "missing.mp4"}, 404, "video 'missing.mp4' not found"),
        ({"job_id": "JOB"}, 422, "video"),
        ({}, 422, "job_id"),
        ({"camera_id": "shop.cam"}, 422, "from"),  # a live range needs from / to
        ({"camera_id": "shop.nope", **RANGE}, 404, "camera 'shop.nope' not found"),
    ],
)
def test_bad_video_export_requests(env, body, status, names) -> None:
    body = {k: (env["job"] if v == "JOB" else v) for k, v in body.items()}
    r = env["client"].post("/api/v1/export/video-with-overlays", json=body, headers=env["h"]["admin"])
    assert r.status_code == status and names in r.text, r.text


def test_export_progress_websocket(env) -> None:
    r = env["client"].post("/api/v1/analytics/reports/generate", json={"site_id": "shop", **RANGE, "format": "json"},
                           headers=env["h"]["admin"])  # fmt: skip
    export_id = r.json()["id"]
    token = env["h"]["admin"]["Authorization"].split()[1]
    with env["client"].websocket_connect(f"/api/v1/ws/exports/{export_id}?access_token={token}") as ws:
        messages = [json.loads(ws.receive_text())]
        while len(messages) < 200 and messages[-1]["kind"] != "export_done" and messages[0]["status"] != "done":
            messages.append(json.loads(ws.receive_text()))
    assert messages[0]["kind"] == "export_status"
    assert wait_export(env, export_id)["status"] == "done"
    if messages[0]["status"] != "done":  # it was still running when the socket opened: progress, then the end
        assert messages[-1] == {**messages[-1], "kind": "export_done", "status": "done"}
        assert all(m["kind"] == "export_progress" for m in messages[1:-1])


# -------------------------------------------------------------------------------- schedules
def test_scheduled_report_is_delivered_by_webhook_and_email(env) -> None:
    hook = WebhookSink()
    body = {"site_id": "shop", "name": f"daily-{env['backend']}", "period": "daily", "format": "xlsx", "at": "06:00",
            "emails": ["manager@example.com"], "webhook_urls": [hook.url]}  # fmt: skip
    assert env["client"].post("/api/v1/analytics/reports/schedules", json=body,
                              headers=env["h"]["front"]).status_code == 403  # viewers cannot schedule
    r = env["client"].post("/api/v1/analytics/reports/schedules", json=body, headers=env["h"]["supervisor"])
    assert r.status_code == 201, r.text
    schedule = r.json()
    assert schedule["next_run_at"] is not None and schedule["origin"] == "api"
    listed = env["client"].get("/api/v1/analytics/reports/schedules", headers=env["h"]["admin"]).json()
    assert schedule["id"] in [s["id"] for s in listed["data"]]
    run = env["client"].post(f"/api/v1/analytics/reports/schedules/{schedule['id']}/run", headers=env["h"]["supervisor"])
    assert run.status_code == 202, run.text
    job = wait_export(env, run.json()["id"])
    assert job["status"] == "done" and job["schedule_id"] == schedule["id"]
    deadline = time.monotonic() + 10
    while not hook.posts and time.monotonic() < deadline:
        time.sleep(0.05)
    headers, raw = hook.posts[-1]
    assert verify(SECRET, raw, headers["X-Witness-Signature"]) and headers["X-Witness-Event"] == "report"
    assert json.loads(raw)["export_id"] == job["id"]
    to, message = env["mail"].messages[-1]
    assert to == ["manager@example.com"] and "Corner shop" in message["Subject"]
    attachment = next(p for p in message.walk() if p.get_filename())
    assert attachment.get_filename().endswith(".xlsx") and attachment.get_payload(decode=True).startswith(b"PK")
    bad = env["client"].post("/api/v1/analytics/reports/schedules", headers=env["h"]["supervisor"],
                             json={**body, "emails": [], "webhook_urls": []})  # fmt: skip
    assert bad.status_code == 422 and "emails" in bad.text
    assert env["client"].delete(f"/api/v1/analytics/reports/schedules/{schedule['id']}",
                                headers=env["h"]["supervisor"]).status_code == 204  # fmt: skip
    hook.server.shutdown()


def test_the_worker_runs_a_due_schedule_once(env) -> None:
    from domain.analytics import AnalyticsParams
    from domain.analytics_report import ReportScheduleConfig
    from pipelines.reports_scheduler import AnalyticsWorker
    from storage import analytics_exports as repo

    with Session(env["engine"], expire_on_commit=False) as s:
        row = repo.put_schedule(s, site="shop", name=f"weekly-{env['backend']}", tz="UTC", now=T0,
                                config=ReportScheduleConfig(period="weekly", format="json", emails=["a@example.com"]))  # fmt: skip
    worker = AnalyticsWorker(env["engine"], AnalyticsParams(), env["runner"])
    later = row.next_run_at + timedelta(minutes=1)
    first, second = worker.tick(now=later), worker.tick(now=later)
    assert len(first.reports) == 1 and second.reports == [] and not first.errors
    job = wait_export(env, first.reports[0])
    assert job["status"] == "done" and job["params"]["to"].startswith(row.next_run_at.date().isoformat())


# --------------------------------------------------------------------------------- real time
def test_real_time_metrics_and_the_analytics_update_socket(env) -> None:
    client, token = env["client"], env["h"]["admin"]["Authorization"].split()[1]
    first = client.get("/api/v1/analytics/real-time/metrics", params={"site_id": "shop"}, headers=env["h"]["admin"])
    assert first.status_code == 200 and first.json()["environment_id"] == "shop"
    message = {"kind": "tracking_update", "type": "tracking_update", "camera_id": env["camera"], "resolution_wh": [100, 100],
               "tracks": [{"track_id": 1, "bbox_xyxy": [10, 10, 20, 60]}, {"track_id": 2, "bbox_xyxy": [20, 10, 30, 60]},
                          {"track_id": 3, "bbox_xyxy": [70, 10, 80, 40]}]}  # fmt: skip
    deadline = time.monotonic() + 10
    body: dict = {}
    while time.monotonic() < deadline:
        env["redis"].publish(tracking_channel(env["camera"]), json.dumps({**message, "t": time.time()}))
        body = client.get("/api/v1/analytics/real-time/metrics", params={"site_id": "shop"},
                          headers=env["h"]["admin"]).json()  # fmt: skip
        if body["live_metrics"]["total_persons"]:
            break
        time.sleep(0.1)
    live = body["live_metrics"]
    assert live["total_persons"] == 3 and live["persons_per_camera"] == {env["camera"]: 3}
    assert live["zone_occupancy"][f"{env['camera']}/aisle"] == 2
    assert body["alerts"] == [{"type": "high_occupancy", "camera_id": env["camera"], "zone": "aisle", "count": 2,
                               "threshold": 1}]  # the site's `crowd` rule: more than 1 person  # fmt: skip
    with client.websocket_connect(f"/api/v1/ws/analytics/shop?access_token={token}") as ws:
        update = json.loads(ws.receive_text())
    assert update["type"] == "analytics_update" and update["payload"]["environment_id"] == "shop"
    r = client.get("/api/v1/analytics/real-time/metrics", params={"site_id": "shop"}, headers=env["h"]["other"])
    assert r.status_code == 404


# --------------------------------------------------------------------------------- playback
def test_playback_info_tracks_and_a_signed_media_url_with_ranges(env) -> None:
    client, h = env["client"], env["h"]["admin"]
    info = client.get(f"/api/v1/playback/videos/{env['video']}", headers=h).json()
    assert info["source_playable"] is True and info["fps"] == FPS and info["frame_count"] == 400
    assert {z["name"] for z in info["zones"]} == {"aisle", "till"} and info["lines"][0]["name"] == "door"
    assert [e["type"] for e in info["events"]] == ["zone_enter", "zone_exit"]
    tracks = client.get(f"/api/v1/playback/videos/{env['video']}/tracks", headers=h, params={"from_s": 0, "to_s": 10}).json()
    assert {t["track_id"] for t in tracks["tracks"]} == {1, 2} and tracks["stride"] == 1
    assert info["plan"] is None and all(t["map_xy"] is None for t in tracks["tracks"])  # not calibrated: no map replay
    media = client.get(f"/api/v1/playback/videos/{env['video']}/media-url", headers=h).json()
    part = client.get(media["url"], headers={"Range": "bytes=0-99"})  # no Authorization: the URL is the credential
    assert part.status_code == 206 and len(part.content) == 100
    assert client.get(media["url"][:-4] + "abcd").status_code == 404  # a forged token
    assert client.get(f"/api/v1/playback/videos/{env['video']}", headers=env["h"]["other"]).status_code == 404


def test_a_live_cameras_evidence_clips_over_a_range_join_into_one_video(env) -> None:
    t_live = (T0 + timedelta(hours=3)).timestamp()
    clips, events = [], []
    for i, n in enumerate((12, 8)):  # two stored evidence clips, 12 and 8 frames of 100×100 at 10 fps
        path = env["tmp"] / f"live-{env['backend']}-{i}.mp4"
        encode_mp4((np.full((100, 100, 3), 40 * i, np.uint8) for _ in range(n)), 10.0, path)
        key = f"clips/live/{env['camera']}/ev{i}.mp4"
        env["store"].put_file(key, path, "video/mp4")
        eid = f"live-clip-{env['backend']}-{i}"
        start = t_live + 60 * i
        events.append((eid, make_event(EventType.ZONE_ENTER, camera_id=env["camera"], track_id=9, zone="aisle", t_start_s=i,
                                       payload={"epoch_start_s": start, "epoch_end_s": start})))  # fmt: skip
        clips.append({"event_id": eid, "key": key, "t_start_s": i, "t_end_s": i + n / 10, "frame_count": n, "fps": 10.0,
                      "width": 100, "height": 100})  # fmt: skip
    with Session(env["engine"]) as s:
        crud.save_live_events(s, events=events, clips=clips)
    window = {"from": (T0 + timedelta(hours=2, minutes=50)).isoformat(), "to": (T0 + timedelta(hours=3, minutes=5)).isoformat()}
    r = env["client"].post("/api/v1/export/video-with-overlays", json={"camera_id": env["camera"], **window},
                           headers=env["h"]["admin"])  # fmt: skip
    job = wait_export(env, r.json()["id"])
    assert job["status"] == "done", job["error"]
    out = env["tmp"] / f"live-range-{env['backend']}.mp4"
    out.write_bytes(env["client"].get(job["download_url"], headers=env["h"]["admin"]).content)
    cap = cv2.VideoCapture(str(out))
    frames = 0
    while cap.read()[0]:
        frames += 1
    cap.release()
    assert frames == 20
    empty = {"from": "2026-05-01T00:00:00Z", "to": "2026-05-01T01:00:00Z"}
    r = env["client"].post("/api/v1/export/video-with-overlays", json={"camera_id": env["camera"], **empty},
                           headers=env["h"]["admin"])  # fmt: skip
    failed = wait_export(env, r.json()["id"])
    assert failed["status"] == "failed" and "no stored evidence clip in the range" in failed["error"]


def test_a_calibrated_site_has_a_floor_plan_heatmap(tmp_path: Path) -> None:
    from domain.site import parse_site_yaml
    from tests.storage.test_analytics_rollup import CALIBRATED_SHOP

    engine = make_engine(f"sqlite:///{tmp_path / 'witness.db'}")
    migrate(engine)
    with Session(engine, expire_on_commit=False) as s:
        crud.import_site_config(s, parse_site_yaml(CALIBRATED_SHOP, source="shop.yaml"))
        _, video_id = store_shop_job(s)
    client_redis = redis_lib.Redis.from_url(DEFAULT_REDIS_URL)
    prefix = "witness-test:analytics-plan:"
    app = create_app(engine=engine, redis=client_redis, config=make_config(prefix), extra_routers=analytics_routers(),
                     state={"store": LocalObjectStore(tmp_path / "objects")})
    try:
        with TestClient(app) as client:
            env = {"client": client, "h": {"admin": bearer(login(client, create_random_user(engine, UserRole.ADMIN).username))}}
            assert get(env, "/environments/shop").json()["calibrated"] is True
            body = get(env, "/analytics/heatmap/shop").json()
            assert body["floor_plan"] is True
            plan, image = body["data"]
            assert (plan["space"], plan["unit"], plan["camera_id"], plan["cameras"]) == ("plan", "m", None, ["shop.cam"])
            assert plan["cell_w"] == plan["cell_h"] == 0.5 and (plan["grid_w"], plan["grid_h"]) == (24, 24)
            assert plan["total_person_s"] == pytest.approx(image["total_person_s"], abs=0.01)
            r = get(env, "/analytics/heatmap/shop", format="png", space="plan")
            assert r.status_code == 200 and r.headers["content-type"] == "image/png"
            png = cv2.imdecode(np.frombuffer(r.content, "uint8"), cv2.IMREAD_COLOR)
            assert png.shape == (24 * 32, 24 * 32, 3) and png.std() > 0  # heat drawn on the plan's grid
            r = get(env, "/analytics/heatmap/shop", format="png", space="plan", camera_id="shop.nope")
            assert r.status_code == 404
            # The map replay: the camera's place on the plan, and each stored point's foot on it.
            info = client.get(f"/api/v1/playback/videos/{video_id}", headers=env["h"]["admin"]).json()
            assert info["plan"]["extent_m"] == pytest.approx([0.0, 0.0, 12.0, 12.0], abs=1e-6)
            assert len(info["plan"]["field_of_view"]) > 4
            tracks = client.get(f"/api/v1/playback/videos/{video_id}/tracks", headers=env["h"]["admin"]).json()["tracks"]
            first = next(t for t in tracks if t["track_id"] == 1)
            assert len(first["map_xy"]) == len(first["frames"])
            assert first["map_xy"][0] == pytest.approx([4.0, 8.0], abs=1e-3)  # foot (20, 60) px of 100: 2 + 0.2 * 10, 2 + 0.6 * 10
    finally:
        _delete_prefix(client_redis, prefix)
        client_redis.close()
        engine.dispose()


def test_space_plan_without_a_calibration_is_422(env) -> None:
    r = get(env, "/analytics/heatmap/shop", format="png", space="plan")
    assert r.status_code == 422 and "no camera calibrated" in r.text
