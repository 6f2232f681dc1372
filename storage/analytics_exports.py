"""Export jobs and report schedules: create, read, progress, finish, fail; schedule claims.

A job only ever becomes `done` together with its object-store `key` (in one commit, after the file
was uploaded), and a failed job has no `key`: nothing half-written is downloadable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from domain.analytics_report import ReportScheduleConfig, next_run
from storage.analytics_models import ExportJob, ExportKind, ExportStatus, ReportSchedule
from storage.crud import NotFoundError
from storage.db import commit
from storage.models import utcnow

__all__ = [
    "create_export",
    "get_export",
    "list_exports",
    "start_export",
    "update_export_progress",
    "finish_export",
    "fail_export",
    "put_schedule",
    "get_schedule",
    "list_schedules",
    "delete_schedule",
    "due_schedules",
    "claim_schedule",
    "sync_site_schedules",
    "record_delivery",
]

_ERROR_CHARS = 2000


def create_export(session: Session, *, kind: ExportKind, fmt: str, params: dict[str, Any], site: str | None = None,
                  created_by: str | None = None, schedule_id: str | None = None) -> ExportJob:  # fmt: skip
    """Store a pending export job."""
    job = ExportJob(kind=kind, format=fmt, params=params, site=site, created_by=created_by, schedule_id=schedule_id)
    session.add(job)
    commit(session, job)
    return job


def get_export(session: Session, export_id: str) -> ExportJob | None:
    """The export job with this id, or `None`."""
    return session.get(ExportJob, export_id)


def list_exports(session: Session, *, created_by: str | None = None, limit: int = 50,
                 offset: int = 0) -> tuple[list[ExportJob], int]:  # fmt: skip
    """Export jobs, newest first (only `created_by`'s when given)."""
    conditions = [col(ExportJob.created_by) == created_by] if created_by is not None else []
    total = session.exec(select(func.count()).select_from(ExportJob).where(*conditions)).one()
    rows = session.exec(select(ExportJob).where(*conditions).order_by(col(ExportJob.created_at).desc())
                        .offset(offset).limit(limit)).all()  # fmt: skip
    return list(rows), total


def _require(session: Session, export_id: str) -> ExportJob:
    job = session.get(ExportJob, export_id)
    if job is None:
        raise NotFoundError(f"export job {export_id!r} not found")
    return job


def start_export(session: Session, export_id: str) -> ExportJob:
    """Mark a pending job running.

    Raises:
        NotFoundError: no such job.
        ValueError: the job is not pending.
    """
    job = _require(session, export_id)
    if job.status is not ExportStatus.PENDING:
        raise ValueError(f"export job {export_id} must be pending, but is {job.status.value}")
    job.status, job.started_at, job.stage = ExportStatus.RUNNING, utcnow(), "starting"
    session.add(job)
    commit(session, job)
    return job


def update_export_progress(session: Session, export_id: str, *, progress: float, stage: str) -> None:
    """Record a running job's progress (0-1) and what it is doing."""
    session.execute(sa.update(ExportJob).where(col(ExportJob.id) == export_id,
                                               col(ExportJob.status) == ExportStatus.RUNNING.value)
                    .values(progress=max(0.0, min(1.0, progress)), stage=stage[:255]))  # fmt: skip
    session.commit()


def finish_export(session: Session, export_id: str, *, key: str, filename: str, content_type: str,
                  size_bytes: int) -> ExportJob:  # fmt: skip
    """Mark a job done with its uploaded file (one commit: the file becomes downloadable with the status)."""
    job = _require(session, export_id)
    job.status, job.key, job.filename, job.content_type, job.size_bytes = (
        ExportStatus.DONE, key, filename, content_type, size_bytes)  # fmt: skip
    job.progress, job.stage, job.finished_at, job.error = 1.0, "done", utcnow(), None
    session.add(job)
    commit(session, job)
    return job


def fail_export(session: Session, export_id: str, error: str) -> ExportJob:
    """Mark a job failed with the reason; it keeps no file."""
    job = _require(session, export_id)
    job.status, job.error, job.finished_at, job.key, job.size_bytes = (
        ExportStatus.FAILED, error[:_ERROR_CHARS], utcnow(), None, None)  # fmt: skip
    job.stage = "failed"
    session.add(job)
    commit(session, job)
    return job


# ------------------------------------------------------------------------------------- schedules
def put_schedule(session: Session, *, site: str, name: str, config: ReportScheduleConfig, tz: str,
                 origin: str = "api", created_by: str | None = None, now: datetime | None = None) -> ReportSchedule:  # fmt: skip
    """Create or replace the schedule `name` of `site`; its next run is recomputed from `now`."""
    row = session.exec(select(ReportSchedule).where(ReportSchedule.site == site, ReportSchedule.name == name)).first()
    now = now or utcnow()
    data = config.model_dump(mode="json")
    if row is None:
        row = ReportSchedule(site=site, name=name, config=data, origin=origin, created_by=created_by)
    elif row.config == data and row.origin == origin and row.next_run_at is not None:
        return row
    row.config, row.origin, row.updated_at = data, origin, now
    row.next_run_at = next_run(config, after=now, tz=tz) if config.enabled else None
    session.add(row)
    commit(session, row)
    return row


def get_schedule(session: Session, schedule_id: str) -> ReportSchedule | None:
    """The schedule with this id, or `None`."""
    return session.get(ReportSchedule, schedule_id)


def list_schedules(session: Session, *, sites: Sequence[str] | None = None) -> list[ReportSchedule]:
    """Schedules (of these sites), by site and name."""
    stmt = select(ReportSchedule)
    if sites is not None:
        stmt = stmt.where(col(ReportSchedule.site).in_(list(sites)))
    return list(session.exec(stmt.order_by(col(ReportSchedule.site), col(ReportSchedule.name))).all())


def delete_schedule(session: Session, schedule_id: str) -> None:
    """Delete a schedule.

    Raises:
        NotFoundError: no such schedule.
    """
    row = session.get(ReportSchedule, schedule_id)
    if row is None:
        raise NotFoundError(f"report schedule {schedule_id!r} not found")
    session.delete(row)
    session.commit()


def due_schedules(session: Session, *, now: datetime) -> list[ReportSchedule]:
    """Enabled schedules whose next run is at or before `now`."""
    stmt = select(ReportSchedule).where(col(ReportSchedule.next_run_at).is_not(None),
                                        col(ReportSchedule.next_run_at) <= now)  # fmt: skip
    return list(session.exec(stmt.order_by(col(ReportSchedule.next_run_at))).all())


def claim_schedule(session: Session, schedule: ReportSchedule, *, tz: str, now: datetime) -> datetime | None:
    """Take a due run of `schedule` (compare-and-set on `next_run_at`, so of several workers one wins).

    Returns:
        The run time claimed (the old `next_run_at`), or `None` if another worker took it first.
    """
    due = schedule.next_run_at
    if due is None:
        return None
    config = ReportScheduleConfig.model_validate(schedule.config)
    following = next_run(config, after=max(now, due), tz=tz)
    result = session.execute(
        sa.update(ReportSchedule)
        .where(col(ReportSchedule.id) == schedule.id, col(ReportSchedule.next_run_at) == due)
        .values(next_run_at=following, last_run_at=now)
    )
    session.commit()
    return due if result.rowcount == 1 else None


def sync_site_schedules(session: Session, *, site: str, tz: str, reports: dict[str, ReportScheduleConfig],
                        now: datetime | None = None) -> list[ReportSchedule]:  # fmt: skip
    """Make the site file's `reports:` the site's `site_file` schedules: add / update them, remove the
    ones the file no longer has (schedules made through the API are left alone)."""
    rows = [put_schedule(session, site=site, name=name, config=cfg, tz=tz, origin="site_file", now=now)
            for name, cfg in reports.items()]  # fmt: skip
    stale = session.exec(select(ReportSchedule).where(ReportSchedule.site == site, ReportSchedule.origin == "site_file",
                                                      col(ReportSchedule.name).not_in(list(reports) or [""]))).all()  # fmt: skip
    for row in stale:
        session.delete(row)
    session.commit()
    return rows


def record_delivery(session: Session, export_id: str, delivery: dict[str, Any]) -> ExportJob:
    """Keep where a scheduled report was delivered (`params["delivery"]`)."""
    job = _require(session, export_id)
    job.params = {**(job.params or {}), "delivery": delivery}
    session.add(job)
    commit(session, job)
    return job
