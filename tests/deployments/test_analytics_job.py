"""Analytics over a real job: `witness analyze` (local Ray, the real model) on an 18 s cut of vtest.avi,
then the analytics API, a report and a video export on its results, on SQLite and on PostgreSQL.

The job runs once (SQLite, the embedded defaults, the example site file imported first so the
rollup has the zones' polygons); its stored results are then written to PostgreSQL through the same
storage call the job uses (`crud.save_video_results`), so both backends answer over the same footage.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
import redis as redis_lib
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from deployments.api import create_app
from deployments.live import analytics_routers
from domain.site import parse_site_yaml
from pipelines.export import trajectories_of_video
from pipelines.exports import ExportRunnerConfig, ThreadExportRunner
from storage import crud
from storage.db import make_engine, migrate
from storage.models import Event, UserRole
from storage.objectstore import LocalObjectStore
from tests.conftest import fresh_pg_schema
from tests.deployments.conftest import DEFAULT_REDIS_URL, _delete_prefix, bearer, create_random_user, login, make_config
from tests.pipelines.test_bulk_job import SITE, base_env, summary_of, vtest_clip, witness  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow
CAMERA = "demo-store.vtest"


@pytest.fixture(scope="module")
def analysed(tmp_path_factory, vtest_clip) -> dict[str, Any]:  # noqa: ANN001, F811
    """The job, run like a user runs it, on SQLite in its own DATA_DIR."""
    data_dir = tmp_path_factory.mktemp("analytics-job")
    engine = make_engine(f"sqlite:///{data_dir / 'witness.db'}")
    migrate(engine)
    with Session(engine) as s:
        crud.import_site_config(s, parse_site_yaml(SITE.read_text(), source=str(SITE)))
    engine.dispose()
    proc = witness("analyze", str(vtest_clip), "--site", str(SITE), "--fps", "5", "--imgsz", "960", "--json",
                   env=base_env(data_dir))  # fmt: skip
    summary = summary_of(proc)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"data_dir": data_dir, "summary": summary, "url": f"sqlite:///{data_dir / 'witness.db'}"}


def _copy_to(url: str, source_url: str) -> None:
    """The job's stored results written into another database through `crud.save_video_results`."""
    src, dst = make_engine(source_url), make_engine(url)
    migrate(dst)
    with Session(src, expire_on_commit=False) as a, Session(dst, expire_on_commit=False) as b:
        crud.import_site_config(b, parse_site_yaml(SITE.read_text(), source=str(SITE)))
        for job in crud.list_jobs(a)[0]:
            copy = crud.create_job(b, params={k: v for k, v in job.params.items() if k != "inputs"}, inputs=job.params["inputs"])
            for v_src, v_dst in zip(crud.list_videos(a, job.id), crud.list_videos(b, copy.id)):
                crud.update_video_probe(b, v_dst.id, camera_id=v_src.camera_id, fps=v_src.fps, frame_count=v_src.frame_count,
                                        width=v_src.width, height=v_src.height, codec=v_src.codec,
                                        duration_s=v_src.duration_s, size_bytes=v_src.size_bytes)  # fmt: skip
                trajectories, _ = trajectories_of_video(a, v_src.id)
                from domain.events import Event as DomainEvent
                from domain.events import EventType

                events = [(e.id, DomainEvent(EventType(e.type), e.rule, e.camera_id, e.track_id, e.zone, e.t_start_s,
                                             e.t_end_s, e.frame_start, e.frame_end, e.confidence, e.payload))
                          for e in a.exec(select(Event).where(Event.video_id == v_src.id)).all()]  # fmt: skip
                crud.save_video_results(b, video_id=v_dst.id, trajectories=trajectories, events=events, clips=[],
                                        frames_analysed=v_src.frames_analysed, people_count=v_src.people_count)  # fmt: skip
            crud.finish_job(b, copy.id)
    src.dispose()
    dst.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, analysed, tmp_path_factory) -> Iterator[dict[str, Any]]:  # noqa: ANN001
    tmp = tmp_path_factory.mktemp(f"analytics-job-{request.param}")
    pg = fresh_pg_schema() if request.param == "postgresql" else None
    url = pg.__enter__() if pg else analysed["url"]
    try:
        if pg:
            _copy_to(url, analysed["url"])
        engine = make_engine(url)
        runner = ThreadExportRunner(ExportRunnerConfig(database_url=url, store={"local_dir": str(tmp / "objects")},
                                                       cache_dir=tmp / "cache"))  # fmt: skip
        client_redis = redis_lib.Redis.from_url(DEFAULT_REDIS_URL)
        app = create_app(engine=engine, redis=client_redis, config=make_config(f"witness-test:ajob-{request.param}:"),
                         extra_routers=analytics_routers(),
                         state={"store": LocalObjectStore(tmp / "objects"), "export_runner": runner})  # fmt: skip
        admin = create_random_user(engine, UserRole.ADMIN)
        with TestClient(app) as client:
            headers = bearer(login(client, admin.username))
            env = client.get("/api/v1/environments", headers=headers).json()
            demo = next(e for e in env["data"] if e["environment_id"] == "demo-store")
            span = demo["data_range"]
            yield {"client": client, "h": headers, "engine": engine, "runner": runner, "demo": demo, "tmp": tmp,
                   "range": {"from": span["from"], "to": span["to"]}}  # fmt: skip
        runner.close()
        _delete_prefix(client_redis, f"witness-test:ajob-{request.param}:")
        client_redis.close()
        engine.dispose()
    finally:
        if pg:
            pg.__exit__(None, None, None)


