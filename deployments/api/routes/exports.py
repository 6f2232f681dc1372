"""Reports and exports as jobs: `POST /analytics/reports/generate`, `POST /export/{tracking-data|
analytics-report|video-with-overlays}`, `GET /export/jobs/{id}/status|download`, the scheduled
reports (`/analytics/reports/schedules`) and the `/ws/exports/{id}` progress socket.

Every export is accepted at once (202) as a job that runs on Ray (`app.state.export_runner`), with
progress on the job's row and its WebSocket; only a `done` job has a file to download, and a failed
job's status says why. A job covers only what its requester could see when asking (the cameras are
stored with it), and only users who may see all of those (or admins) may read or download it.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, WebSocket, status
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session
from starlette.requests import HTTPConnection

from deployments.api.analytics_scope import AnalyticsParamsDep, camera_visible, pick_cameras, site_scope, unprocessable
from deployments.api.deps import CurrentUser, SessionDep, require, user_can_see_camera
from deployments.api.hub import Hub
from deployments.api.permissions import Permission
from deployments.api.routes.media import StoreDep
from deployments.api.tags import Tags
from domain.analytics import TimeRange, TimeRangeError
from domain.analytics_report import ReportFormat, ReportScheduleConfig
from pipelines.export import ExportFormat
from pipelines.exports import ExportRunner, export_channel
from storage import analytics_exports as repo
from storage import crud
from storage.analytics_models import (
    ExportJob,
    ExportJobPublic,
    ExportJobsPublic,
    ExportKind,
    ExportStatus,
    ReportSchedulePublic,
    ReportSchedulesPublic,
)
from storage.analytics_rollup import camera_of_video, site_of_job
from storage.models import User, UserRole, VideoStatus

__all__ = ["router", "reports_router", "ws_router", "ReportRequest", "TrackingDataRequest", "VideoExportRequest",
           "ScheduleRequest"]  # fmt: skip

_READ = [Depends(require(Permission.READ))]
router = APIRouter(prefix="/export", tags=[Tags.EXPORTS], dependencies=_READ)
reports_router = APIRouter(prefix="/analytics/reports", tags=[Tags.EXPORTS], dependencies=_READ)
ws_router = APIRouter(prefix="/ws", tags=[Tags.EXPORTS], dependencies=_READ)
_MANAGE = [Depends(require(Permission.CAMERA_MANAGE))]
_NOT_FOUND = "export job not found"


def get_export_runner(conn: HTTPConnection) -> ExportRunner:
    """`app.state.export_runner` (503 when this deployment runs no export jobs)."""
    runner = getattr(conn.app.state, "export_runner", None)
    if runner is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "exports are not available in this deployment")
    return runner


RunnerDep = Annotated[ExportRunner, Depends(get_export_runner)]


# ------------------------------------------------------------------------------------- requests
class _Range(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    t_from: datetime | None = Field(None, alias="from", description="Range start (ISO 8601; naive = UTC)")
    t_to: datetime | None = Field(None, alias="to", description="Range end, exclusive")

    def range(self, max_days: float) -> TimeRange:
        try:
            return TimeRange.from_datetimes(self.t_from, self.t_to, max_s=max_days * 86400)
        except TimeRangeError as exc:
            raise unprocessable(exc.field, str(exc), "body") from None


class ReportRequest(_Range):
    """An analytics report of a site over a range."""

    site_id: str = Field(min_length=1, description="Site id or name")
    format: ReportFormat = Field(ReportFormat.PDF, description="pdf, xlsx, csv (a zip of one csv per table) or json")
    camera_id: str | None = Field(None, description="Only this camera (default: every camera you may see)")


class TrackingDataRequest(BaseModel):
    """A job's tracks, one file per video, zipped."""

    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(min_length=1)
    format: ExportFormat = Field(ExportFormat.CSV, description="csv, json or mot")


class VideoExportRequest(_Range):
    """A job's video with overlays (`job_id` + `video`), or a live camera's evidence clips over a range."""

    job_id: str | None = None
    video: str | None = Field(None, description="The video's id or name within the job")
    camera_id: str | None = Field(None, description="A live camera (with from / to)")
    trails: bool = Field(True, description="Draw each person's recent path")
    zones: bool = Field(True, description="Draw the camera's zones and lines")
    overlays: bool = Field(True, description="Draw anything at all; false: a plain browser-playable H.264 copy "
                           "(the player then draws the tracks itself)")


class ScheduleRequest(ReportScheduleConfig):
    """A scheduled report of a site (`name` is unique within the site)."""

    site_id: str = Field(min_length=1, description="Site id or name")
    name: str = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


