"""Failure-handling repositories on SQLite and PostgreSQL: transient retries, the job reaper, pending visits."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import crud
from storage.models import JobStatus, VideoStatus, utcnow
from storage.reliability import add_pending_visit, due_visits, heartbeat_job, is_transient, reap_jobs, retry_transient


def test_retry_transient_retries_connection_errors_only() -> None:
    calls, sleeps = [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))
        return "ok"

    assert retry_transient(flaky, budget_s=60, sleep=sleeps.append) == "ok"
    assert len(calls) == 3 and sleeps == [0.5, 1.0]

    def refused() -> None:
        raise sa.exc.DataError("INSERT", {}, Exception("value too long"))

    with pytest.raises(sa.exc.DataError):
        retry_transient(refused, budget_s=60, sleep=sleeps.append)
    assert sleeps == [0.5, 1.0]  # not retried
    assert not is_transient(sa.exc.IntegrityError("INSERT", {}, Exception("duplicate key")))

    def down() -> None:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))

    clock = iter(range(0, 1000, 3))
    with pytest.raises(sa.exc.OperationalError):  # the budget runs out: the last error is raised
        retry_transient(down, budget_s=10, sleep=lambda s: None, clock=lambda: next(clock))


def _running_job(engine: Engine, *, beat_ago_s: float | None) -> str:
    with Session(engine) as s:
        job = crud.create_job(s, params={}, inputs=["a.mp4", "b.mp4"])
        crud.start_job(s, job.id)
        videos = crud.list_videos(s, job.id)
        crud.mark_video_running(s, videos[0].id)
        if beat_ago_s is not None:
            heartbeat_job(s, job.id, now=utcnow() - timedelta(seconds=beat_ago_s))
        return job.id


def test_reaper_fails_jobs_without_heartbeat_and_past_deadline(db_engine: Engine) -> None:
    stale, fresh = _running_job(db_engine, beat_ago_s=120), _running_job(db_engine, beat_ago_s=1)
    late = _running_job(db_engine, beat_ago_s=1)
    with Session(db_engine) as s:
        job = crud.get_job(s, late)
        job.deadline_at = utcnow() - timedelta(seconds=5)
        s.add(job)
        s.commit()
        reaped = dict(reap_jobs(s, stale_s=60))
    assert set(reaped) == {stale, late}
    assert "no heartbeat for 120 s" in reaped[stale] and "deadline passed" in reaped[late]
    with Session(db_engine) as s:
        row = crud.get_job(s, stale)
        assert row.status is JobStatus.FAILED and row.error == reaped[stale] and row.videos_failed == 2
        assert {v.status for v in crud.list_videos(s, stale)} == {VideoStatus.FAILED}
        assert crud.get_job(s, fresh).status is JobStatus.RUNNING
        assert heartbeat_job(s, stale) is False and heartbeat_job(s, fresh) is True  # a reaped job's driver learns it
        assert reap_jobs(s, stale_s=60) == []


def test_pending_visit_is_stored_once_and_never_after_its_alert(db_engine: Engine) -> None:
    with Session(db_engine) as s:
        due = utcnow() - timedelta(seconds=1)
        assert add_pending_visit(s, visit_id="v" * 32, camera_id="s.c", due_at=due, payload={"a": 1}) is True
        assert add_pending_visit(s, visit_id="v" * 32, camera_id="s.c", due_at=due, payload={"a": 1}) is False
        assert [v.id for v in due_visits(s)] == ["v" * 32]
        crud.create_alert(s, score=0.6, severity="medium", camera_id="s.c", alert_id="w" * 32)
        assert add_pending_visit(s, visit_id="w" * 32, camera_id="s.c", due_at=due, payload={}) is False


def test_reaper_fails_jobs_that_never_started(db_engine: Engine) -> None:
    with Session(db_engine) as s:
        old = crud.create_job(s, params={}, inputs=["a.mp4"])
        new = crud.create_job(s, params={}, inputs=["b.mp4"])
        row = crud.get_job(s, old.id)
        row.created_at = utcnow() - timedelta(hours=2)
        s.add(row)
        s.commit()
        old_id, new_id = old.id, new.id
        assert reap_jobs(s, stale_s=60) == []  # without a pending timeout, pending jobs are left alone
        reaped = dict(reap_jobs(s, stale_s=60, pending_timeout_s=3600))
    assert set(reaped) == {old_id} and "never started" in reaped[old_id]
    with Session(db_engine) as s:
        assert crud.get_job(s, old_id).status is JobStatus.FAILED
        assert {v.status for v in crud.list_videos(s, old_id)} == {VideoStatus.FAILED}
        assert crud.get_job(s, new_id).status is JobStatus.PENDING
        assert crud.start_pending_job(s, old_id) is False  # a late task cannot start a reaped job