def test_the_store_and_its_data_range(api, analysed) -> None:
    (camera,) = api["demo"]["cameras"]
    assert camera["id"] == CAMERA and {z["name"] for z in camera["zones"]} == {"aisle", "till", "doors"}
    assert camera["lines"] == ["walkway"]
    job = analysed["summary"]["videos"][0]
    from datetime import datetime

    span = api["demo"]["data_range"]
    length = datetime.fromisoformat(span["to"]) - datetime.fromisoformat(span["from"])
    assert abs(length.total_seconds() - job["duration_s"]) < 0.5


def test_occupancy_counts_and_people_follow_the_tracks(api, analysed) -> None:
    c, h, rng = api["client"], api["h"], api["range"]
    people = analysed["summary"]["videos"][0]["people"]
    view = c.get("/api/v1/analytics/zones/_view/occupancy", params={**rng, "site_id": "demo-store", "bucket_s": 1},
                 headers=h).json()  # fmt: skip
    assert view["peak"] >= 3 and len(view["series"]) >= 17  # several people on screen at once, every second of 18 s
    aisle = c.get("/api/v1/analytics/zones/aisle/occupancy", params={**rng, "site_id": "demo-store", "bucket_s": 5},
                  headers=h).json()  # fmt: skip
    assert aisle["peak"] >= 1 and aisle["peak"] <= view["peak"]
    counts = c.get("/api/v1/analytics/counts/demo-store", params=rng, headers=h).json()
    zones = {z["zone"]: z for z in counts["zones"]}
    assert zones[""]["entries"] >= people  # each track appears in view at least once
    assert counts["unique_people"] == people
    with Session(api["engine"]) as s:
        enters = s.exec(select(Event).where(Event.type == "zone_enter", Event.zone == "aisle")).all()
    # The rule's cool-down (5 s) can only suppress entries: the analytics count every visit.
    assert zones["aisle"]["entries"] >= len(enters) >= 1
    walkway = counts["lines"][0]
    assert walkway["line"] == "walkway" and walkway["in"] + walkway["out"] >= 1


def test_dwell_heatmap_paths_and_summary(api) -> None:
    c, h, rng = api["client"], api["h"], api["range"]
    dwell = {d["zone"]: d for d in c.get("/api/v1/analytics/dwell/demo-store", params=rng, headers=h).json()["data"]}
    assert dwell["aisle"]["visits"] >= 1 and 0 <= dwell["aisle"]["median_s"] <= 18
    (grid,) = c.get("/api/v1/analytics/heatmap/demo-store", params=rng, headers=h).json()["data"]
    assert grid["resolution_wh"] == [768, 576] and grid["total_person_s"] > 10
    rows = grid["cells"]
    band = sum(sum(r) for r in rows[int(0.3 * len(rows)):])  # people walk in the lower two thirds of the plaza
    assert band > 0.9 * grid["total_person_s"]
    summary = c.get("/api/v1/analytics/historical/demo-store/summary", params=rng, headers=h).json()
    assert summary["unique_people"] >= 4 and summary["busiest_zone"] in ("aisle", "till", "doors")
    paths = c.get("/api/v1/analytics/paths/demo-store", params=rng, headers=h).json()
    assert set(paths["zones"]) == {"aisle", "till", "doors"}


def test_report_and_overlay_video_of_the_job(api, analysed) -> None:
    from openpyxl import load_workbook

    c, h, rng = api["client"], api["h"], api["range"]
    report = c.post("/api/v1/analytics/reports/generate", json={"site_id": "demo-store", **rng, "format": "xlsx"}, headers=h).json()
    api["runner"].wait(report["id"], timeout_s=120)
    done = c.get(f"/api/v1/export/jobs/{report['id']}/status", headers=h).json()
    assert done["status"] == "done", done["error"]
    wb = load_workbook(io.BytesIO(c.get(done["download_url"], headers=h).content))
    people = next(r for r in wb["summary"].iter_rows(values_only=True) if r[0] == "Unique people")
    assert people[1] == analysed["summary"]["videos"][0]["people"]
    with Session(api["engine"]) as s:
        job_id = crud.list_jobs(s)[0][0].id
    video = c.post("/api/v1/export/video-with-overlays", json={"job_id": job_id, "video": "vtest_clip.avi"}, headers=h).json()
    api["runner"].wait(video["id"], timeout_s=300)
    status = c.get(f"/api/v1/export/jobs/{video['id']}/status", headers=h).json()
    assert status["status"] == "done", status["error"]
    path: Path = api["tmp"] / "overlay.mp4"
    path.write_bytes(c.get(status["download_url"], headers=h).content)
    cap = cv2.VideoCapture(str(path))
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert frames == 180 and (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (768, 576)
    cap.release()
