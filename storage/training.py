"""Repository functions for training runs (`TrainingRun`).

Each function takes a `Session`; mutating ones commit before returning (or roll back and re-raise).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, func, select

from storage.crud import NotFoundError
from storage.db import commit
from storage.models import TrainingRun, TrainingRunPublic, TrainingRunStatus, utcnow

__all__ = ["create_run", "get_run", "list_runs", "start_run", "update_run_progress", "finish_run", "fail_run", "to_public"]


def _commit(session: Session, row: TrainingRun) -> TrainingRun:
    session.add(row)
    commit(session, row)
    return row


def _get(session: Session, run_id: str) -> TrainingRun:
    row = session.get(TrainingRun, run_id)
    if row is None:
        raise NotFoundError(f"training run {run_id!r} not found")
    return row


def create_run(
    session: Session, *, data_dir: str, params: dict[str, Any], created_by: str | None = None, kind: str = "behaviour"
) -> TrainingRun:
    """Store a pending run over `data_dir` with its requested `params`."""
    return _commit(session, TrainingRun(kind=kind, data_dir=data_dir, params=params, created_by=created_by))


def get_run(session: Session, run_id: str) -> TrainingRun | None:
    """The run, or `None`."""
    return session.get(TrainingRun, run_id)


def list_runs(session: Session, *, limit: int = 50, offset: int = 0) -> tuple[list[TrainingRun], int]:
    """Runs newest first, and how many there are."""
    rows = session.exec(
        select(TrainingRun).order_by(col(TrainingRun.created_at).desc()).offset(offset).limit(limit)
    ).all()
    count = session.exec(select(func.count()).select_from(TrainingRun)).one()
    return list(rows), int(count)


def start_run(session: Session, run_id: str) -> TrainingRun:
    """Mark a pending run running. Raises NotFoundError, or ValueError if it is not pending."""
    row = _get(session, run_id)
    if row.status is not TrainingRunStatus.PENDING:
        raise ValueError(f"training run {run_id} must be pending, but is {row.status.value}")
    row.status, row.started_at = TrainingRunStatus.RUNNING, utcnow()
    return _commit(session, row)


def update_run_progress(session: Session, run_id: str, *, frames_done: int, frames_total: int) -> TrainingRun:
    """Record how many frames are analysed. Raises NotFoundError."""
    row = _get(session, run_id)
    row.frames_done, row.frames_total = int(frames_done), int(frames_total)
    return _commit(session, row)


def finish_run(session: Session, run_id: str, *, version: str, report: dict[str, Any]) -> TrainingRun:
    """Mark the run done with the saved model's version and its test report. Raises NotFoundError."""
    row = _get(session, run_id)
    row.status, row.finished_at, row.version, row.report = TrainingRunStatus.DONE, utcnow(), version, report
    row.frames_done = row.frames_total
    return _commit(session, row)


def fail_run(session: Session, run_id: str, error: str) -> TrainingRun:
    """Mark the run failed with its reason. Raises NotFoundError."""
    row = _get(session, run_id)
    row.status, row.finished_at, row.error = TrainingRunStatus.FAILED, utcnow(), error
    return _commit(session, row)


def to_public(row: TrainingRun) -> TrainingRunPublic:
    """The API view of a run, with `progress` = frames_done / frames_total."""
    progress = min(1.0, row.frames_done / row.frames_total) if row.frames_total else (
        1.0 if row.status is TrainingRunStatus.DONE else 0.0)  # fmt: skip
    return TrainingRunPublic.model_validate(row.model_dump() | {"progress": progress})