# ------------------------------------------------------------------------------------- helpers
def _public(job: ExportJob) -> ExportJobPublic:
    data = job.model_dump(exclude={"key"})
    url = f"/api/v1/export/jobs/{job.id}/download" if job.status is ExportStatus.DONE else None
    return ExportJobPublic(**data, download_url=url)


def _cameras_of(session: Session, job: ExportJob) -> list[str]:
    p = job.params or {}
    cams = list(p.get("cameras") or [])
    if p.get("camera_id"):
        cams.append(p["camera_id"])
    return cams


def _may_see(session: Session, user: User, job: ExportJob) -> bool:
    if user.role is UserRole.ADMIN:
        return True
    return all(camera_visible(user, crud.get_camera(session, c)) for c in _cameras_of(session, job))


def _visible_job(session: Session, user: User, export_id: str) -> ExportJob:
    job = repo.get_export(session, export_id)
    if job is None or not _may_see(session, user, job):
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND)
    return job


def _submit(session: Session, runner: ExportRunner, user: User, *, kind: ExportKind, fmt: str, params: dict[str, Any],
            site: str | None) -> ExportJobPublic:  # fmt: skip
    job = repo.create_export(session, kind=kind, fmt=fmt, params=params, site=site, created_by=user.username)
    runner.submit(job.id)
    return _public(job)


def _report_params(session: Session, user: User, body: ReportRequest, max_days: float) -> tuple[dict[str, Any], str]:
    rng = body.range(max_days)
    scope = site_scope(session, user, body.site_id)
    cams = pick_cameras(scope, body.camera_id)
    a, b = rng.as_datetimes()
    return {"site": scope.name, "title": scope.title, "timezone": scope.timezone, "cameras": cams,
            "zones": {c: sorted(scope.zones(c)) for c in cams}, "from": a.isoformat(), "to": b.isoformat()}, scope.name  # fmt: skip


def _report_days(request: Request) -> float:
    return float(getattr(request.app.state, "report_max_days", None) or 400.0)


# --------------------------------------------------------------------------------------- routes
@reports_router.post("/generate", status_code=status.HTTP_202_ACCEPTED)
def generate_report(request: Request, session: SessionDep, user: CurrentUser, runner: RunnerDep,
                    body: ReportRequest) -> ExportJobPublic:  # fmt: skip
    """Start an analytics report job (PDF, Excel, CSV zip or JSON); follow it at its status URL or WebSocket."""
    params, site = _report_params(session, user, body, _report_days(request))
    return _submit(session, runner, user, kind=ExportKind.ANALYTICS_REPORT, fmt=body.format.value, params=params,
                   site=site)  # fmt: skip


@router.post("/analytics-report", status_code=status.HTTP_202_ACCEPTED)
def export_analytics_report(request: Request, session: SessionDep, user: CurrentUser, runner: RunnerDep,
                            body: ReportRequest) -> ExportJobPublic:  # fmt: skip
    """Start an analytics report job (the same as `POST /analytics/reports/generate`)."""
    return generate_report(request, session, user, runner, body)


