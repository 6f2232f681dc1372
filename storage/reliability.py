"""Repositories for failure handling: transient-error retries, dead-lettered events, pending live
visits, webhook retries and job heartbeats (tables of migration `0009_reliability.py`).

Each function takes a `Session`; mutating ones commit before returning (or roll back and re-raise).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlmodel import Session, col, func, select

from storage.models import (
    DeadEvent,
    DeliveryStatus,
    Job,
    JobStatus,
    PendingVisit,
    Video,
    VideoStatus,
    WebhookDelivery,
    utcnow,
)

__all__ = [
    "is_transient",
    "retry_transient",
    "add_dead_events",
    "list_dead_events",
    "add_pending_visit",
    "due_visits",
    "finish_visit",
    "retry_visit",
    "claim_due_deliveries",
    "save_delivery",
    "heartbeat_job",
    "set_job_deadline",
    "reap_jobs",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

_TRANSIENT = (
    sa_exc.OperationalError,  # connection refused / lost, server shutting down, timeouts, SQLite "locked"
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # the pool had no free connection in time
    TimeoutError,
    ConnectionError,
    OSError,
)


def is_transient(exc: BaseException) -> bool:
    """Whether a database error may go away by itself (the server is down, slow or restarting).

    Transient: connection-level errors (`OperationalError`, `InterfaceError`, lost connections, pool
    and socket timeouts). Not transient: the data is refused (`DataError` for a value too long for its
    column, `IntegrityError`, `ProgrammingError`): retrying the same write fails the same way.

    Example:
        >>> is_transient(sa_exc.OperationalError("SELECT 1", {}, Exception("connection refused")))
        True
        >>> is_transient(sa_exc.DataError("INSERT", {}, Exception("value too long")))
        False
    """
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _TRANSIENT)


def retry_transient(
    fn: Callable[[], T],
    *,
    budget_s: float,
    what: str = "database call",
    initial_s: float = 0.5,
    max_s: float = 10.0,
    sleep: Callable[[float], Any] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call `fn` until it succeeds, retrying transient errors (`is_transient`) with exponential back-off.

    Args:
        fn: the work; it must be safe to repeat (a fresh session per call).
        budget_s: give up (re-raise the last error) once this many seconds have passed.
        what: named in the log lines.
        initial_s: first delay; doubled after each failure up to `max_s`.
        sleep: waits between attempts.
        clock: monotonic seconds.

    Returns:
        What `fn` returned.

    Raises:
        Exception: a non-transient error at once, or the last transient one once the budget is spent.
    """
    deadline = clock() + budget_s
    delay = initial_s
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc) or clock() + delay > deadline:
                raise
            log.warning("%s failed (%s: %s); retrying in %.1f s", what, type(exc).__name__, str(exc).splitlines()[0][:200],
                        delay)  # fmt: skip
            sleep(delay)
            delay = min(delay * 2, max_s)


