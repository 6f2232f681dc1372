"""Bulk jobs and the database under real faults (private PostgreSQL, real model at imgsz 320, local Ray):

- connecting to a paused PostgreSQL times out, the circuit opens (refusing at once) and closes again;
- a job rides out PostgreSQL paused for 8 s in the middle of its run;
- a job whose driver is killed (`witness analyze`, SIGKILL) is failed by the reaper with the reason;
- a detector replica that keeps crashing fails the job after finite retries (Ray Data's default is for ever);
- cancelling a job ends its running Ray work (the driver task and its replicas), not only its row.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import cv2
import psutil
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from cluster.settings import ClipSettings, JobSettings, ModelSettings, Settings, TrackerSettings
from domain.site import SiteConfig
from pipelines.bulk import JobOptions, run_job
from storage import crud
from storage.db import make_engine, migrate
from storage.models import JobStatus
from storage.objectstore import LocalObjectStore
from tests.conftest import TEST_RUN_ENV, stop_run_processes
from tests.faults.harness import PrivatePostgres, tmp_root

pytestmark = [pytest.mark.faults, pytest.mark.slow]
REPLICA = "MapWorker(MapBatches(PoseStage))"  # the bulk job's pose stage (pipelines/pose_stage.py)


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivatePostgres]:
    root = tmp_root("witness-jobfaults-")
    server = PrivatePostgres(root / "pg")
    server.start()
    engine = make_engine(server.url)
    migrate(engine)
    engine.dispose()
    yield server
    server.close()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    import ray

    from cluster.runtime import init_ray

    started = not ray.is_initialized()
    init_ray(Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("ray"), ray_num_cpus=2))
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def clip_6s(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clip") / "vtest_6s.avi"
    cap = cv2.VideoCapture(str(vtest_path))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 10, (768, 576))
    for _ in range(60):
        writer.write(cap.read()[1])
    writer.release()
    cap.release()
    return out


def options(tmp: Path, imgsz: int = 320, **reliability: float) -> JobOptions:
    return JobOptions(model=ModelSettings(imgsz=imgsz), tracker=TrackerSettings(), job=JobSettings(chunk_s=2, overlap_s=0),
                      clip=ClipSettings(), cache_dir=tmp / "cache", fps=10,
                      reliability={"job_heartbeat_s": 1.0, "db_retry_s": 60.0, "job_max_retries": 1} | reliability)  # fmt: skip


def job_row(engine: sa.Engine, job_id: str):
    with Session(engine) as s:
        return crud.get_job(s, job_id), crud.list_videos(s, job_id)


def our_replicas() -> list[psutil.Process]:
    """This run's detector replica processes (never another test run's)."""
    run = os.environ[TEST_RUN_ENV]
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if REPLICA in " ".join(p.info["cmdline"] or []) and p.environ().get(TEST_RUN_ENV) == run:
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_paused_postgres_times_out_and_the_circuit_sheds_then_recovers(pg: PrivatePostgres) -> None:
    engine = make_engine(pg.url, connect_timeout_s=2, breaker_failures=2, breaker_reset_s=2.0)
    pg.pause()
    try:
        times, errors = [], []
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises(sa.exc.OperationalError) as caught:
                with engine.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
            times.append(time.monotonic() - started)
            errors.append(str(caught.value))
    finally:
        pg.resume()
    resumed = time.monotonic()
    while True:
        try:
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT 1")).scalar() == 1
            break
        except sa.exc.OperationalError:
            assert time.monotonic() - resumed < 10, "the circuit did not close again"
            time.sleep(0.2)
    recovery = time.monotonic() - resumed
    print(f"FAULT PostgreSQL paused (new connections): connect attempts took {[round(t, 2) for t in times]} s "
          f"(timeout 2 s, then the circuit refuses at once); recovered {recovery:.1f} s after SIGCONT")
    assert times[0] < 5 and times[1] < 5  # the connect timeout, not for ever
    assert "circuit open" in errors[2] and times[2] < 0.5  # shed, not queued behind another timeout
    assert recovery <= 10
    engine.dispose()


def test_job_rides_out_postgres_paused_mid_run(pg: PrivatePostgres, ray_cluster: None, clip_6s: Path,
                                               tmp_path: Path) -> None:  # fmt: skip
    engine = make_engine(pg.url, connect_timeout_s=2)
    job: dict[str, str] = {}
    paused: dict[str, float] = {}

    def progress(done: int, total: int) -> None:
        if done > 0 and "at" not in paused:  # the first batch is in: the database goes away for 8 s
            paused["at"] = time.monotonic()
            pg.pause()
            threading.Timer(8.0, pg.resume).start()

    outcome = run_job([str(clip_6s)], site=SiteConfig.default(), engine=engine, store=LocalObjectStore(tmp_path / "o"),
                      options=options(tmp_path), progress=progress, on_job_created=lambda j: job.update(id=j))  # fmt: skip
    took = time.monotonic() - paused["at"]
    print(f"FAULT PostgreSQL paused mid-job: SIGSTOP for 8.0 s after the first batch; job {outcome.status} "
          f"{took:.1f} s after the pause began (videos: {[(v.status, v.error) for v in outcome.videos]})")
    assert outcome.status == "done" and [v.status for v in outcome.videos] == ["done"]
    row, videos = job_row(engine, job["id"])
    assert row.status is JobStatus.DONE and row.heartbeat_at is not None and videos[0].frames_analysed > 0
    engine.dispose()


def test_killed_job_driver_is_failed_by_the_reaper(pg: PrivatePostgres, clip_6s: Path, tmp_path: Path) -> None:
    from deployments.jobs import JobRunnerConfig, RayJobRunner

    engine = make_engine(pg.url, connect_timeout_s=2)
    run_id = uuid.uuid4().hex
    env = os.environ | {TEST_RUN_ENV: run_id, "DATABASE_URL": pg.url, "DATA_DIR": str(tmp_path / "data"),
                        "MODEL__IMGSZ": "320", "RELIABILITY__JOB_HEARTBEAT_S": "1", "RAY_NUM_CPUS": "1"}  # fmt: skip
    with Session(engine) as s:
        before = {j.id for j in crud.list_jobs(s, limit=1000)[0]}
    driver = subprocess.Popen([sys.executable, "-m", "cluster.cli", "analyze", str(clip_6s)], env=env, cwd=Path.cwd(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        job_id = None
        while time.monotonic() < deadline and job_id is None:
            with Session(engine) as s:
                beating = [j for j in crud.list_jobs(s, limit=1000)[0]
                           if j.id not in before and j.status is JobStatus.RUNNING and j.heartbeat_at is not None]  # fmt: skip
            job_id = beating[0].id if beating else None
            time.sleep(0.3)
        assert job_id is not None, "the driver never started its job"
        config = JobRunnerConfig(database_url=pg.url, redis_url="redis://127.0.0.1:1/0",
                                 store={"local_dir": tmp_path, "s3_endpoint": None}, model=ModelSettings(),
                                 tracker=TrackerSettings(), job=JobSettings(), clip=ClipSettings(), cache_dir=tmp_path,
                                 reliability={"job_stale_s": 3.0})  # fmt: skip
        runner = RayJobRunner(config, engine=engine)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and its local Ray, as a crash would
        killed_at = time.monotonic()
        driver.wait(30)
    assert job_id not in dict(runner.reap())  # its last heartbeat is fresh: not reaped yet
    reaped = []
    while not reaped and time.monotonic() - killed_at < 20:
        reaped = [r for r in runner.reap() if r[0] == job_id]
        time.sleep(0.2)
    took = time.monotonic() - killed_at
    stop_run_processes(run_id, grace_s=2.0)
    row, videos = job_row(engine, job_id)
    print(f"FAULT job driver killed: SIGKILL of `witness analyze`; job {row.status.value} by the reaper {took:.1f} s "
          f"later (stale after 3 s): {row.error}")  # fmt: skip
    assert row.status is JobStatus.FAILED and "job driver lost: no heartbeat" in (row.error or "")
    assert [v.status.value for v in videos] == ["failed"] and "no heartbeat" in (videos[0].error or "")
    engine.dispose()


def test_crashing_replica_fails_the_job_after_finite_retries(ray_cluster: None, clip_6s: Path, tmp_path: Path,
                                                             sqlite_engine: sa.Engine) -> None:  # fmt: skip
    kills: list[int] = []
    stop = threading.Event()

    def killer() -> None:  # every detector replica of this run dies as soon as it appears
        while not stop.is_set():
            for p in our_replicas():
                try:
                    p.kill()
                    kills.append(p.pid)
                except psutil.NoSuchProcess:
                    pass
            time.sleep(0.2)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        outcome = run_job([str(clip_6s)], site=SiteConfig.default(), engine=sqlite_engine,
                          store=LocalObjectStore(tmp_path / "o"), options=options(tmp_path, job_max_retries=1))  # fmt: skip
    finally:
        stop.set()
        thread.join(5)
    took = time.monotonic() - started
    print(f"FAULT detector replica crashing: SIGKILL of every replica as it starts ({len(set(kills))} kills); job "
          f"{outcome.status} after {took:.1f} s: {outcome.videos[0].error}")  # fmt: skip
    assert outcome.status == "failed" and outcome.videos[0].status == "failed"
    assert outcome.videos[0].error.startswith("job failed:")
    assert 1 <= len(set(kills)) <= 4  # one restart allowed, then the job gives up (no endless retries)


def test_cancel_ends_the_running_work(ray_cluster: None, pg: PrivatePostgres, clip_6s: Path, tmp_path: Path) -> None:
    import ray

    from deployments.jobs import JobRunnerConfig, RayJobRunner

    engine = make_engine(pg.url, connect_timeout_s=2)
    config = JobRunnerConfig(
        database_url=pg.url, redis_url="redis://127.0.0.1:6379/15",
        store={"local_dir": tmp_path / "objects", "s3_endpoint": None},
        model=ModelSettings(imgsz=320), tracker=TrackerSettings(), job=JobSettings(chunk_s=2, overlap_s=0),
        clip=ClipSettings(), cache_dir=tmp_path / "cache", reliability={"job_heartbeat_s": 1.0},
    )  # fmt: skip
    runner = RayJobRunner(config, engine=engine, cancel_grace_s=0.5)
    job_id = runner.submit([str(clip_6s)], site_yaml=None, fps=10, imgsz=320)
    deadline = time.monotonic() + 90
    while not our_replicas() and time.monotonic() < deadline:  # the job is running its detector replica
        time.sleep(0.2)
    assert our_replicas(), f"the job never started its replica: {job_row(engine, job_id)[0]}"
    with Session(engine) as s:
        crud.cancel_job(s, job_id)
    cancelled_at = time.monotonic()
    assert runner.cancel(job_id) is True
    ref = runner._running[job_id]
    ready, _ = ray.wait([ref], timeout=30)
    while our_replicas() and time.monotonic() - cancelled_at < 30:
        time.sleep(0.2)
    took = time.monotonic() - cancelled_at
    while job_row(engine, job_id)[1][0].status.value != "failed" and time.monotonic() - cancelled_at < 30:
        time.sleep(0.2)
    row, videos = job_row(engine, job_id)
    print(f"FAULT job cancelled mid-run: task ended and replicas gone {took:.1f} s after the cancel; job {row.status.value}, "
          f"video {videos[0].status.value} ({videos[0].error})")  # fmt: skip
    assert ready and our_replicas() == []
    assert row.status is JobStatus.CANCELLED and videos[0].status.value == "failed" and videos[0].error == "cancelled"
    engine.dispose()


def test_job_past_its_deadline_stops_with_the_reason(ray_cluster: None, clip_6s: Path, tmp_path: Path,
                                                    sqlite_engine: sa.Engine) -> None:  # fmt: skip
    started = time.monotonic()
    outcome = run_job([str(clip_6s)], site=SiteConfig.default(), engine=sqlite_engine,
                      store=LocalObjectStore(tmp_path / "o"), options=options(tmp_path, job_deadline_s=1.0))  # fmt: skip
    took = time.monotonic() - started
    print(f"FAULT job deadline: job_deadline_s=1; job {outcome.status} after {took:.1f} s: {outcome.videos[0].error}")
    assert outcome.status == "failed" and "job deadline of 1.0 s passed" in (outcome.videos[0].error or "")
    with Session(sqlite_engine) as s:
        job = crud.get_job(s, outcome.job_id)
        assert job.status is JobStatus.FAILED and "deadline" in (job.error or "")


def test_s3_down_fails_only_the_videos_with_evidence(ray_cluster: None, clip_6s: Path, tmp_path: Path,
                                                    sqlite_engine: sa.Engine) -> None:  # fmt: skip
    import shutil as _shutil

    from tests.faults.harness import PrivateS3

    quiet = tmp_path / "quiet_6s.avi"
    _shutil.copy(clip_6s, quiet)
    site = SiteConfig.model_validate({"cameras": {
        "shop": {"match": ["vtest*"], "zones": {"floor": {"polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}},
                 "rules": {"enter": {"type": "zone_enter", "zone": "floor", "clip": True}}},
        "hall": {"match": ["quiet*"]}}})  # fmt: skip
    s3_root = tmp_root("witness-s3down-")
    s3 = PrivateS3(s3_root / "s3")
    s3.start()
    store = s3.store("evidence")
    s3.stop()  # the object store is down for the whole job
    try:
        started = time.monotonic()
        outcome = run_job([str(clip_6s), str(quiet)], site=site, engine=sqlite_engine, store=store,
                          options=options(tmp_path, imgsz=640))  # people in vtest.avi need >= 640 to be found  # fmt: skip
        took = time.monotonic() - started
    finally:
        s3.close()
        _shutil.rmtree(s3_root, ignore_errors=True)
    by_name = {v.name: v for v in outcome.videos}
    print(f"FAULT S3 stopped during a bulk job: job {outcome.status} after {took:.1f} s; "
          f"{[(v.name, v.status, (v.error or '')[:90]) for v in outcome.videos]}")
    assert outcome.status == "partial"
    assert by_name["vtest_6s.avi"].status == "failed" and "not uploaded after 3 attempts" in by_name["vtest_6s.avi"].error
    assert by_name["quiet_6s.avi"].status == "done"  # no evidence to upload: unaffected
    with Session(sqlite_engine) as s:
        failed = next(v for v in crud.list_videos(s, outcome.job_id) if v.name == "vtest_6s.avi")
        assert crud.list_events(s, video_id=failed.id)[1] == 0  # no partial rows left for the failed video