@router.post("/tracking-data", status_code=status.HTTP_202_ACCEPTED)
def export_tracking_data(session: SessionDep, user: CurrentUser, runner: RunnerDep,
                         body: TrackingDataRequest) -> ExportJobPublic:  # fmt: skip
    """Start an export of a job's tracks (csv, json or MOT text; one file per video, zipped)."""
    job = crud.get_job(session, body.job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job '{body.job_id}' not found")
    site = site_of_job(job)
    videos = crud.list_videos(session, job.id)
    cams = sorted({camera_of_video(site, v) for v in videos})
    if not all(camera_visible(user, crud.get_camera(session, c)) for c in cams):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job '{body.job_id}' not found")
    if not any(v.status is VideoStatus.DONE for v in videos):
        raise HTTPException(status.HTTP_409_CONFLICT, f"job '{body.job_id}' has no analysed video to export yet")
    return _submit(session, runner, user, kind=ExportKind.TRACKING_DATA, fmt=body.format.value,
                   params={"job_id": job.id, "cameras": cams}, site=site)  # fmt: skip


@router.post("/video-with-overlays", status_code=status.HTTP_202_ACCEPTED)
def export_video(session: SessionDep, user: CurrentUser, runner: RunnerDep, params: AnalyticsParamsDep,
                 body: VideoExportRequest) -> ExportJobPublic:  # fmt: skip
    """Start an H.264 export of a job's video with its tracks, zones and events drawn, or of a live
    camera's stored evidence clips over a range."""
    if body.job_id is not None:
        job = crud.get_job(session, body.job_id)
        if job is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"job '{body.job_id}' not found")
        if body.video is None:
            raise unprocessable("video", "video (its id or name) is required with job_id", "body")
        video = next((v for v in crud.list_videos(session, job.id) if body.video in (v.id, v.name, v.uri)), None)
        site = site_of_job(job)
        camera_id = camera_of_video(site, video) if video is not None else None
        camera = crud.get_camera(session, camera_id) if camera_id else None
        if video is None or not camera_visible(user, camera):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"video '{body.video}' not found in job '{body.job_id}'")
        if video.status is not VideoStatus.DONE:
            raise HTTPException(status.HTTP_409_CONFLICT, f"video '{video.name}' is not analysed "
                                f"({getattr(video.status, 'value', video.status)})")  # fmt: skip
        zones: dict[str, Any] = {}
        lines: dict[str, Any] = {}
        if body.overlays and body.zones and camera is not None:
            with contextlib.suppress(crud.ConfigInvalidError):
                config = crud.camera_config(camera)
                zones = {k: v.model_dump(mode="json") for k, v in config.zones.items()}
                lines = {k: v.model_dump(mode="json") for k, v in config.lines.items()}
        p = {"video_id": video.id, "video_name": video.name, "job_id": job.id, "cameras": [camera_id],
             "trails": body.trails and body.overlays, "zones": zones, "lines": lines, "overlays": body.overlays}  # fmt: skip
        return _submit(session, runner, user, kind=ExportKind.VIDEO_WITH_OVERLAYS, fmt="mp4", params=p, site=site)
    if body.camera_id is None:
        raise unprocessable("job_id", "give job_id and video (a job's video) or camera_id, from and to (a live "
                            "camera's evidence clips)", "body")  # fmt: skip
    camera = crud.get_camera(session, body.camera_id)
    if camera is None or not user_can_see_camera(user, camera.camera_group):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"camera '{body.camera_id}' not found")
    rng = body.range(params.max_query_days)
    a, b = rng.as_datetimes()
    site = crud.get_site(session, camera.site_id)
    p = {"camera_id": camera.id, "cameras": [camera.id], "from": a.isoformat(), "to": b.isoformat()}
    return _submit(session, runner, user, kind=ExportKind.VIDEO_WITH_OVERLAYS, fmt="mp4", params=p,
                   site=site.name if site else None)  # fmt: skip


@router.get("/jobs")
def list_export_jobs(session: SessionDep, user: CurrentUser,
                     limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ExportJobsPublic:  # fmt: skip
    """Your export jobs, newest first (admins: everyone's)."""
    rows, _ = repo.list_exports(session, created_by=None if user.role is UserRole.ADMIN else user.username,
                                limit=limit)  # fmt: skip
    data = [_public(j) for j in rows if _may_see(session, user, j)]
    return ExportJobsPublic(data=data, count=len(data))


@router.get("/jobs/{export_id}/status")
def export_status(session: SessionDep, user: CurrentUser, export_id: str) -> ExportJobPublic:
    """An export job's status, progress, error and (once done) its download URL."""
    return _public(_visible_job(session, user, export_id))


@router.get("/jobs/{export_id}/download", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}})  # fmt: skip
def export_download(session: SessionDep, user: CurrentUser, store: StoreDep, export_id: str,
                    redirect: Annotated[bool, Query(description="307 to a presigned S3 URL")] = False) -> Response:  # fmt: skip
    """The export's file (only once the job is done; 409 with the reason while running or after a failure)."""
    job = _visible_job(session, user, export_id)
    if job.status is ExportStatus.FAILED:
        raise HTTPException(status.HTTP_409_CONFLICT, f"export job failed: {job.error}")
    if job.status is not ExportStatus.DONE or not job.key:
        raise HTTPException(status.HTTP_409_CONFLICT, f"export job is {job.status.value} ({round(job.progress * 100)} %)")
    url = store.presigned_url(job.key)
    disposition = {"Content-Disposition": f'attachment; filename="{job.filename}"'}
    if url.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return FileResponse(unquote(urlparse(url).path), media_type=job.content_type, headers=disposition)
    if redirect and url.startswith(("http://", "https://")):
        return RedirectResponse(url, status.HTTP_307_TEMPORARY_REDIRECT)
    return Response(store.get_bytes(job.key), media_type=job.content_type, headers=disposition)