# ------------------------------------------------------------------------------ dead events
def add_dead_events(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Store dead-lettered events: dicts with `event_id`, `camera_id`, `payload` (JSON-ready) and `error`.

    Returns:
        The number stored.
    """
    for row in rows:
        session.add(DeadEvent(**row))
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return len(rows)


def list_dead_events(session: Session, *, camera_ids: Sequence[str] | None = None, limit: int = 50,
                     offset: int = 0) -> tuple[list[DeadEvent], int]:  # fmt: skip
    """Dead-lettered events, newest first; `camera_ids` (when given) keeps only those cameras'.

    Returns:
        `(rows, total)`.
    """
    where = [] if camera_ids is None else [col(DeadEvent.camera_id).in_(list(camera_ids))]
    total = session.exec(select(func.count()).select_from(DeadEvent).where(*where)).one()
    stmt = select(DeadEvent).where(*where).order_by(col(DeadEvent.created_at).desc(), col(DeadEvent.id))
    return list(session.exec(stmt.offset(offset).limit(limit)).all()), total


# ----------------------------------------------------------------------------- pending visits
def add_pending_visit(session: Session, *, visit_id: str, camera_id: str, due_at: datetime,
                      payload: dict[str, Any]) -> bool:  # fmt: skip
    """Store a visit to score at `due_at`, unless one with this id is stored (or was scored) already.

    Returns:
        Whether it was new.
    """
    from storage.models import Alert

    if session.get(PendingVisit, visit_id) is not None or session.get(Alert, visit_id) is not None:
        return False
    session.add(PendingVisit(id=visit_id, camera_id=camera_id, due_at=due_at, payload=payload))
    try:
        session.commit()
    except sa_exc.IntegrityError:  # stored by a concurrent retry of the same visit
        session.rollback()
        return False
    except BaseException:
        session.rollback()
        raise
    return True


def due_visits(session: Session, *, now: datetime | None = None, limit: int = 100) -> list[PendingVisit]:
    """Pending visits whose time has come, oldest first."""
    now = now or utcnow()
    stmt = (
        select(PendingVisit)
        .where(col(PendingVisit.status) == "pending", col(PendingVisit.due_at) <= now)
        .order_by(col(PendingVisit.due_at), col(PendingVisit.id))
        .limit(limit)
    )
    return list(session.exec(stmt).all())


def finish_visit(session: Session, visit_id: str) -> None:
    """Remove a scored visit (in the caller's transaction: commit it with the alert it raised)."""
    session.execute(sa.delete(PendingVisit).where(col(PendingVisit.id) == visit_id))


def retry_visit(session: Session, visit_id: str, *, error: str, max_attempts: int, retry_in_s: float) -> str:
    """Count a failed scoring attempt: try again in `retry_in_s`, or give up after `max_attempts`.

    Returns:
        The visit's status now: `pending` or `failed` (`""` when it is gone).
    """
    row = session.get(PendingVisit, visit_id)
    if row is None:
        return ""
    row.attempts += 1
    row.last_error = error[:2000]
    row.status = "failed" if row.attempts >= max_attempts else "pending"
    row.due_at = utcnow() + timedelta(seconds=retry_in_s)
    session.add(row)
    session.commit()
    return row.status


# --------------------------------------------------------------------------- webhook retries
def claim_due_deliveries(session: Session, *, lease_s: float, limit: int = 20,
                         now: datetime | None = None) -> list[WebhookDelivery]:  # fmt: skip
    """Pending webhook deliveries whose next attempt is due, claimed for `lease_s` seconds.

    The claim is a conditional update per row, so two processes never attempt the same delivery at
    once; a claim that lapses (its worker died) makes the delivery due again.
    """
    now = now or utcnow()
    free = sa.or_(col(WebhookDelivery.claimed_until).is_(None), col(WebhookDelivery.claimed_until) < now)
    due = sa.and_(col(WebhookDelivery.status) == DeliveryStatus.PENDING, col(WebhookDelivery.next_attempt_at) <= now)
    ids = session.exec(
        select(WebhookDelivery.id).where(due, free).order_by(col(WebhookDelivery.next_attempt_at)).limit(limit)
    ).all()
    claimed = []
    for delivery_id in ids:
        result = session.execute(
            sa.update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == delivery_id, due, free)
            .values(claimed_until=now + timedelta(seconds=lease_s))
        )
        if result.rowcount == 1:
            claimed.append(delivery_id)
    session.commit()
    return [row for row in (session.get(WebhookDelivery, i) for i in claimed) if row is not None]


# -------------------------------------------------------------------------------- job liveness
def heartbeat_job(session: Session, job_id: str, *, now: datetime | None = None) -> bool:
    """Stamp a running job's heartbeat. Returns whether the job is still running (not cancelled / reaped)."""
    result = session.execute(
        sa.update(Job).where(col(Job.id) == job_id, col(Job.status) == JobStatus.RUNNING)
        .values(heartbeat_at=now or utcnow())
    )  # fmt: skip
    session.commit()
    return result.rowcount == 1


def set_job_deadline(session: Session, job_id: str, deadline_s: float) -> None:
    """Set a job's deadline `deadline_s` from now (0: none)."""
    values = {"deadline_at": utcnow() + timedelta(seconds=deadline_s) if deadline_s > 0 else None}
    session.execute(sa.update(Job).where(col(Job.id) == job_id).values(**values))
    session.commit()


def reap_jobs(session: Session, *, stale_s: float, pending_timeout_s: float | None = None,
              now: datetime | None = None) -> list[tuple[str, str]]:  # fmt: skip
    """Fail running jobs whose driver is gone (no heartbeat for `stale_s`) or whose deadline passed, and
    jobs still pending `pending_timeout_s` after they were submitted (their task never started).

    A running job that never beat is judged from its `started_at`. Unfinished videos of a reaped job
    fail with the same reason (their partial rows are removed, as in `crud.fail_video`).

    Args:
        stale_s: `RELIABILITY__JOB_STALE_S`.
        pending_timeout_s: `RELIABILITY__JOB_PENDING_TIMEOUT_S`; `None`: pending jobs are left alone.
        now: the current time (UTC; default: now).

    Returns:
        `(job_id, reason)` of each job failed now.
    """
    from storage import crud

    now = now or utcnow()
    reaped = []
    if pending_timeout_s is not None:
        limit = now - timedelta(seconds=pending_timeout_s)
        pending = session.exec(
            select(Job).where(col(Job.status) == JobStatus.PENDING, col(Job.created_at) < limit)).all()
        for job in pending:
            reaped.append((job.id, f"job never started: still pending {(now - job.created_at).total_seconds():.0f} s "
                                   "after it was submitted; it can be submitted again"))  # fmt: skip
    running = session.exec(select(Job).where(col(Job.status) == JobStatus.RUNNING)).all()
    for job in running:
        last = job.heartbeat_at or job.started_at or job.created_at
        if job.deadline_at is not None and now > job.deadline_at:
            reason = f"job deadline passed at {job.deadline_at.isoformat(timespec='seconds')}: stopped"
        elif now - last > timedelta(seconds=stale_s):
            reason = (f"job driver lost: no heartbeat for {(now - last).total_seconds():.0f} s "
                      f"(last {last.isoformat(timespec='seconds')}); the job was stopped and can be submitted again")  # fmt: skip
        else:
            continue
        reaped.append((job.id, reason))
    for job_id, reason in reaped:
        videos = session.exec(select(Video).where(col(Video.job_id) == job_id)).all()
        for video in videos:
            if video.status in (VideoStatus.PENDING, VideoStatus.RUNNING):
                crud.fail_video(session, video.id, reason)
        job = session.get(Job, job_id)
        if job is None or job.status not in (JobStatus.RUNNING, JobStatus.PENDING):  # finished meanwhile
            continue
        failed = session.exec(
            select(func.count()).select_from(Video).where(col(Video.job_id) == job_id, col(Video.status) == VideoStatus.FAILED)
        ).one()
        job.status, job.error, job.finished_at, job.videos_failed = JobStatus.FAILED, reason, now, failed
        session.add(job)
        session.commit()
        log.warning("job %s failed by the reaper: %s", job_id, reason)
    return reaped


def save_delivery(session: Session, delivery_id: str, *, alert_id: str, url: str, payload: dict[str, Any], attempts: int,
                  status: DeliveryStatus, last_error: str | None, next_attempt_at: datetime | None = None,
                  claimed_until: datetime | None = None) -> WebhookDelivery:  # fmt: skip
    """Create or update a webhook delivery's state (a pending one keeps its next attempt and claim).

    Returns:
        The stored delivery.
    """
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        row = WebhookDelivery(id=delivery_id, alert_id=alert_id, url=url, payload=payload, status=status)
    row.attempts, row.status, row.last_error, row.updated_at = attempts, status, last_error, utcnow()
    row.next_attempt_at = next_attempt_at if status is DeliveryStatus.PENDING else None
    row.claimed_until = claimed_until if status is DeliveryStatus.PENDING else None
    session.add(row)
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise
    session.refresh(row)
    return row
