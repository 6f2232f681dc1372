"""Cancelling a running bulk job: `run_job` stops between batches (real model, imgsz 320, local Ray)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cluster.settings import ClipSettings, JobSettings, Settings, TrackerSettings
from domain.site import SiteConfig
from pipelines.bulk import CANCELLED, JobOptions, run_job
from storage import crud
from storage.objectstore import LocalObjectStore
from tests.factories import model_settings


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
def clip_3s(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of vtest.avi (30 frames)."""
    out = tmp_path_factory.mktemp("clip") / "vtest_3s.avi"
    cap = cv2.VideoCapture(str(vtest_path))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 10, (768, 576))
    for _ in range(30):
        writer.write(cap.read()[1])
    writer.release()
    cap.release()
    return out


def test_job_cancelled_while_running_stops_between_batches(ray_cluster: None, clip_3s: Path, sqlite_engine: Engine,
                                                           tmp_path: Path) -> None:  # fmt: skip
    options = JobOptions(model=model_settings(imgsz=320), tracker=TrackerSettings(), job=JobSettings(chunk_s=1.5, overlap_s=0),
                         clip=ClipSettings(), cache_dir=tmp_path / "cache", fps=10)  # fmt: skip
    job: dict[str, str] = {}
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        calls.append((done, total))
        if done > 0 and len(calls) == 2:  # the first batch is in: a user cancels the job now
            with Session(sqlite_engine) as session:
                crud.cancel_job(session, job["id"])

    outcome = run_job([str(clip_3s)], site=SiteConfig.default(), engine=sqlite_engine, store=LocalObjectStore(tmp_path / "o"),
                      options=options, progress=progress, on_job_created=lambda jid: job.update(id=jid))  # fmt: skip
    assert len(calls) == 2 and calls[1][0] < calls[1][1] == 30  # two 1.5 s chunks; none analysed after the cancel
    assert outcome.status == "cancelled"
    assert [(v.status, v.error) for v in outcome.videos] == [("failed", CANCELLED)]
    with Session(sqlite_engine) as session:
        stored = crud.get_job(session, job["id"])
        assert (stored.status.value, stored.videos_failed) == ("cancelled", 1)
        assert [(v.status.value, v.error) for v in crud.list_videos(session, job["id"])] == [("failed", CANCELLED)]