@ws_router.websocket("/exports/{export_id}")
async def export_progress(websocket: WebSocket, export_id: str, user: CurrentUser, session: SessionDep) -> None:
    """An export job: first its state (`kind: export_status`, the job's fields, its own kind as `export_kind`),
    then `export_progress` messages until `export_done`.

    The job's row is re-read every second too, so a job that ended while the socket was being
    set up still ends the stream (with an `export_done` built from the row).
    """
    import anyio
    from fastapi import WebSocketException
    from fastapi.concurrency import run_in_threadpool
    from starlette.websockets import WebSocketDisconnect

    job = repo.get_export(session, export_id)
    if job is None or not _may_see(session, user, job):
        raise WebSocketException(status.WS_1008_POLICY_VIOLATION, _NOT_FOUND)
    hub: Hub | None = getattr(websocket.app.state, "hub", None)
    session.close()
    await websocket.accept()
    finished = (ExportStatus.DONE, ExportStatus.FAILED)

    def current() -> ExportJob:
        session.expire_all()
        row = repo.get_export(session, export_id)
        session.close()
        assert row is not None
        return row

    def done_message(row: ExportJob) -> dict[str, Any]:
        return {"kind": "export_done", "export_id": row.id, "status": row.status.value, "error": row.error,
                "filename": row.filename, "size_bytes": row.size_bytes}  # fmt: skip

    async with contextlib.AsyncExitStack() as stack:
        sub = await stack.enter_async_context(hub.subscribe(channels={export_channel(export_id)})) if hub else None
        row = await run_in_threadpool(current)
        with contextlib.suppress(WebSocketDisconnect):
            state = _public(row).model_dump(mode="json")
            await websocket.send_text(json.dumps({**state, "export_kind": state["kind"], "kind": "export_status"}))
            while row.status not in finished:
                message: Any = None
                if sub is not None:
                    with anyio.move_on_after(1.0):
                        message = await sub.queue.get()
                else:
                    await anyio.sleep(1.0)
                if isinstance(message, dict):
                    await websocket.send_text(json.dumps(message))
                    if message.get("kind") == "export_done":
                        break
                    continue
                row = await run_in_threadpool(current)
                if row.status in finished:
                    await websocket.send_text(json.dumps(done_message(row)))
            await websocket.close()


# ------------------------------------------------------------------------------------- schedules
def _schedule_public(row: Any) -> ReportSchedulePublic:
    return ReportSchedulePublic.model_validate(row, from_attributes=True)


@reports_router.get("/schedules")
def list_schedules(session: SessionDep, user: CurrentUser,
                   site_id: Annotated[str | None, Query(description="Only this site")] = None) -> ReportSchedulesPublic:  # fmt: skip
    """Scheduled reports of the sites you may see."""
    from deployments.api.analytics_scope import visible_sites

    sites = [site_scope(session, user, site_id).name] if site_id else [s.name for s in visible_sites(session, user)]
    rows = repo.list_schedules(session, sites=sites)
    return ReportSchedulesPublic(data=[_schedule_public(r) for r in rows], count=len(rows))


@reports_router.post("/schedules", dependencies=_MANAGE, status_code=status.HTTP_201_CREATED)
def put_schedule(session: SessionDep, user: CurrentUser, body: ScheduleRequest) -> ReportSchedulePublic:
    """Create or replace a scheduled report (daily or weekly, by email and / or webhook)."""
    scope = site_scope(session, user, body.site_id)
    if not body.emails and not body.webhook_urls:
        raise unprocessable("emails", "a scheduled report needs at least one of emails or webhook_urls", "body")
    config = ReportScheduleConfig(**body.model_dump(exclude={"site_id", "name"}))
    row = repo.put_schedule(session, site=scope.name, name=body.name, config=config, tz=scope.timezone,
                            created_by=user.username)  # fmt: skip
    return _schedule_public(row)


@reports_router.delete("/schedules/{schedule_id}", dependencies=_MANAGE, status_code=status.HTTP_204_NO_CONTENT)
def delete_schedule(session: SessionDep, user: CurrentUser, schedule_id: str) -> Response:
    """Delete a scheduled report."""
    row = repo.get_schedule(session, schedule_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "report schedule not found")
    site_scope(session, user, row.site)  # 404 when the site is out of scope
    repo.delete_schedule(session, schedule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@reports_router.post("/schedules/{schedule_id}/run", dependencies=_MANAGE, status_code=status.HTTP_202_ACCEPTED)
def run_schedule_now(session: SessionDep, user: CurrentUser, runner: RunnerDep, schedule_id: str) -> ExportJobPublic:
    """Run a scheduled report now (the period that ended last) and deliver it."""
    from pipelines.reports_scheduler import start_scheduled_report
    from storage.models import utcnow

    row = repo.get_schedule(session, schedule_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "report schedule not found")
    site_scope(session, user, row.site)
    export_id = start_scheduled_report(session, row, runner, run_at=utcnow())
    job = repo.get_export(session, export_id)
    assert job is not None
    return _public(job)


