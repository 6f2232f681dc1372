"""`/jobs`: bulk analysis jobs, their videos and events; cancellation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status

from deployments.api.deps import ScopeDep, SessionDep, not_found, require
from deployments.api.permissions import Permission
from deployments.api.schemas import Page
from deployments.api.tags import Tags
from storage import crud
from storage.models import EventPublic, EventsPublic, JobDetailPublic, JobPublic, JobsPublic, JobStatus, VideoPublic

__all__ = ["router"]

router = APIRouter(prefix="/jobs", tags=[Tags.JOBS], dependencies=[Depends(require(Permission.READ))])
_FINISHED = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.PARTIAL, JobStatus.CANCELLED})
PageDep = Annotated[Page, Depends()]


@router.get("")
def list_jobs(session: SessionDep, scope: ScopeDep, page: PageDep) -> JobsPublic:
    """List jobs, newest first."""
    rows, count = crud.list_jobs(session, limit=page.limit, offset=page.offset, scope=scope)
    return JobsPublic(data=[JobPublic.model_validate(j) for j in rows], count=count)


@router.get("/{job_id}")
def get_job(session: SessionDep, scope: ScopeDep, job_id: str) -> JobDetailPublic:
    """Get a job with its videos (status, probe facts, errors)."""
    job = crud.get_job(session, job_id)
    if job is None or not scope.sees_group(job.camera_group):
        raise not_found("job")
    videos = [VideoPublic.model_validate(v) for v in crud.list_videos(session, job_id)]
    return JobDetailPublic.model_validate(job.model_dump() | {"videos": videos})


@router.get("/{job_id}/events")
def list_job_events(session: SessionDep, scope: ScopeDep, job_id: str, page: PageDep) -> EventsPublic:
    """List a job's events, ordered by start time."""
    if not scope.sees_job(session, job_id):
        raise not_found("job")
    rows, count = crud.list_events(session, job_id=job_id, limit=page.limit, offset=page.offset)
    return EventsPublic(data=[EventPublic.model_validate(e) for e in rows], count=count)


@router.post("/{job_id}/cancel", dependencies=[Depends(require(Permission.JOB_CANCEL))])
def cancel_job(session: SessionDep, scope: ScopeDep, job_id: str, request: Request) -> JobPublic:
    """Cancel a pending or running job (results already stored are kept)."""
    job = crud.get_job(session, job_id)
    if job is None or not scope.sees_group(job.camera_group):
        raise not_found("job")
    if job.status in _FINISHED:
        raise HTTPException(status.HTTP_409_CONFLICT, "job already finished")
    cancelled = JobPublic.model_validate(crud.cancel_job(session, job_id))
    runner = getattr(request.app.state, "job_runner", None)
    if hasattr(runner, "cancel"):  # make sure its running work stops too
        runner.cancel(job_id)
    return cancelled
