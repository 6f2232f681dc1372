"""`POST /jobs` (submit a bulk job: upload videos or name paths / S3 URIs) and `GET /jobs/{id}/results`.

Collaborators on `app.state` (pass them to `create_app(state=...)`): `job_runner` (a
`deployments.jobs.JobRunner`) and `upload_dir` (a `Path`; uploads land in a folder of their own
under it, which must be readable by the Ray workers that run the job).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import HTTPConnection

from deployments.api.audit import audit_context
from deployments.api.deps import API_PREFIX, ConfigDep, CurrentUser, ScopeDep, SessionDep, camera_scope, not_found, require
from deployments.api.inputs import InputNotAllowedError, InputPolicy
from deployments.api.permissions import Permission
from deployments.api.schemas import inline_refs
from deployments.api.tags import Tags
from deployments.api.uploads import UploadError, UploadTooLargeError, receive_upload
from deployments.jobs import JobRunner, PosUpload
from domain.pos import PosFileError
from domain.site import SiteConfigError, parse_site_yaml
from storage import crud
from storage.models import User

__all__ = ["router", "JobSubmit", "JobSubmitted", "ClipLink", "VideoResult", "JobResults"]

router = APIRouter(prefix="/jobs", tags=[Tags.JOBS], dependencies=[Depends(require(Permission.READ))])
_SITE_FIELD = "site"
_POS_FIELD = "pos"


class JobSubmit(BaseModel):
    """A job over files the cluster can already read."""

    inputs: list[str] = Field(min_length=1, description="Video paths (as the workers see them) or s3://bucket/key URIs")
    site_yaml: str | None = Field(None, description="Site file (YAML): cameras, zones, rules")
    fps: float | None = Field(None, ge=0.01, description="Detection rate (frames/s)")
    imgsz: int | None = Field(None, ge=320, le=3840, description="Inference image size (px)")
    pos: PosUpload | None = Field(None, description="POS transactions to cross-check pickups against")
    camera_group: str | None = Field(
        None, max_length=64,
        description="Camera group the job and its results belong to (one of yours; default: your first group, "
        "or none for users who see every camera)")


class JobSubmitted(BaseModel):
    """A job accepted for analysis."""

    id: str
    status: str = "pending"
    url: str = Field(description="The job: status, progress, videos")
    results: str = Field(description="Per-video results once it ends")
    ws: str = Field(description="WebSocket of progress messages (token as ?access_token=)")


class ClipLink(BaseModel):
    event_id: str
    key: str = Field(description="Object-store key")
    url: str = Field(description="Download (streams the clip)")
    t_start_s: float
    t_end_s: float


class AlertLink(BaseModel):
    id: str
    severity: str
    score: float
    track_id: int | None
    url: str = Field(description="The alert")


class VideoResult(BaseModel):
    video_id: str
    name: str
    uri: str
    camera_id: str | None
    status: str
    error: str | None
    people: int
    tracks: int
    events_by_type: dict[str, int]
    clips: list[ClipLink]
    alerts: list[AlertLink] = Field(default_factory=list)


class JobResults(BaseModel):
    job_id: str
    status: str
    videos: list[VideoResult]


def get_job_runner(conn: HTTPConnection) -> JobRunner:
    """The `JobRunner` on `app.state.job_runner`."""
    return conn.app.state.job_runner


def get_upload_dir(conn: HTTPConnection) -> Path:
    """The upload folder on `app.state.upload_dir`."""
    return Path(conn.app.state.upload_dir)


JobRunnerDep = Annotated[JobRunner, Depends(get_job_runner)]
UploadDirDep = Annotated[Path, Depends(get_upload_dir)]


def get_input_policy(conn: HTTPConnection) -> InputPolicy:
    """`app.state.input_policy` plus the upload folder (without one: the upload folder only)."""
    policy: InputPolicy = getattr(conn.app.state, "input_policy", None) or InputPolicy()
    upload_dir = getattr(conn.app.state, "upload_dir", None)
    return InputPolicy.of(roots=(*([upload_dir] if upload_dir else []), *policy.roots), buckets=policy.buckets)


InputPolicyDep = Annotated[InputPolicy, Depends(get_input_policy)]


def job_group(user: User, requested: str | None) -> str | None:
    """The camera group a job of `user` belongs to (see `storage.scope`).

    Raises:
        HTTPException: 422 if a user limited to camera groups names one not theirs or has none.
    """
    scope = camera_scope(user)
    if requested is not None and not scope.sees_group(requested):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"camera_group must be one of your groups: {', '.join(sorted(scope.groups)) or '(none)'}")
    if requested is not None or scope.all_cameras:
        return requested
    if not user.camera_groups:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "you are in no camera group: a job would be "
                            "visible to nobody but administrators")  # fmt: skip
    return user.camera_groups[0]

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": inline_refs(JobSubmit.model_json_schema())},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                                  "description": "Videos (any file field except `site`)"},
                        "site": {"type": "string", "format": "binary", "description": "Site file (YAML)"},
                        "pos": {"type": "string", "format": "binary",
                                "description": "POS transactions (.json or .csv) to cross-check pickups against"},
                        "video_start": {"type": "string", "format": "date-time",
                                        "description": "Wall-clock time of the videos' first frame (POS clock)"},
                        "fps": {"type": "number"},
                        "imgsz": {"type": "integer"},
                        "camera_group": {"type": "string", "description": "Camera group the job belongs to"},
                    },
                    "required": ["files"],
                }
            },
        },
    }
}  # fmt: skip


def _validation_error(exc: ValidationError) -> RequestValidationError:
    # no "input": it may be bytes that are not UTF-8 (the raw body), which the JSON response cannot carry
    return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_input=False)])


def _check_pos(request: Request, pos: PosUpload | None) -> None:
    """422 naming the POS file and line when it does not parse against the stored catalog."""
    if pos is None:
        return
    from sqlmodel import Session

    from pipelines.intent import parse_pos_file
    from storage.pos import load_catalog

    with Session(request.app.state.engine) as session:
        catalog = load_catalog(session)
    try:
        parse_pos_file(pos.text, pos.name, catalog=catalog, video_start=pos.video_start)
    except PosFileError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"POS file {exc}") from None


def _check_site(text: str | None, source: str) -> None:
    if text is None:
        return
    try:
        parse_site_yaml(text, source=source)
    except SiteConfigError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


async def _from_json(request: Request, limit: int, policy: InputPolicy) -> JobSubmit:
    declared = request.headers.get("content-length", "")
    too_large = declared.isdigit() and int(declared) > limit
    body = b"" if too_large else await request.body()
    if too_large or len(body) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"upload too large (limit {limit // 2**20} MiB)")
    try:
        submit = JobSubmit.model_validate_json(body)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    errors = []
    for i, uri in enumerate(submit.inputs):
        try:
            policy.check(uri)
        except InputNotAllowedError as exc:
            errors.append({"type": "value_error", "loc": ("body", "inputs", i), "msg": str(exc)})
    if errors:
        raise RequestValidationError(errors)
    await run_in_threadpool(_check_site, submit.site_yaml, "site_yaml")
    await run_in_threadpool(_check_pos, request, submit.pos)
    return submit


async def _from_multipart(request: Request, upload_dir: Path, limit: int) -> JobSubmit:
    try:
        upload = await receive_upload(request, upload_dir=upload_dir, limit_bytes=limit,
                                      in_memory=frozenset({_SITE_FIELD, _POS_FIELD}))  # fmt: skip
    except UploadTooLargeError:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"upload too large (limit {limit // 2**20} MiB)") from None
    except UploadError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    try:
        if not upload.files:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "no video file uploaded")
        site_yaml = None
        if _SITE_FIELD in upload.fields:
            try:
                site_yaml = upload.fields[_SITE_FIELD].decode("utf-8")
            except UnicodeDecodeError:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the site file is not UTF-8 text") from None
        await run_in_threadpool(_check_site, site_yaml, upload.filenames.get(_SITE_FIELD, "site.yaml"))
        values = {k: upload.fields[k].decode("utf-8", "replace") for k in ("fps", "imgsz", "camera_group")
                  if upload.fields.get(k)}  # fmt: skip
        pos = None
        if _POS_FIELD in upload.fields:
            try:
                pos_text = upload.fields[_POS_FIELD].decode("utf-8")
            except UnicodeDecodeError:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the POS file is not UTF-8 text") from None
            start = upload.fields.get("video_start", b"").decode("utf-8", "replace").strip() or None
            pos = {"name": upload.filenames.get(_POS_FIELD, "pos.json"), "text": pos_text, "video_start": start}
        try:
            submit = JobSubmit(inputs=[str(p) for _, p in upload.files], site_yaml=site_yaml, pos=pos, **values)
        except ValidationError as exc:
            raise _validation_error(exc) from None
        await run_in_threadpool(_check_pos, request, submit.pos)
        return submit
    except BaseException:
        upload.discard()
        raise


@router.post("", status_code=status.HTTP_202_ACCEPTED, dependencies=[Depends(require(Permission.JOB_SUBMIT))],
             openapi_extra=_BODY_DOC, responses={413: {}, 415: {}})  # fmt: skip
async def submit_job(request: Request, runner: JobRunnerDep, config: ConfigDep, upload_dir: UploadDirDep,
                     user: CurrentUser, policy: InputPolicyDep) -> JobSubmitted:  # fmt: skip
    """Submit a bulk job: upload videos (multipart) or name paths / `s3://` URIs (JSON).

    Multipart: every file field except `site` and `pos` is a video; `site` is the site file (YAML);
    `pos` a POS file (.json / .csv) to cross-check pickups against, with the form field
    `video_start` (ISO 8601) when its times are wall-clock times; `fps` and `imgsz` are form
    fields. A bad site or POS file is 422 naming the line. Bodies over the upload limit are 413.
    Paths and `s3://` URIs must lie under the upload folder, `JOB__INPUT_ROOTS` or an allowed
    bucket (422 names the allowed roots). The job belongs to `camera_group` (see the field).
    """
    limit = config.max_upload_mb * 2**20
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        submit = await _from_multipart(request, upload_dir, limit)
    elif content_type == "application/json":
        submit = await _from_json(request, limit, policy)
    else:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "expected multipart/form-data or application/json")
    try:
        group = job_group(user, submit.camera_group)
    except HTTPException:
        if content_type == "multipart/form-data":  # nothing of a refused upload stays on disk
            shutil.rmtree(Path(submit.inputs[0]).parent, ignore_errors=True)
        raise
    job_id = await run_in_threadpool(
        runner.submit, submit.inputs, site_yaml=submit.site_yaml, fps=submit.fps, imgsz=submit.imgsz, pos=submit.pos
    )

    def own() -> None:
        from sqlmodel import Session

        with Session(request.app.state.engine) as session:
            crud.set_job_owner(session, job_id, camera_group=group, created_by=user.id)

    await run_in_threadpool(own)
    ctx = audit_context(request)
    ctx.resource_id, ctx.detail = job_id, {"inputs": len(submit.inputs)}
    url = f"{API_PREFIX}/jobs/{job_id}"
    return JobSubmitted(id=job_id, url=url, results=f"{url}/results", ws=f"{API_PREFIX}/ws/jobs/{job_id}")


@router.get("/{job_id}/results")
def get_job_results(session: SessionDep, scope: ScopeDep, job_id: str) -> JobResults:
    """Per-video results of a job: status, error, people, tracks, events by type, clips."""
    job = crud.get_job(session, job_id)
    if job is None or not scope.sees_group(job.camera_group):
        raise not_found("job")
    events, tracks = crud.count_job_results(session, job_id)
    clips: dict[str, list[ClipLink]] = {}
    for c in crud.list_clips(session, job_id=job_id):
        link = ClipLink(event_id=c.event_id, key=c.key, url=f"{API_PREFIX}/events/{c.event_id}/clip",
                        t_start_s=c.t_start_s, t_end_s=c.t_end_s)  # fmt: skip
        clips.setdefault(c.video_id or "", []).append(link)
    alerts: dict[str, list[AlertLink]] = {}
    for a in crud.list_alerts(session, job_id=job_id, limit=10_000, oldest_first=True)[0]:
        alerts.setdefault(a.video_id or "", []).append(AlertLink(
            id=a.id, severity=a.severity.value, score=a.score, track_id=a.track_id, url=f"{API_PREFIX}/alerts/{a.id}"))
    videos = [
        VideoResult(video_id=v.id, name=v.name, uri=v.uri, camera_id=v.camera_id, status=v.status.value, error=v.error,
                    people=v.people_count, tracks=tracks.get(v.id, 0), events_by_type=events.get(v.id, {}),
                    clips=clips.get(v.id, []), alerts=alerts.get(v.id, []))  # fmt: skip
        for v in crud.list_videos(session, job_id)
    ]
    return JobResults(job_id=job_id, status=job.status.value, videos=videos)
